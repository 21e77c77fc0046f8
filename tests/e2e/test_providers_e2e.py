"""Each provider end to end, through the CLI processes: duplicates plus a lost answer still
give one document, emailed once; iDoklad's rate limit delays work without failing it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest
import redis

from invoicebridge.samples import shopify as samples
from invoicebridge.stack.local import LocalStack, StackOptions, http_json, running_stack

pytestmark = pytest.mark.e2e

#: tenant -> (provider, the fault-plan path of its create call)
PROVIDERS = {
    "acme": ("icount", "doc/create"),
    "dok": ("idoklad", "IssuedInvoices"),
    "cash": ("icash", "print-operation"),
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(workers=2, threads=8, icount_timeout_s=1.5)
    with running_stack(tmp_path_factory.mktemp("providers"), options) as local:
        yield local


def emails_for(stack: LocalStack, provider: str, docnum: str) -> int:
    if provider == "icash":  # iCash cannot email: the PDF went through SMTP
        return sum(docnum in (m["subject"] or "") for m in stack.sandbox("emails", "smtp"))
    return sum(str(e["docnum"]) == docnum for e in stack.sandbox("emails", provider))


@pytest.mark.parametrize("tenant", list(PROVIDERS))
def test_five_deliveries_and_a_lost_answer_make_one_emailed_document(
    stack: LocalStack, tenant: str
) -> None:
    """The same order 5 times at once, and the first create's answer lost after the
    provider made the document: exactly one document, emailed exactly once."""
    provider, create_path = PROVIDERS[tenant]
    bulgarian = provider == "icash"  # iCash sells at Bulgaria's rates: EUR at 20 %
    order = samples.with_sale(
        samples.shopify_order(
            7700 + len(tenant),
            discount="3.00",
            currency="EUR" if bulgarian else "ILS",
            vat_rate="0.20" if bulgarian else "0.18",
        )
    )
    stack.set_faults({"path": create_path, "plan": ["timeout-after-commit"], "hang_s": 3}, provider)
    before = len(stack.sandbox("documents", provider))
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: stack.post_order(order, tenant=tenant), range(5)))
    assert [status for status, _ in answers] == [200] * 5
    stack.wait_quiet(timeout=90)
    documents = stack.sandbox("documents", provider)
    assert len(documents) == before + 1
    [doc] = documents[before:]
    assert emails_for(stack, provider, str(doc["docnum"])) == 1


#: orders in the burst: several seconds of iDoklad's allowance
BURST = 25


def test_idoklad_rate_limit_delays_a_burst_without_failing_it(stack: LocalStack) -> None:
    """25 orders (some 450 calls, throttled ones included) against an iDoklad allowing 10
    requests a second: all made, none failed, no retry spent on a 429, nothing dead-lettered."""
    url = stack.urls["idoklad"] + "/_sandbox/config"
    http_json("POST", url, b'{"rate_limit_per_s": 10}', {"Content-Type": "application/json"})
    before = len(stack.sandbox("documents", "idoklad"))
    orders: list[dict[str, Any]] = [
        samples.with_sale(
            samples.shopify_order(80_000 + n, email="", lines=[("Tea", "12.50", 2)], shipping=None)
        )
        for n in range(BURST)
    ]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda o: stack.post_order(o, tenant="dok")[0], orders))
    assert statuses == [200] * BURST
    started = time.monotonic()
    stack.wait_quiet(timeout=240, settle=2)
    requests = stack.sandbox("requests", "idoklad")
    calls = sum(requests["counts"].values())
    print(f"burst drained in {time.monotonic() - started:.1f}s; {calls} iDoklad calls")
    assert len(stack.sandbox("documents", "idoklad")) == before + BURST
    client = redis.Redis(port=stack.redis_port, decode_responses=True)
    ids = [str(e) for e in client.zrange("ib:events", 0, -1)]
    events = [cast(dict[str, str], client.hgetall(f"ib:event:{e}")) for e in ids]
    burst = [e for e in events if e.get("tenant") == "dok" and e["order_id"].startswith("8")]
    assert len(burst) == BURST
    assert all(e["state"] == "done" and e["failures"] == "0" for e in burst)
    assert client.zcard("invoicebridge:events.XQ") == 0
    client.close()
