"""Invoicing providers: one package each, wire + client + provider (sandboxes: `sandboxes/`)."""
