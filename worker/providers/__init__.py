"""Invoicing providers: one package each, wire + client + sandbox."""
