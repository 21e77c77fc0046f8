"""The receiver's event-loop send, and its record-and-queue script, write what dramatiq's own
`RedisBroker.enqueue` writes, and dramatiq's consumer takes it, against a real Redis."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import dramatiq
import pytest

from tests.orders import mug_paid_event
from tests.redis_writes import count_writes
from worker.domain.events import IgnoredDelivery, OrderEvent
from worker.domain.rates import OverRate, WebhookRate
from worker.ledger.keys import UNQUEUED
from worker.ledger.ledger import Ledger
from worker.ops.overview import QueueNames, queue_depth
from worker.runtime.actors import ACTOR, QUEUE
from worker.runtime.broker import SENDER_PREFIX, async_sender, record_and_queue

QUEUE_KEY = f"invoicebridge:{QUEUE}"
#: what differs between two messages by design
OWN = {"message_id", "message_timestamp", "args", "options"}


async def test_async_send_matches_dramatiqs_enqueue(broker: dramatiq.Broker, ledger: Ledger):
    send = async_sender(broker, ACTOR, ledger.redis)
    assert send is not None
    await send("evt_from_the_loop")
    broker.enqueue(broker.get_actor(ACTOR).message("evt_from_a_thread"))
    stored = {
        rid: json.loads(body)
        for rid, body in (await ledger.redis.hgetall(f"{QUEUE_KEY}.msgs")).items()
    }
    assert sorted(await ledger.redis.lrange(QUEUE_KEY, 0, -1)) == sorted(stored)  # both ready
    ours, theirs = (
        next(m for m in stored.values() if m["args"] == [eid])
        for eid in ("evt_from_the_loop", "evt_from_a_thread")
    )
    assert {k: v for k, v in ours.items() if k not in OWN} == {
        k: v for k, v in theirs.items() if k not in OWN
    }
    assert ours["options"].keys() == theirs["options"].keys() == {"redis_message_id"}
    consumer = broker.consume(QUEUE, prefetch=2, timeout=100)
    taken = [next(consumer) for _ in range(2)]  # what a dramatiq worker is handed
    assert sorted(m.args[0] for m in taken if m) == ["evt_from_a_thread", "evt_from_the_loop"]
    consumer.close()


async def test_the_receivers_sends_are_not_counted_as_workers(
    broker: dramatiq.Broker, ledger: Ledger
) -> None:
    """Dramatiq's script records a heartbeat for whoever sends; the overview's worker count
    leaves the receiver's out (and still counts a worker's)."""
    send = async_sender(broker, ACTOR, ledger.redis)
    assert send is not None
    await send("evt_1")
    names = QueueNames("invoicebridge", QUEUE, 60_000)
    assert (await queue_depth(ledger, names))["workers"] == 0
    [beat] = await ledger.redis.zrange("invoicebridge:__heartbeats__", 0, -1)
    assert str(beat).startswith(SENDER_PREFIX)
    consumer = broker.consume(QUEUE, prefetch=1, timeout=100)
    next(consumer)  # a worker's fetch: its own heartbeat
    assert (await queue_depth(ledger, names))["workers"] == 1
    consumer.close()


def _paid(number: int) -> OrderEvent:
    return mug_paid_event(
        number, "acme", f"d-{number}", created_at=datetime(2026, 12, 1, tzinfo=UTC)
    )


async def _queued_messages(ledger: Ledger) -> list[dict[str, object]]:
    bodies = (await ledger.redis.hgetall(f"{QUEUE_KEY}.msgs")).values()
    return [json.loads(body) for body in bodies]


async def test_record_and_queue_is_one_round_trip_and_writes_dramatiqs_message(
    broker: dramatiq.Broker, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new event is recorded, queued with exactly what `RedisBroker.enqueue` writes, and
    marked queued, by one command; dramatiq's consumer takes the message."""
    record = record_and_queue(broker, ACTOR, ledger)
    assert record is not None
    event = _paid(1)
    await record(event, None)  # the composed script is loaded by the first call
    sent = count_writes(monkeypatch)
    second = _paid(2)
    assert await record(second, None) == "new"
    assert len(sent) == 1 and sent[0].count(b"EVALSHA") == 1  # record, queue, mark queued
    monkeypatch.undo()
    broker.enqueue(broker.get_actor(ACTOR).message("evt_from_a_thread"))
    stored = {str(m["args"][0]): m for m in await _queued_messages(ledger)}  # type: ignore[index]
    ours, theirs = stored[second.event_id], stored["evt_from_a_thread"]
    assert {k: v for k, v in ours.items() if k not in OWN} == {
        k: v for k, v in theirs.items() if k not in OWN
    }
    assert set(ours["options"]) == {"redis_message_id"}  # type: ignore[call-overload]
    assert (await ledger.event(second.event_id))["state"] == "queued"
    assert await ledger.redis.zscore(UNQUEUED, second.event_id) is None
    consumer = broker.consume(QUEUE, prefetch=3, timeout=100)
    taken = sorted(
        str(message.args[0]) for message in (next(consumer) for _ in range(3)) if message
    )
    assert taken == sorted([event.event_id, second.event_id, "evt_from_a_thread"])
    consumer.close()


async def test_concurrent_deliveries_are_recorded_and_queued_in_one_write(
    broker: dramatiq.Broker, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger's records go through its group commit: five deliveries that arrive together
    share one pipeline, each recorded and queued."""
    record = record_and_queue(broker, ACTOR, ledger)
    assert record is not None
    await record(_paid(9), None)  # loads the script
    sent = count_writes(monkeypatch)
    outcomes = await asyncio.gather(*(record(_paid(n), None) for n in range(10, 15)))
    assert outcomes == ["new"] * 5
    assert len(sent) == 1 and sent[0].count(b"EVALSHA") == 5
    monkeypatch.undo()
    assert len(await _queued_messages(ledger)) == 6


async def test_a_duplicate_is_not_queued_again(broker: dramatiq.Broker, ledger: Ledger) -> None:
    record = record_and_queue(broker, ACTOR, ledger)
    assert record is not None
    event = _paid(3)
    assert await record(event, None) == "new"
    assert await record(event, None) == "duplicate"
    assert len(await _queued_messages(ledger)) == 1
    assert (await ledger.event(event.event_id))["deliveries"] == "2"


async def test_an_event_recorded_but_never_queued_is_queued_by_its_next_delivery(
    broker: dramatiq.Broker, ledger: Ledger
) -> None:
    """A receiver died between recording and queuing: while its claim holds, another delivery
    leaves the event alone; once the claim expired, the next delivery queues it."""
    record = record_and_queue(broker, ACTOR, ledger)
    assert record is not None
    event = _paid(4)
    assert await ledger.record(event) == "new"  # recorded alone: the receiver died here
    assert await record(event, None) == "duplicate"  # the first delivery's claim still holds
    assert await _queued_messages(ledger) == []
    await ledger.redis.delete(f"ib:enqueue-claim:{event.event_id}")  # the claim expired
    assert await record(event, None) == "unqueued"
    assert [m["args"] for m in await _queued_messages(ledger)] == [[event.event_id]]
    assert (await ledger.event(event.event_id))["state"] == "queued"
    assert await ledger.redis.zscore(UNQUEUED, event.event_id) is None


async def test_over_its_rate_a_delivery_records_and_queues_nothing(
    broker: dramatiq.Broker, ledger: Ledger
) -> None:
    record = record_and_queue(broker, ACTOR, ledger)
    assert record is not None
    rate = WebhookRate(per_s=1, burst=1)
    assert await record(_paid(5), rate) == "new"
    late = _paid(6)
    with pytest.raises(OverRate):
        await record(late, rate)
    assert await ledger.event(late.event_id) == {}
    assert len(await _queued_messages(ledger)) == 1


async def test_an_ignored_delivery_is_recorded_and_never_queued(
    broker: dramatiq.Broker, ledger: Ledger
) -> None:
    record = record_and_queue(broker, ACTOR, ledger)
    assert record is not None
    fields = {"tenant": "acme", "source": "shopify", "topic": "carts/update"}
    ignored = IgnoredDelivery(event_id="evt_ignored", delivery_id="d-7", **fields)
    assert await record(ignored, None) == "new"
    assert (await ledger.event("evt_ignored"))["state"] == "ignored"
    assert await _queued_messages(ledger) == []
