"""A local iCash (client API v1): `app` is the server (`python -m sandboxes.icash`)."""
