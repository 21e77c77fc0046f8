"""The on-call engineer's side of the receiver: the admin API, its OpenAPI document and the
dashboard. It acts on the ledger only through the `AdminBackend` it is handed."""
