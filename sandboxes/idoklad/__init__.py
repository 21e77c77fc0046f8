"""A local iDoklad (API v2): `app` is the server (`python -m sandboxes.idoklad`)."""
