"""iCash (Bulgaria / Albania), client API v1: pure wire code, a thin aiohttp client, a provider.

`wire` signs requests, makes nonces and form bodies and maps answers to the error
tree; `client` is the one I/O seam; `provider` maps our documents onto iCash's
and implements `worker.providers.base.Provider`. The faithful local iCash for the
demo and tests lives outside the product code, in `sandboxes.icash`
(`python -m sandboxes.icash`).
"""
