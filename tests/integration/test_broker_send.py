"""The receiver's event-loop send writes what dramatiq's own `RedisBroker.enqueue` writes, and
dramatiq's consumer takes it, against a real Redis."""

from __future__ import annotations

import json

import dramatiq

from worker.ledger.ledger import Ledger
from worker.ops.overview import QueueNames, queue_depth
from worker.runtime.actors import ACTOR, QUEUE
from worker.runtime.broker import SENDER_PREFIX, async_sender

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
