"""iCount (Israel), API v3: pure wire mapping, a thin aiohttp client, and a local sandbox.

`wire` builds `doc/create` bodies and maps responses to the error tree, `client`
is the one I/O seam, and `sandbox` is a faithful local iCount for the demo and tests
(`python -m worker.providers.icount.sandbox`).
"""
