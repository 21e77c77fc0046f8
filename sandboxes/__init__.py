"""Faithful local servers of each provider's API, for the demo, merchants and the tests.

One package per provider (`icount`, `idoklad`, `icash`), each an aiohttp application built
from the provider's facts register (`docs/providers/<name>.md`), on one shared `kit`: fault
plans, form and JSON parsing, the `/_sandbox` control routes, serving and the command line.
Shipped in the same distribution as the product (`invoicebridge sandbox <provider>`), but
never imported by `worker/` or `handlers/` (tests/integration/test_layers.py).
"""
