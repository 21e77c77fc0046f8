"""A platform's delivery is recorded as it came and read by the worker that takes it (DESIGN
step 5): the real receiver app and Redis, the iCount sandbox, the worker's job in-process
with the receiver's parsers (`invoicebridge.reading`), as `invoicebridge worker` has them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from invoicebridge.reading import read_delivery
from invoicebridge.samples import shopify as samples
from sandboxes.icount.app import RunningSandbox
from tests.integration.test_jobs import sandbox_get
from tests.integration.test_unreadable import SHOPIFY_SECRET, URL
from tests.integration.test_unreadable import setup as setup  # the same receiver and worker
from tests.redis_writes import count_writes
from worker.domain.events import OrderEvent
from worker.jobs import process as jobs
from worker.ledger.scripts import READ_IN_LUA
from worker.ops.actions import pause

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "shopify"


async def post(client: TestClient[Any, Any], body: bytes, topic: str, event_id: str) -> str:
    headers = samples.headers_for(body, topic=topic, secret=SHOPIFY_SECRET, event_id=event_id)
    answer = await client.post(URL, data=body, headers=headers)
    assert answer.status == 200
    found = await answer.json()
    assert found["status"] == "accepted"
    return str(found["event_id"])


async def post_paid(client: TestClient[Any, Any], number: int) -> str:
    """A Shopify `orders/paid` of order `number`, paid by card; its event id."""
    body = samples.encode_body(samples.with_sale(samples.shopify_order(number)))
    return await post(client, body, "orders/paid", f"read-{number}")


async def read_of(deps: jobs.Deps, event_id: str) -> OrderEvent:
    """What the delivery recorded as `event_id` reads as (the ledger left as it is)."""
    item = await deps.ledger.work_item(event_id)
    assert item.received is not None
    event = read_delivery(item.received)
    assert isinstance(event, OrderEvent)
    return event


async def test_a_paid_order_is_read_by_the_worker_and_invoiced_once(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any], sandbox: RunningSandbox
) -> None:
    client, deps, _ = setup
    event_id = await post_paid(client, 4401)
    fields = await deps.ledger.event(event_id)
    assert fields["state"] == "queued" and "payload" not in fields and "order_id" not in fields

    await jobs.process_event(deps, event_id)
    fields = await deps.ledger.event(event_id)
    assert (fields["state"], fields["kind"], fields["order_id"]) == ("done", "order.paid", "4401")
    assert "body" not in fields and "headers" not in fields  # read: the order event stands
    await jobs.process_event(deps, event_id)  # its message again: nothing more is made
    [document] = await sandbox_get(sandbox, "documents")
    assert document["doctype"] == "invrec"


async def test_reading_it_costs_the_worker_no_round_trip_of_its_own(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What it reads as replaces the body in the transaction that marks the event running."""
    client, deps, _ = setup
    event_id = await post_paid(client, 4402)
    event = await read_of(deps, event_id)
    await deps.ledger.redis.script_load(READ_IN_LUA)  # as after a server's first event
    sent = count_writes(monkeypatch)
    await deps.ledger.start_event(event_id, event)
    assert len(sent) == 1 and b"EVALSHA" in sent[0]
    fields = await deps.ledger.event(event_id)
    assert (fields["state"], fields["order_id"]) == ("running", "4402") and "body" not in fields


async def test_a_job_on_a_delivery_as_it_came_writes_as_often_as_one_read_before(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole job, counted: reading the delivery adds no Redis write to it."""
    client, deps, _ = setup
    ids = []
    for number in (4407, 4408, 4409):
        ids.append(await post_paid(client, number))
    warm, as_it_came, read_before = ids
    await jobs.process_event(deps, warm)  # every script loaded
    await deps.ledger.read_as(read_before, await read_of(deps, read_before))
    counts = []
    for event_id in (as_it_came, read_before):
        sent = count_writes(monkeypatch)
        await jobs.process_event(deps, event_id)
        counts.append(len(sent))
        monkeypatch.undo()
    assert counts[0] == counts[1]


async def test_a_paused_tenants_delivery_is_read_once_and_waits(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any],
) -> None:
    """While its tenant is paused, an event waits without a retry spent; read before it
    waits, so each look again does not parse it again."""
    client, deps, _ = setup
    event_id = await post_paid(client, 4404)
    await pause(deps.ledger, "acme", "oncall")
    with pytest.raises(jobs.RetryLater):
        await jobs.process_event(deps, event_id)
    fields = await deps.ledger.event(event_id)
    assert (fields["state"], fields["order_id"]) == ("queued", "4404") and "body" not in fields
    # the next look needs no parser: what it reads as is in the ledger
    with pytest.raises(jobs.RetryLater, match="tenant paused"):
        await jobs.process_event(replace(deps, read=None), event_id)


async def test_an_order_busy_keeps_what_its_delivery_reads_as(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any],
) -> None:
    """Another delivery of the order holds its lock: the event waits, read once."""
    client, deps, _ = setup
    event_id = await post_paid(client, 4410)
    held = deps.ledger.order_lock("acme", "4410", 30)
    assert await held.acquire()
    try:
        with pytest.raises(jobs.RetryLater, match="order busy"):
            await jobs.process_event(deps, event_id)
    finally:
        await held.release()
    fields = await deps.ledger.event(event_id)
    assert (fields["state"], fields["order_id"]) == ("queued", "4410") and "body" not in fields


async def test_a_topic_we_act_on_may_read_as_nothing_to_do(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any],
) -> None:
    """An `order_transactions/create` that only authorised a payment: the receiver queues
    its topic, the worker's read finds nothing to act on and moves it to `ignored`."""
    client, deps, _ = setup
    body = (REAL / "order_transactions_create_authorization.json").read_bytes()
    event_id = await post(client, body, "order_transactions/create", "read-3")
    await jobs.process_event(deps, event_id)
    fields = await deps.ledger.event(event_id)
    assert fields["state"] == "ignored" and "body" not in fields
    assert json.loads(fields.get("payload", "null")) is None


async def test_a_delivery_moved_on_meanwhile_is_not_read_over(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any],
) -> None:
    """An operator discarded it while it waited (or a worker with another release's parser
    read it first): a late read moves nothing and keeps nothing of its own."""
    client, deps, _ = setup
    event_id = await post_paid(client, 4405)
    event = await read_of(deps, event_id)
    await deps.ledger.set_event_state(event_id, "discarded")
    await deps.ledger.keep_unreadable(event_id, "a parser error")
    await deps.ledger.read_as(event_id, None)
    assert not await deps.ledger.start_event(event_id, event)  # nor run, by a worker late
    fields = await deps.ledger.event(event_id)
    assert fields["state"] == "discarded" and "last_error" not in fields and "body" in fields


async def test_a_worker_without_parsers_leaves_it_for_one_that_has_them(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any],
) -> None:
    client, deps, _ = setup
    event_id = await post_paid(client, 4406)
    with pytest.raises(jobs.RetryLater, match="no parser"):
        await jobs.process_event(replace(deps, read=None), event_id)
    fields = await deps.ledger.event(event_id)
    assert fields["state"] == "queued" and "body" in fields
