"""stripe webhooks (being written)."""

NAME = "stripe"
