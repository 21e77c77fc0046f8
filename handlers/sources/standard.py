"""standard webhooks (being written)."""

NAME = "standard"
