"""The order lifecycle through jobs, a real Redis ledger and the iCount sandbox over HTTP:
out-of-order events, cancellations, refunds -> credit notes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from handlers.sources import shopify
from invoicebridge.samples import shopify as samples
from sandboxes.icount.app import RunningSandbox
from tests.integration.test_jobs import sandbox_get, settings_for
from tests.tenants import set_faults
from worker.domain.events import EventKind, Order, OrderEvent, Refund
from worker.domain.idempotency import event_id as make_event_id
from worker.jobs import process as jobs
from worker.runtime.resources import Resources


@pytest.fixture
async def deps(redis_url: str, sandbox: RunningSandbox) -> AsyncIterator[jobs.Deps]:
    resources = Resources(settings_for(redis_url, sandbox))
    yield await resources.open()
    await resources.close()


def snapshot(order_id: int, *, minutes: int = 0, **changes: Any) -> Order:
    """The canonical order of a sample Shopify order, `minutes` after its first version; a
    paid one carries its sale, so its invoice-receipt names the transaction id."""
    import json

    payload = samples.with_sale(samples.shopify_order(order_id, **changes))
    body = json.dumps(payload).encode()
    parsed = shopify.parse(
        body, samples.headers_for(body, topic="orders/create", secret="s", event_id="x")
    )
    assert parsed.order is not None
    stamp = datetime(2026, 11, 1, 12, tzinfo=UTC) + timedelta(minutes=minutes)
    return parsed.order.model_copy(update={"updated_at": stamp})


def later(order: Order, minutes: int, **changes: Any) -> Order:
    """The same order `minutes` after the given snapshot, with `changes`."""
    assert order.updated_at is not None
    stamp = order.updated_at + timedelta(minutes=minutes)
    return order.model_copy(update={"updated_at": stamp, **changes})


async def deliver(
    deps: jobs.Deps,
    kind: EventKind,
    *,
    order: Order | None = None,
    order_id: str | None = None,
    refund: Refund | None = None,
) -> str:
    """Record an event the way the receiver would, and process it like a worker."""
    oid = order_id or (order.order_id if order else "")
    delivery = f"{kind.value}:{oid}:{refund.refund_id if refund else ''}:" + (
        order.updated_at.isoformat() if order and order.updated_at else ""
    )
    event = OrderEvent(
        event_id=make_event_id("acme", "shopify", delivery),
        tenant="acme",
        source="shopify",
        topic=kind.value,
        kind=kind,
        delivery_id=delivery,
        order_id=oid,
        order=order,
        refund=refund,
    )
    await deps.ledger.record(event)
    await jobs.process_event(deps, event.event_id)
    return event.event_id


async def documents(sandbox: RunningSandbox) -> list[tuple[str, str]]:
    return [(d["doctype"], d["totalwithvat"]) for d in await sandbox_get(sandbox, "documents")]


async def test_paid_before_created_yields_one_invoice_receipt(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """orders/paid first, the older orders/create second: one invrec, nothing else."""
    created = snapshot(11, financial_status="pending", minutes=0)
    paid = snapshot(11, minutes=5)
    await deliver(deps, EventKind.ORDER_PAID, order=paid)
    await deliver(deps, EventKind.ORDER_CREATED, order=created)
    assert await documents(sandbox) == [("invrec", str(paid.total))]


async def test_cancel_of_an_unpaid_order_cancels_its_invoice(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """Unpaid -> invoice; cancelled -> that invoice cancelled, never deleted, once."""
    created = snapshot(12, financial_status="pending")
    await deliver(deps, EventKind.ORDER_CREATED, order=created)
    cancelled = later(created, 3, cancelled=True)
    await deliver(deps, EventKind.ORDER_CANCELLED, order=cancelled)
    await deliver(deps, EventKind.ORDER_CANCELLED, order=later(cancelled, 1))
    [invoice] = await sandbox_get(sandbox, "documents")
    assert invoice["doctype"] == "invoice" and invoice["cancelled"] is True
    job = await deps.ledger.job("acme:12:cancel:invoice")
    assert job is not None and job.state == "done"


async def test_a_stale_created_after_cancel_issues_nothing(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """Cancelled (newer) arrives before created (older): no invoice is ever issued."""
    created = snapshot(13, financial_status="pending", minutes=0)
    cancelled = later(created, 2, cancelled=True)
    await deliver(deps, EventKind.ORDER_CANCELLED, order=cancelled)
    await deliver(deps, EventKind.ORDER_CREATED, order=created)
    assert await documents(sandbox) == []


async def test_each_refund_gets_exactly_one_credit_note(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """A paid order and two partial refunds, one delivered twice: invrec + two credit notes."""
    paid = snapshot(14)
    await deliver(deps, EventKind.ORDER_PAID, order=paid)
    first = Refund(refund_id="r-1", amount=Decimal("20.00"), currency="ILS", reason="broken")
    second = Refund(refund_id="r-2", amount=Decimal("5.50"), currency="ILS")
    await deliver(deps, EventKind.REFUND_ISSUED, order_id=paid.order_id, refund=first)
    await deliver(deps, EventKind.REFUND_ISSUED, order_id=paid.order_id, refund=first)
    await deliver(deps, EventKind.REFUND_ISSUED, order_id=paid.order_id, refund=second)
    docs = await sandbox_get(sandbox, "documents")
    assert [(d["doctype"], d["totalwithvat"]) for d in docs] == [
        ("invrec", str(paid.total)),
        ("refund", "20.00"),
        ("refund", "5.50"),
    ]
    invrec = docs[0]
    assert all(
        d["based_on"] == [{"doctype": "invrec", "docnum": int(invrec["docnum"])}] for d in docs[1:]
    )


async def test_refund_before_its_order_waits(deps: jobs.Deps, sandbox: RunningSandbox) -> None:
    """A refund for an order never seen is retried (not failed, not guessed) until it is."""
    refund = Refund(refund_id="r-9", amount=Decimal("10.00"), currency="ILS")
    with pytest.raises(jobs.RetryLater):
        await deliver(deps, EventKind.REFUND_ISSUED, order_id="15", refund=refund)
    assert await documents(sandbox) == []
    await deliver(deps, EventKind.ORDER_PAID, order=snapshot(15))
    assert [doctype for doctype, _ in await documents(sandbox)] == ["invrec", "refund"]
    await deliver(deps, EventKind.REFUND_ISSUED, order_id="15", refund=refund)  # its retry
    assert [doctype for doctype, _ in await documents(sandbox)] == ["invrec", "refund"]


async def test_credit_note_timeout_after_commit_is_not_doubled(
    deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    """The credit note's answer is lost once; the retry gets the same document back."""
    paid = snapshot(16)
    await deliver(deps, EventKind.ORDER_PAID, order=paid)
    await set_faults(sandbox, {"path": "doc/create", "plan": ["disconnect-after-commit"]})
    refund = Refund(refund_id="r-3", amount=Decimal("7.00"), currency="ILS")
    with pytest.raises(jobs.RetryLater):
        await deliver(deps, EventKind.REFUND_ISSUED, order_id=paid.order_id, refund=refund)
    [event_id] = [
        e
        for e in await deps.ledger.event_ids()
        if (await deps.ledger.event(e))["state"] == "retrying"
    ]
    await jobs.process_event(deps, event_id)
    assert [d for d, _ in await documents(sandbox)] == ["invrec", "refund"]
