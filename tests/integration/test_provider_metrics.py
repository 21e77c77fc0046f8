"""Worker metrics from the real clients against the real sandboxes over HTTP on port 0.

The worker's metrics live in prometheus_client's process-wide default registry, so
every assertion is on the change a call made, never on an absolute value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import REGISTRY

from invoicebridge.stack.config import SANDBOX_ICASH
from sandboxes.icash.app import serve_sandbox as serve_icash
from sandboxes.icount.app import RunningSandbox, serve_sandbox
from sandboxes.idoklad.app import serve_sandbox as serve_idoklad
from tests.orders import icount_body, mug, order_of
from tests.payments import CARD
from worker.domain.events import Customer
from worker.errors import OutcomeUnknown, Permanent, Retryable
from worker.jobs.planner import Step
from worker.jobs.process import StepContext
from worker.jobs.runner import StepRunner
from worker.providers.icash.client import ICashClient
from worker.providers.icount.client import ICountClient
from worker.providers.icount.provider import ICountProvider
from worker.providers.idoklad.client import IDokladClient
from worker.settings import DocumentSettings, ICashSettings, ICountSettings, IDokladSettings

SECONDS = "invoicebridge_provider_request_duration_seconds"
ERRORS = "invoicebridge_provider_errors_total"
STEPS = "invoicebridge_steps_total"
ORDER = order_of(
    [mug(2, "48.50", tax_rate=18)],
    "97.00",
    payment=CARD,
    customer=Customer(name="Dana Levi", email="d@example.com"),
)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def icount() -> AsyncIterator[RunningSandbox]:
    async with serve_sandbox() as running:
        yield running


def icount_client(http: aiohttp.ClientSession, sandbox: RunningSandbox) -> ICountClient:
    settings = ICountSettings(
        base_url=sandbox.api_url, api_token="API3E8-sandbox-token", timeout_s=0.5
    )
    return ICountClient(http, settings)


async def fault(http: aiohttp.ClientSession, sandbox: RunningSandbox, *plan: object) -> None:
    faults = {"path": "doc/create", "plan": list(plan)}
    async with http.post(f"{sandbox.url}/_sandbox/faults", json=faults) as response:
        assert response.status == 200, await response.text()


async def test_icount_calls_are_timed_and_errors_counted_by_kind(
    http: aiohttp.ClientSession, icount: RunningSandbox
) -> None:
    """One sample per HTTP call under `doc/create`; a 503 counts Retryable, a lost answer
    OutcomeUnknown."""
    client = icount_client(http, icount)
    body = icount_body(ORDER, "ib-metrics-1")
    calls = sample(SECONDS + "_count", provider="icount", operation="doc/create")
    retryable = sample(ERRORS, provider="icount", kind="Retryable")
    unknown = sample(ERRORS, provider="icount", kind="OutcomeUnknown")

    await client.create_document(body)
    await fault(http, icount, 503, "timeout-after-commit")
    with pytest.raises(Retryable):
        await client.create_document(body)
    with pytest.raises(OutcomeUnknown):
        await client.create_document(body)

    assert sample(SECONDS + "_count", provider="icount", operation="doc/create") == calls + 3
    assert sample(ERRORS, provider="icount", kind="Retryable") == retryable + 1
    assert sample(ERRORS, provider="icount", kind="OutcomeUnknown") == unknown + 1
    # the lost answer waited out the 0.5 s timeout: it is not in the 0.25 s bucket
    quick = sample(SECONDS + "_bucket", provider="icount", operation="doc/create", le="0.25")
    assert sample(SECONDS + "_count", provider="icount", operation="doc/create") > quick


async def test_steps_are_counted_by_outcome(
    http: aiohttp.ClientSession, icount: RunningSandbox
) -> None:
    """The runner counts a step done, retrying (a 503) or failed (a cancel with no document)."""
    runner = StepRunner(ICountProvider(icount_client(http, icount)), "acme", DocumentSettings())
    issue = Step(name="invrec", action="issue", doctype="invrec", email=False)
    cancel = Step(name="cancel", action="cancel", doctype="invrec", email=False, based_on="invrec")
    context = StepContext(tenant="acme", order=ORDER)
    before = {
        o: sample(STEPS, provider="icount", action="issue", outcome=o) for o in ("done", "retrying")
    }
    failed = sample(STEPS, provider="icount", action="cancel", outcome="failed")

    await fault(http, icount, 503)
    with pytest.raises(Retryable):
        await runner.run(issue, context)
    await runner.run(issue, context)
    with pytest.raises(Permanent):
        await runner.run(cancel, context)

    assert sample(STEPS, provider="icount", action="issue", outcome="retrying") == (
        before["retrying"] + 1
    )
    assert sample(STEPS, provider="icount", action="issue", outcome="done") == before["done"] + 1
    assert sample(STEPS, provider="icount", action="cancel", outcome="failed") == failed + 1


async def test_idoklad_operations_carry_no_ids(http: aiohttp.ClientSession) -> None:
    """The token call and `IssuedInvoices/{id}` are timed under id-free operations."""
    async with serve_idoklad() as sandbox:
        settings = IDokladSettings(
            base_url=sandbox.api_url,
            token_url=sandbox.token_url,
            client_id="demo-client",
            client_secret="sandbox-secret",
        )
        client = IDokladClient(http, settings)
        token = sample(SECONDS + "_count", provider="idoklad", operation="POST connect/token")
        get = sample(SECONDS + "_count", provider="idoklad", operation="GET IssuedInvoices/{id}")
        with pytest.raises(Permanent) as caught:
            await client.get("IssuedInvoices", 987654)
    kind = type(caught.value).__name__
    assert sample(SECONDS + "_count", provider="idoklad", operation="POST connect/token") == (
        token + 1
    )
    assert sample(SECONDS + "_count", provider="idoklad", operation="GET IssuedInvoices/{id}") == (
        get + 1
    )
    assert sample(ERRORS, provider="idoklad", kind=kind) >= 1
    assert (
        REGISTRY.get_sample_value(
            SECONDS + "_count", {"provider": "idoklad", "operation": "GET IssuedInvoices/987654"}
        )
        is None
    )


async def test_icash_login_and_list_are_timed(http: aiohttp.ClientSession) -> None:
    """Each iCash method (the login too) is one operation."""
    async with serve_icash() as sandbox:
        settings = ICashSettings(
            base_url=sandbox.api_url,
            api_key="sandbox-key",
            secret_key="sandbox-secret",
            warehouse_id=1,
            user_id=1,
            **SANDBOX_ICASH,
        )
        before = {
            op: sample(SECONDS + "_count", provider="icash", operation=op)
            for op in ("login", "documents-list")
        }
        await ICashClient(http, settings).rows("documents-list", {})
    for operation, count in before.items():
        assert sample(SECONDS + "_count", provider="icash", operation=operation) == count + 1
