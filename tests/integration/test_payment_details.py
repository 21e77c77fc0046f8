"""Payment details that arrive after their order (Shopify `order_transactions/create`), against
a real Redis ledger and the iCount sandbox over HTTP: the invoice-receipt waits for the
gateway's transaction id without spending a retry, then records it; without it, after the
tenant's `payment_details_wait_s`, the job stops for a person."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from invoicebridge.samples import shopify as samples
from sandboxes.icount.app import RunningSandbox
from tests.integration.test_jobs import record, sandbox_get, settings_for
from tests.redis_writes import count_writes
from worker.domain.events import EventKind
from worker.jobs import process as jobs
from worker.ledger.keys import JOB
from worker.runtime.resources import Resources

TRANSACTION = "order_transactions/create"
#: the cc block the invoice-receipt of a sample card order must carry, once the details are in
CC = {"card_type": "VISA", "confirmation_code": samples.SAMPLE_AUTHORIZATION}

OpenDeps = Callable[[float], Awaitable[jobs.Deps]]


@pytest.fixture
async def open_deps(redis_url: str, sandbox: RunningSandbox) -> AsyncIterator[OpenDeps]:
    """Deps for the acme tenant with a given `payment_details_wait_s`."""
    opened: list[Resources] = []

    async def open_with(wait_s: float) -> jobs.Deps:
        settings = settings_for(redis_url, sandbox, payment_details_wait_s=wait_s)
        opened.append(Resources(settings))
        return await opened[-1].open()

    yield open_with
    for resources in opened:
        await resources.close()


async def cc_blocks(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    documents = await sandbox_get(sandbox, "documents")
    return [document["payments"]["cc"] for document in documents]


async def test_the_invoice_receipt_waits_for_the_transaction_then_records_it(
    open_deps: OpenDeps, sandbox: RunningSandbox
) -> None:
    """Given a paid card order whose webhook names no transaction id, its invoice-receipt
    waits (no retry spent, nothing sent to iCount); when `order_transactions/create` comes it
    is kept for the order (no step of its own), and the next run records its authorization."""
    deps = await open_deps(30.0)
    order = samples.shopify_order(41)
    paid = await record(deps, order, topic="orders/paid")

    with pytest.raises(jobs.RetryLater) as waited:
        await jobs.process_event(deps, paid.event_id)
    assert 0 < waited.value.delay_ms <= 1_000  # the first look again comes soon
    fields = await deps.ledger.event(paid.event_id)
    assert (fields["state"], fields["failures"]) == ("retrying", "0")
    assert "transaction id" in fields["last_error"]
    job = await deps.ledger.job("acme:41:invrec")
    assert job is not None and job.state == "retrying"
    assert job.last_error is not None and job.last_error.startswith("Waiting: ")
    assert await sandbox_get(sandbox, "documents") == []
    assert (await sandbox_get(sandbox, "requests"))["counts"].get("doc/create", 0) == 0

    details = await record(deps, samples.shopify_transaction(order), topic=TRANSACTION)
    assert details.kind is EventKind.PAYMENT_DETAILS
    await jobs.process_event(deps, details.event_id)
    assert (await deps.ledger.event(details.event_id))["state"] == "done"
    stored = await deps.ledger.payment("acme", "41")
    assert stored is not None and stored.transaction_id == samples.SAMPLE_AUTHORIZATION
    assert await sandbox_get(sandbox, "documents") == []  # it plans no document itself

    await jobs.process_event(deps, paid.event_id)
    [cc] = await cc_blocks(sandbox)
    assert {name: cc[name] for name in CC} == CC and cc["holder_name"] == "Dana Levi"
    assert (await deps.ledger.event(paid.event_id))["state"] == "done"


async def test_details_that_come_first_are_used_at_once(
    open_deps: OpenDeps, sandbox: RunningSandbox
) -> None:
    """The transaction's webhook before the order's (Shopify does not order them): kept
    although the order is unknown yet, and the order's first run records it, without waiting."""
    deps = await open_deps(30.0)
    order = samples.shopify_order(42)
    details = await record(deps, samples.shopify_transaction(order), topic=TRANSACTION)
    await jobs.process_event(deps, details.event_id)
    created = await record(deps, order)
    await jobs.process_event(deps, created.event_id)
    [cc] = await cc_blocks(sandbox)
    assert {name: cc[name] for name in CC} == CC


async def test_an_order_that_names_its_transaction_fills_a_later_orders_gap(
    open_deps: OpenDeps, sandbox: RunningSandbox
) -> None:
    """An order event whose own payment has the id (a relay with `transactions`) keeps it for
    the order; a later detail without an id does not replace it."""
    deps = await open_deps(30.0)
    order = samples.shopify_order(43)
    relayed = await record(deps, samples.with_sale(order), topic="orders/create")
    await jobs.process_event(deps, relayed.event_id)
    bare = samples.shopify_transaction(order, authorization="", transaction_id=999)
    later = await record(deps, bare, topic=TRANSACTION)
    await jobs.process_event(deps, later.event_id)
    stored = await deps.ledger.payment("acme", "43")
    assert stored is not None and stored.transaction_id == samples.SAMPLE_AUTHORIZATION
    [cc] = await cc_blocks(sandbox)
    assert cc["confirmation_code"] == samples.SAMPLE_AUTHORIZATION


async def test_the_snapshot_and_the_payment_are_kept_in_one_write(
    open_deps: OpenDeps, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new order that names its transaction: its snapshot and its payment go to Redis in
    one transaction, one round trip."""
    deps = await open_deps(30.0)
    relayed = await record(deps, samples.with_sale(samples.shopify_order(44)), topic="orders/paid")
    sent = count_writes(monkeypatch)
    await jobs.process_event(deps, relayed.event_id)
    saves = [write for write in sent if b"\r\nSET\r\n" in write and b"ib:payment:acme:44" in write]
    assert len(saves) == 1 and b"ib:snapshot:acme:44" in saves[0] and b"EXEC" in saves[0]
    stored = await deps.ledger.payment("acme", "44")
    assert stored is not None and stored.transaction_id == samples.SAMPLE_AUTHORIZATION


async def test_without_details_the_job_stops_for_a_person_after_the_wait(
    open_deps: OpenDeps, sandbox: RunningSandbox
) -> None:
    """No `order_transactions/create` within the wait: needs_attention, reason
    `no_transaction_id`, and the message names the subscription to check; nothing issued."""
    deps = await open_deps(0.4)
    order = samples.shopify_order(44)
    paid = await record(deps, order, topic="orders/paid")
    with pytest.raises(jobs.RetryLater) as waited:
        await jobs.process_event(deps, paid.event_id)
    assert waited.value.delay_ms <= 400
    await asyncio.sleep(0.45)
    await jobs.process_event(deps, paid.event_id)
    fields = await deps.ledger.event(paid.event_id)
    assert (fields["state"], fields["failures"]) == ("needs_attention", "0")
    assert fields["last_error"].startswith("no_transaction_id: ")
    assert "order_transactions/create" in fields["last_error"]
    raw = await deps.ledger.redis.hgetall(JOB.format("acme:44:invrec"))
    assert (raw["state"], raw["attempts"]) == ("needs_attention", "2")
    assert await sandbox_get(sandbox, "documents") == []
    assert "53433" not in json.dumps(raw)
