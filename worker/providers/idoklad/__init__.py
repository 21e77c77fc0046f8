"""iDoklad (Czech Republic), API v2: wire mapping, a thin OAuth2 client, the provider, a sandbox.

`wire` builds request bodies, filters and the totals rule and maps answers to the
error tree; `client` is the one I/O seam (client-credentials token included);
`provider` implements `worker.providers.base.Provider`; `sandbox` is a faithful
local iDoklad for the demo, merchants and the tests
(`python -m worker.providers.idoklad.sandbox`).
"""
