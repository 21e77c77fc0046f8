"""iCash (Bulgaria / Albania), client API v1: pure wire code, a thin aiohttp client, a provider,
and a local sandbox.

`wire` signs requests, makes nonces and form bodies and maps answers to the error
tree; `client` is the one I/O seam; `provider` maps our documents onto iCash's
and implements `worker.providers.base.Provider`; `sandbox` is a faithful local
iCash for the demo and tests (`python -m worker.providers.icash.sandbox`).
"""
