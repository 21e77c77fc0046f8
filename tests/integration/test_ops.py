"""Ops on a real Redis ledger and a real Dramatiq RedisBroker, with no fakes in between."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import dramatiq
import pytest
import redis
from redis.asyncio.connection import Connection

from tests.orders import mug_paid_event
from tests.payments import CARD
from worker.domain.events import OrderEvent
from worker.domain.idempotency import job_key
from worker.ledger.keys import EVENT, EVENTS, STATE, UNQUEUED
from worker.ledger.ledger import Ledger
from worker.ops import actions as ops
from worker.providers.base import DocumentRef
from worker.runtime.actors import ACTOR
from worker.settings import Settings

MESSAGES = "invoicebridge:events.msgs"  #: dramatiq's hash of the queue's messages
NOW = time.time()


def settings_for(redis_url: str) -> Settings:
    tenant = {
        "source": "shopify",
        "secret": "s",
        "provider": "icount",
        "icount": {"api_token": "t"},
    }
    tenants = {"acme": tenant, "globex": tenant}
    return Settings.model_validate({"redis": {"url": redis_url}, "tenants": tenants})


def order_event(number: int, tenant: str = "acme") -> OrderEvent:
    created_at = datetime(2026, 11, 1, tzinfo=UTC)
    return mug_paid_event(number, tenant, f"d-{number}", payment=CARD, created_at=created_at)


async def seed(
    ledger: Ledger,
    number: int,
    state: str = "failed",
    *,
    tenant: str = "acme",
    error: str = "",
    at: float | None = None,
    failures: int = 0,
) -> str:
    """Record an event the way the receiver does, then give it a state, error and time."""
    event = order_event(number, tenant)
    await ledger.record(event)
    at = NOW if at is None else at
    await ledger.set_event_state(event.event_id, cast(Any, state), error=error or None)
    fields: dict[Any, Any] = {"failures": str(failures), "received_at": f"{at:.6f}"}
    async with ledger.redis.pipeline(transaction=True) as pipe:  # back-dated where it is indexed
        pipe.hset(EVENT.format(event.event_id), mapping=fields)
        pipe.zadd(EVENTS, {event.event_id: at})
        pipe.zadd(STATE.format(state), {event.event_id: at})
        pipe.zrem(UNQUEUED, event.event_id)
        await pipe.execute()
    return event.event_id


async def step(
    ledger: Ledger, eid: str, order: str, name: str, *, error: str = "", docnum: str = ""
) -> None:
    """One attempt at a step of an acme order: failed with `error`, or done as `docnum`."""
    key = job_key("acme", order, name)
    where: dict[str, Any] = {"tenant": "acme", "order_id": order, "step": name}
    await ledger.start_job(key, event_id=eid, **where)
    if error:
        await ledger.fail_job(key, state="failed", error=error, **where)
    else:
        document = DocumentRef(doctype=name, docnum=docnum, doc_id=f"id-{docnum}", emailed=True)
        await ledger.finish_job(key, document=document, **where)


@pytest.fixture
def enqueue(broker: dramatiq.Broker) -> ops.EnqueueMany:
    """All messages through the real broker in one thread call, as the CLI sends them."""

    def send_all(actor_name: str, event_ids: Sequence[str]) -> None:
        actor = broker.get_actor(actor_name)
        for eid in event_ids:
            broker.enqueue(actor.message(eid))

    async def enqueue_many(actor_name: str, event_ids: Sequence[str]) -> None:
        await asyncio.to_thread(send_all, actor_name, event_ids)

    return enqueue_many


def queued(redis_url: str) -> list[str]:
    """The event ids of the messages waiting in dramatiq's `events` queue."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        return [json.loads(raw)["args"][0] for raw in client.hvals(MESSAGES)]


async def test_find_filters_by_tenant_state_time_and_text(ledger: Ledger) -> None:
    """Each filter narrows the list; results come newest first and stop at the limit."""
    old = await seed(ledger, 1001, error="Permanent: iCount refused the VAT id", at=NOW - 7200)
    new = await seed(ledger, 1002, "needs_attention", error="charge unknown", at=NOW - 60)
    done = await seed(ledger, 1003, "done", at=NOW - 30)
    other = await seed(ledger, 2001, tenant="globex", error="timeout", at=NOW - 10)

    def ids(found: list[ops.EventSummary]) -> list[str]:
        return [event.event_id for event in found]

    assert ids(await ops.find_events(ledger)) == [other, done, new, old]
    assert ids(await ops.find_events(ledger, tenant="acme")) == [done, new, old]
    failing = ["failed", "needs_attention"]
    assert ids(await ops.find_events(ledger, states=failing)) == [other, new, old]
    assert ids(await ops.find_events(ledger, since=NOW - 3600, until=NOW - 20)) == [done, new]
    assert ids(await ops.find_events(ledger, text="VAT ID")) == [old]
    assert ids(await ops.find_events(ledger, text="#100")) == [done, new, old]
    assert ids(await ops.find_events(ledger, order_id="#1002")) == [new]
    assert ids(await ops.find_events(ledger, limit=2)) == [other, done]
    [summary] = await ops.find_events(ledger, order_id="1001")
    assert (summary.tenant, summary.source, summary.order_number) == ("acme", "shopify", "#1001")
    assert summary.received_at == pytest.approx(NOW - 7200)


async def test_show_gives_steps_attempts_errors_and_document_numbers(ledger: Ledger) -> None:
    """The event without its payload, each step of its order with its record, and actions."""
    eid = await seed(ledger, 1001, error="Permanent: refused", failures=3)
    await step(ledger, eid, "1001", "invoice", docnum="70001")
    await step(ledger, eid, "1001", "receipt", error="Permanent: refused")
    await step(ledger, eid, "1001", "receipt", error="Permanent: refused again")
    detail = await ops.event_detail(ledger, eid)
    assert "payload" not in detail["event"]
    assert detail["event"]["state"] == "failed" and detail["event"]["failures"] == "3"
    invoice, receipt = detail["steps"]
    assert (invoice["step"], invoice["state"], invoice["docnum"]) == ("invoice", "done", "70001")
    assert (invoice["doc_id"], invoice["emailed"]) == ("id-70001", "1")
    assert (receipt["state"], receipt["attempts"]) == ("failed", "2")
    assert receipt["last_error"] == "Permanent: refused again"
    errors = [(a["state"], a["error"]) for a in receipt["attempts_log"]]
    assert errors == [("failed", "Permanent: refused"), ("failed", "Permanent: refused again")]
    assert [(a["state"], a["document"]) for a in invoice["attempts_log"]] == [
        ("done", "invoice 70001")
    ]
    assert detail["actions"] == [] and detail["tenant_paused"] is False
    with pytest.raises(ops.UnknownEvent):
        await ops.event_detail(ledger, "evt_nope")


async def test_retry_one_failed_event(ledger: Ledger, enqueue: ops.EnqueueMany, redis_url: str):
    """Queued again: state queued, failures 0, failed steps retrying, one message, an action."""
    eid = await seed(ledger, 1001, error="retries exhausted", failures=13)
    await step(ledger, eid, "1001", "invrec", error="Retryable: 503")
    assert await ops.retry(ledger, [eid], enqueue=enqueue, who="dana@ops", actor_name=ACTOR) == 1
    event = await ledger.event(eid)
    assert (event["state"], event["failures"]) == ("queued", "0")
    job = await ledger.job(job_key("acme", "1001", "invrec"))
    assert job is not None and job.state == "retrying"
    assert (await ledger.redis.hget("ib:order:acme:1001", "invrec")) == "retrying"
    assert queued(redis_url) == [eid]
    assert await ledger.redis.zscore(UNQUEUED, eid) is None  # sent: no longer parked
    [action] = (await ops.event_detail(ledger, eid))["actions"]
    assert (action["action"], action["who"], action["event_id"]) == ("retry", "dana@ops", eid)
    assert time.time() >= action["at"] >= NOW
    assert [json.loads(e) for e in await ledger.redis.lrange(ops.ALL_ACTIONS, 0, -1)] == [action]


async def test_retry_leaves_done_running_and_unknown_events_alone(
    ledger: Ledger, enqueue: ops.EnqueueMany, redis_url: str
) -> None:
    """Only events in a retryable state are queued; the others keep their state."""
    done = await seed(ledger, 1001, "done")
    running = await seed(ledger, 1002, "running")
    failed = await seed(ledger, 1003)
    ids = [done, running, failed, "evt_unknown"]
    assert await ops.retry(ledger, ids, enqueue=enqueue, who="ops", actor_name=ACTOR) == 1
    assert queued(redis_url) == [failed]
    states = {done: "done", running: "running", failed: "queued", "evt_unknown": None}
    assert await ops.states_of(ledger, ids) == states


async def test_bulk_retry_of_2000_failed_events_is_fast_and_pipelined(
    ledger: Ledger, enqueue: ops.EnqueueMany, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,000 failed events: found, moved and sent in < 3 s, in a few dozen ledger round trips."""
    for number in range(2000):
        await seed(ledger, 10_000 + number, error="retries exhausted")
    sends = 0
    original = Connection.send_packed_command

    async def counted(self: Connection, command: Any, check_health: bool = True) -> None:
        nonlocal sends
        sends += 1
        await original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    started = time.monotonic()
    found = await ops.find_events(ledger, states=["failed"], limit=ops.SCAN_MAX)
    ids = [event.event_id for event in found]
    progress: list[int] = []
    count = await ops.retry(
        ledger, ids, enqueue=enqueue, who="ops", actor_name=ACTOR, on_progress=progress.append
    )
    elapsed = time.monotonic() - started
    monkeypatch.undo()
    assert count == 2000 and progress == [1000, 2000]
    assert elapsed < 3, f"bulk retry took {elapsed:.2f} s"
    assert sends < 40, f"{sends} ledger round trips for 2,000 events: not pipelined"
    assert sorted(queued(redis_url)) == sorted(ids)
    assert await ops.states_of(ledger, ids[:5]) == dict.fromkeys(ids[:5], "queued")


async def test_discard_and_resolve_are_final(
    ledger: Ledger, enqueue: ops.EnqueueMany, redis_url: str
) -> None:
    """Settled with who, when and why; a later bulk retry passes them by; done is refused."""
    dropped = await seed(ledger, 1001)
    fixed = await seed(ledger, 1002, "needs_attention")
    done = await seed(ledger, 1003, "done")
    await ops.discard(ledger, dropped, who="dana@ops", note="test order")
    await ops.resolve(ledger, fixed, who="dana@ops", note="issued by hand: 70009")
    event = await ledger.event(fixed)
    settled = (event["state"], event["resolved_by"], event["note"])
    assert settled == ("resolved", "dana@ops", "issued by hand: 70009")
    assert float(event["resolved_at"]) >= NOW
    [action] = (await ops.event_detail(ledger, dropped))["actions"]
    assert (action["action"], action["note"]) == ("discard", "test order")
    ids = [dropped, fixed, done]
    assert await ops.retry(ledger, ids, enqueue=enqueue, who="ops", actor_name=ACTOR) == 0
    with pytest.raises(ops.NotAllowed, match="is discarded; cannot resolve"):
        await ops.resolve(ledger, dropped, who="ops", note="again")
    with pytest.raises(ops.NotAllowed, match="is done"):
        await ops.discard(ledger, done, who="ops", note="no")
    with pytest.raises(ops.UnknownEvent):
        await ops.discard(ledger, "evt_nope", who="ops", note="no")
    assert queued(redis_url) == []
    states = {dropped: "discarded", fixed: "resolved", done: "done"}
    assert await ops.states_of(ledger, ids) == states


async def test_replay_queues_a_done_event_and_refuses_others(
    ledger: Ledger, enqueue: ops.EnqueueMany, redis_url: str
) -> None:
    """A done event goes back to queued with one message; a failed one must be retried."""
    done = await seed(ledger, 1001, "done")
    await step(ledger, done, "1001", "invrec", docnum="70001")
    failed = await seed(ledger, 1002)
    await ops.replay(ledger, done, enqueue=enqueue, who="ops", actor_name=ACTOR)
    assert (await ledger.event(done))["state"] == "queued"
    job = await ledger.job(job_key("acme", "1001", "invrec"))
    assert job is not None and (job.state, job.docnum) == ("done", "70001")  # untouched
    with pytest.raises(ops.NotAllowed, match="is failed; cannot replay"):
        await ops.replay(ledger, failed, enqueue=enqueue, who="ops", actor_name=ACTOR)
    assert queued(redis_url) == [done]


async def test_a_failed_send_leaves_the_event_parked_for_the_sweep(ledger: Ledger) -> None:
    """If the broker is down after the ledger moved, the sweep's set still holds the event."""
    eid = await seed(ledger, 1001)

    async def broken(actor_name: str, event_ids: Sequence[str]) -> None:
        raise redis.ConnectionError("broker down")

    with pytest.raises(redis.ConnectionError):
        await ops.retry(ledger, [eid], enqueue=broken, who="ops", actor_name=ACTOR)
    assert (await ledger.event(eid))["state"] == "queued"
    assert await ledger.due_unqueued(older_than_s=-1) == [eid]


async def test_pause_and_resume_a_tenant(ledger: Ledger) -> None:
    """The flag is set and cleared once; each change is in the global action log."""
    assert await ops.pause(ledger, "acme", "dana@ops") is True
    assert await ops.pause(ledger, "acme", "dana@ops") is False
    assert await ops.is_paused(ledger, "acme") and not await ops.is_paused(ledger, "globex")
    assert await ops.resume(ledger, "acme", "dana@ops") is True
    assert not await ops.is_paused(ledger, "acme")
    log = [json.loads(entry) for entry in await ledger.redis.lrange(ops.ALL_ACTIONS, 0, -1)]
    assert [(e["action"], e["tenant"], e["who"]) for e in log] == [
        (action, "acme", "dana@ops") for action in ("resume", "pause", "pause")
    ]


async def test_global_action_log_is_capped(
    ledger: Ledger, enqueue: ops.EnqueueMany, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The global log keeps the newest entries only; each event keeps its own history."""
    monkeypatch.setattr(ops, "ACTIONS_CAP", 3)
    ids = [await seed(ledger, 1000 + n) for n in range(5)]
    assert await ops.retry(ledger, ids, enqueue=enqueue, who="ops", actor_name=ACTOR) == 5
    log = [json.loads(entry) for entry in await ledger.redis.lrange(ops.ALL_ACTIONS, 0, -1)]
    assert [entry["event_id"] for entry in log] == ids[:1:-1]
    assert len((await ops.event_detail(ledger, ids[0]))["actions"]) == 1


async def test_resolving_marks_the_failed_steps_done_by_hand(ledger: Ledger) -> None:
    """After `resolve`, the order's failed step reads `resolved`, so no later event re-runs it."""
    fixed = await seed(ledger, 1101, "failed")
    await step(ledger, fixed, "1101", "invrec", error="Permanent: rejected")
    await ops.resolve(ledger, fixed, who="ops", note="issued by hand")
    job = await ledger.job(job_key("acme", "1101", "invrec"))
    assert job is not None and job.state == "resolved"
    assert (await ledger.order_steps("acme", "1101"))["invrec"].state == "resolved"


async def test_a_document_made_before_the_step_stopped_is_kept_with_it(ledger: Ledger) -> None:
    """iCount made the document but its VAT differs (D-23): the job is needs_attention and
    names the document, so no attempt makes another and on-call knows which to check."""
    key = job_key("acme", "1001", "invrec")
    where: dict[str, Any] = {"tenant": "acme", "order_id": "1001", "step": "invrec"}
    await ledger.start_job(key, event_id="e1", **where)
    made = DocumentRef(doctype="invrec", docnum="30001")
    await ledger.fail_job(key, state="needs_attention", error="VAT differs", document=made, **where)
    job = await ledger.job(key)
    assert job is not None and (job.state, job.document()) == ("needs_attention", made)


async def test_an_event_without_payments_is_stored_as_the_previous_release_wrote_it(
    ledger: Ledger,
) -> None:
    """Rolling upgrade: no `payment` key (event's or order's) unless there is one, so
    workers of the release before payments existed still read the payload."""
    event = order_event(5001)
    assert event.order is not None
    event = event.model_copy(update={"order": event.order.model_copy(update={"payment": None})})
    await ledger.record(event)
    payload = await ledger.redis.hget(EVENT.format(event.event_id), "payload")
    assert payload and '"payment"' not in str(payload)
