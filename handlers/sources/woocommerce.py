"""woocommerce webhooks (being written)."""

NAME = "woocommerce"
