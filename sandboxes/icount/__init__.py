"""A local iCount (API v3): `app` is the server (`python -m sandboxes.icount`)."""
