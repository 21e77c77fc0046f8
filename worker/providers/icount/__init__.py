"""iCount (Israel), API v3: pure wire mapping, a thin aiohttp client, and the provider.

`wire` builds `doc/create` bodies and maps responses to the error tree, `wire_charge`
does the same for the card calls and `wire_docs` for the look-up (`doc/search`,
`doc/info`) and email (`doc/email`) methods; `client` is the one I/O seam. The faithful
local iCount for the demo and tests lives outside the product code, in
`sandboxes.icount` (`python -m sandboxes.icount`).
"""
