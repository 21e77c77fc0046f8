"""iDoklad (Czech Republic), API v2: wire mapping, a thin OAuth2 client, the provider.

`wire` builds request bodies, filters and the totals rule and maps answers to the
error tree; `client` is the one I/O seam (client-credentials token included);
`provider` implements `worker.providers.base.Provider`. The faithful local iDoklad
for the demo, merchants and the tests lives outside the product code, in
`sandboxes.idoklad` (`python -m sandboxes.idoklad`).
"""
