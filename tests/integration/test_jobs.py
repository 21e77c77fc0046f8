"""Jobs against a real Redis ledger and the iCount sandbox over real HTTP (no mocks)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from handlers.deliveries import to_item
from handlers.sources import shopify
from invoicebridge.samples import shopify as samples
from sandboxes.icount.app import RunningSandbox
from tests.tenants import icount_login, set_faults, worker_settings
from worker.domain.events import OrderEvent
from worker.jobs import process as jobs
from worker.runtime.resources import Resources
from worker.settings import Settings


def settings_for(redis_url: str, sandbox: RunningSandbox, **documents: Any) -> Settings:
    tenant = {
        "source": "shopify",
        "secret": "s",
        "provider": "icount",
        "icount": icount_login(sandbox.api_url),
        "documents": documents,
    }
    return worker_settings(redis_url, {"acme": tenant})


@pytest.fixture
async def deps(redis_url: str, sandbox: RunningSandbox) -> AsyncIterator[jobs.Deps]:
    resources = Resources(settings_for(redis_url, sandbox))
    yield await resources.open()
    await resources.close()


async def record(
    deps: jobs.Deps,
    payload: dict[str, Any],
    topic: str = "orders/create",
    event_id: str | None = None,
) -> OrderEvent:
    body = json.dumps(payload).encode()
    headers = samples.headers_for(
        body, topic=topic, secret="s", event_id=event_id or f"{payload['id']}-{topic}"
    )
    item = to_item(shopify.parse(body, headers), "acme", "shopify")
    assert isinstance(item, OrderEvent)
    await deps.ledger.record(item)
    return item


async def sandbox_get(sandbox: RunningSandbox, what: str) -> Any:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sandbox.url}/_sandbox/{what}") as response,
    ):
        return await response.json()


async def assert_retried(deps: jobs.Deps, event: OrderEvent, job_key: str, error: str) -> None:
    """Processing the event asks for a retry; the job and the event show `retrying`, the job
    with `error` as its last error."""
    with pytest.raises(jobs.RetryLater):
        await jobs.process_event(deps, event.event_id)
    job = await deps.ledger.job(job_key)
    assert job is not None and job.state == "retrying"
    assert error in (job.last_error or "")
    assert (await deps.ledger.event(event.event_id))["state"] == "retrying"


async def test_paid_order_becomes_one_emailed_invoice_receipt(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """A paid order: one invrec whose total is the shop's, emailed once; the ledger says done."""
    order = samples.with_sale(samples.shopify_order(1, discount="10.00"))
    event = await record(deps, order)
    await jobs.process_event(deps, event.event_id)
    [doc] = await sandbox_get(sandbox, "documents")
    assert doc["doctype"] == "invrec"
    assert Decimal(doc["totalwithvat"]) == Decimal(order["total_price"])
    assert len(await sandbox_get(sandbox, "emails")) == 1
    assert (await deps.ledger.event(event.event_id))["state"] == "done"
    job = await deps.ledger.job("acme:1:invrec")
    assert job is not None and (job.state, job.docnum, job.emailed) == ("done", doc["docnum"], True)


async def test_running_an_event_again_changes_nothing(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """A second run (redelivery) and a second event for the same order skip the done step."""
    order = samples.with_sale(samples.shopify_order(2))
    first = await record(deps, order)
    paid = await record(deps, order, topic="orders/paid")
    await jobs.process_event(deps, first.event_id)
    await jobs.process_event(deps, first.event_id)
    await jobs.process_event(deps, paid.event_id)
    assert len(await sandbox_get(sandbox, "documents")) == 1
    assert len(await sandbox_get(sandbox, "emails")) == 1
    assert (await sandbox_get(sandbox, "requests"))["counts"]["doc/create"] == 1


async def test_unpaid_then_paid_makes_invoice_then_receipt(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """orders/create unpaid -> invoice; orders/paid -> receipt based on that invoice."""
    order = samples.shopify_order(3, financial_status="pending")
    created = await record(deps, order)
    await jobs.process_event(deps, created.event_id)
    paid = await record(deps, {**order, "financial_status": "paid"}, topic="orders/paid")
    await jobs.process_event(deps, paid.event_id)
    invoice, receipt = await sandbox_get(sandbox, "documents")
    assert (invoice["doctype"], receipt["doctype"]) == ("invoice", "receipt")
    assert Decimal(receipt["totalwithvat"]) == Decimal(order["total_price"])


async def test_timeout_after_commit_is_retried_into_the_same_document(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """iCount made the document but the answer was lost: the retry gets that document back."""
    await set_faults(sandbox, {"path": "doc/create", "plan": ["timeout-after-commit"], "hang_s": 2})
    event = await record(deps, samples.with_sale(samples.shopify_order(4)))
    await assert_retried(deps, event, "acme:4:invrec", "OutcomeUnknown")
    await jobs.process_event(deps, event.event_id)
    assert len(await sandbox_get(sandbox, "documents")) == 1
    assert len(await sandbox_get(sandbox, "emails")) == 1
    job = await deps.ledger.job("acme:4:invrec")
    assert job is not None and (job.state, job.attempts) == ("done", 2)


async def test_validation_error_fails_the_job_with_the_reason(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """A permanent refusal marks the event and the job failed; it is not retried."""
    await set_faults(sandbox, {"path": "doc/create", "plan": [400]})
    event = await record(deps, samples.with_sale(samples.shopify_order(5)))
    await jobs.process_event(deps, event.event_id)  # no RetryLater: nothing to retry
    fields = await deps.ledger.event(event.event_id)
    assert fields["state"] == "failed" and fields["last_error"]
    job = await deps.ledger.job("acme:5:invrec")
    assert job is not None and job.state == "failed"
    assert await sandbox_get(sandbox, "documents") == []


async def test_retryable_errors_back_off_then_fail_when_exhausted(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """5xx answers retry (max_retries = 2 here); the third failure marks the event failed."""
    await set_faults(sandbox, {"path": "doc/create", "plan": [503, 503, 503]})
    event = await record(deps, samples.with_sale(samples.shopify_order(6)))
    for _ in range(2):
        with pytest.raises(jobs.RetryLater) as raised:
            await jobs.process_event(deps, event.event_id)
        assert raised.value.delay_ms >= deps.settings.queue.min_backoff_ms
    await jobs.process_event(deps, event.event_id)
    fields = await deps.ledger.event(event.event_id)
    assert fields["state"] == "failed" and "retries exhausted" in fields["last_error"]
    assert await sandbox_get(sandbox, "documents") == []


async def test_one_worker_at_a_time_per_order(deps: jobs.Deps, sandbox: RunningSandbox) -> None:
    """Two events of one order at once: one runs, the other is told to come back later."""
    await set_faults(sandbox, {"path": "doc/create", "plan": [{"latency_ms": 300}]})
    order = samples.with_sale(samples.shopify_order(7))
    created = await record(deps, order)
    paid = await record(deps, order, topic="orders/paid")
    results = await asyncio.gather(
        jobs.process_event(deps, created.event_id),
        jobs.process_event(deps, paid.event_id),
        return_exceptions=True,
    )
    assert sum(isinstance(r, jobs.RetryLater) for r in results) == 1
    assert len(await sandbox_get(sandbox, "documents")) == 1


class ExplodingProvider:
    """Stands in for a provider with a bug: raises something that is not a BridgeError."""

    emails_on_create = True

    async def run(self, *_: object) -> None:
        raise KeyError("docnum")


async def test_an_unexpected_error_is_recorded_and_retried(deps: jobs.Deps) -> None:
    """A bug in a step does not vanish: the job shows it and the event is retried."""
    deps.provider_for = lambda _tenant: ExplodingProvider()  # type: ignore[assignment,return-value]
    event = await record(deps, samples.with_sale(samples.shopify_order(8)))
    await assert_retried(deps, event, "acme:8:invrec", "unexpected KeyError")


async def test_a_paused_tenant_waits_and_a_resolved_event_is_left_alone(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """Paused: the event waits (no document, no retry spent); resumed: it runs. An event an
    operator resolved is never acted on again."""
    from worker.ops import actions as ops

    event = await record(deps, samples.with_sale(samples.shopify_order(9)))
    await ops.pause(deps.ledger, "acme", who="oncall")
    with pytest.raises(jobs.RetryLater, match="paused"):
        await jobs.process_event(deps, event.event_id)
    assert await sandbox_get(sandbox, "documents") == []
    assert (await deps.ledger.event(event.event_id))["failures"] == "0"
    await ops.resume(deps.ledger, "acme", who="oncall")
    await jobs.process_event(deps, event.event_id)
    assert len(await sandbox_get(sandbox, "documents")) == 1
    other = await record(deps, samples.with_sale(samples.shopify_order(10)))
    await deps.ledger.set_event_state(other.event_id, "resolved")
    await jobs.process_event(deps, other.event_id)
    assert len(await sandbox_get(sandbox, "documents")) == 1
