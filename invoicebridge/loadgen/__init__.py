"""`invoicebridge loadgen`: a load generator of our own, asyncio and aiohttp, loopback only.

    plan = LoadPlan(url="http://127.0.0.1:8080", source="shopify", tenant="acme",
                    secret=..., count=1000, duplicates=0.3)
    report = await run_load(plan)
    checked = await reconcile(report, sandbox_url=..., redis_url=..., provider="icount")

The chaos suite and the benchmarks import it from here.
"""

from invoicebridge.loadgen.ledger import BUSY_STATES, ledger_states, wait_quiet
from invoicebridge.loadgen.pacing import backoff, due, percentile, schedule
from invoicebridge.loadgen.payloads import Delivery, build_deliveries
from invoicebridge.loadgen.plan import SOURCES, LoadPlan, is_loopback
from invoicebridge.loadgen.reconcile import Reconciliation, reconcile
from invoicebridge.loadgen.report import DeliveryResult, Expected, LoadReport
from invoicebridge.loadgen.runner import run_load

__all__ = [
    "BUSY_STATES",
    "SOURCES",
    "Delivery",
    "DeliveryResult",
    "Expected",
    "LoadPlan",
    "LoadReport",
    "Reconciliation",
    "backoff",
    "build_deliveries",
    "due",
    "is_loopback",
    "ledger_states",
    "percentile",
    "reconcile",
    "run_load",
    "schedule",
    "wait_quiet",
]
