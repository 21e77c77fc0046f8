"""Events whose queue message was lost are sent again, against a real Redis and the real
Dramatiq broker: only those with no message and untouched for the rescue delay, once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import dramatiq
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from invoicebridge.serve import build_receiver
from tests.integration.test_receiver import URL, settings_for, signed
from tests.receiver_server import ReceiverTestServer
from worker.ledger.ledger import Ledger
from worker.ops.overview import QueueNames
from worker.runtime import rescue
from worker.runtime.actors import ACTOR, QUEUE
from worker.runtime.broker import bulk_enqueue
from worker.runtime.rescue import Rescuer
from worker.settings import Settings

QUEUE_KEY = f"invoicebridge:{QUEUE}"


async def lose_message(raw: aioredis.Redis, event_id: str) -> None:
    """What a fail-over that lost the last writes does to one event's message."""
    for message_id, body in (await raw.hgetall(f"{QUEUE_KEY}.msgs")).items():
        if json.loads(body)["args"] == [event_id]:
            await raw.hdel(f"{QUEUE_KEY}.msgs", message_id)
            await raw.lrem(QUEUE_KEY, 0, str(message_id))


async def messages_for(raw: aioredis.Redis, event_id: str) -> int:
    bodies = await raw.hvals(f"{QUEUE_KEY}.msgs")
    return sum(1 for body in bodies if json.loads(body)["args"] == [event_id])


async def age(raw: aioredis.Redis, event_id: str, seconds: float) -> None:
    """As if the event had been received, and last moved, `seconds` ago."""
    key, stamp = f"ib:event:{event_id}", time.time() - seconds
    await raw.hset(key, mapping={"received_at": f"{stamp:.6f}", "updated_at": f"{stamp:.6f}"})
    state = str(await raw.hget(key, "state"))
    await raw.zadd(f"ib:state:{state}", {event_id: stamp})


@pytest.fixture
async def orders(redis_url: str) -> AsyncIterator[list[str]]:
    """Four orders through the real receiver: each recorded, queued, with one message."""
    app = await build_receiver(settings_for(redis_url))
    async with TestClient(ReceiverTestServer(app)) as client:
        ids = []
        for order_id in range(1, 5):
            body, headers = signed(order_id)
            answer = await client.post(URL, data=body, headers=headers)
            ids.append(str((await answer.json())["event_id"]))
        yield ids


@pytest.fixture
async def rescuer(redis_url: str, orders: list[str]) -> AsyncIterator[Rescuer]:
    ledger = Ledger.from_url(redis_url)
    names = QueueNames("invoicebridge", QUEUE, 60_000)
    yield Rescuer(ledger, names, bulk_enqueue(dramatiq.get_broker()), ACTOR, stall_after_s=60)
    await ledger.close()


async def test_only_an_untouched_event_without_a_message_is_sent_again(
    orders: list[str], rescuer: Rescuer, raw: aioredis.Redis
) -> None:
    lost, alive, seen, done = orders
    for event_id in orders:
        await age(raw, event_id, 120)
    for event_id in (lost, seen, done):
        await lose_message(raw, event_id)
    await raw.hset(f"ib:event:{seen}", "seen_at", f"{time.time() - 5:.6f}")  # a worker has it
    await raw.hset(f"ib:event:{done}", "state", "done")
    assert await rescuer.rescue_once() == [lost]
    assert await messages_for(raw, lost) == 1 and await messages_for(raw, alive) == 1
    assert await messages_for(raw, seen) == 0 and await messages_for(raw, done) == 0
    event = await raw.hgetall(f"ib:event:{lost}")
    assert event["state"] == "queued" and event["rescues"] == "1"
    [entry] = [json.loads(a) for a in await raw.lrange(f"ib:actions:{lost}", 0, -1)]
    assert entry["action"] == "requeue" and entry["who"] == rescue.WHO
    assert await rescuer.rescue_once() == []  # sent: it has a message, and was just touched


async def test_a_delayed_retry_counts_as_a_message(
    orders: list[str], rescuer: Rescuer, raw: aioredis.Redis
) -> None:
    """A retry waiting out its backoff sits in the delay queue: that event is not lost."""
    first = orders[0]
    await lose_message(raw, first)
    dramatiq.get_broker().enqueue(
        dramatiq.get_broker().get_actor(ACTOR).message(first), delay=600_000
    )
    for event_id in orders:
        await age(raw, event_id, 120)
    assert await raw.hlen(f"{QUEUE_KEY}.DQ.msgs") == 1
    assert await rescuer.rescue_once() == []


async def test_a_queue_too_long_to_read_puts_the_rescue_off(
    orders: list[str], rescuer: Rescuer, raw: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    await lose_message(raw, orders[0])
    await age(raw, orders[0], 120)
    monkeypatch.setattr(rescue, "QUEUE_READ_MAX", 2)  # three messages left
    assert await rescuer.rescue_once() == []
    assert "rescued_at" not in await raw.hgetall(f"ib:event:{orders[0]}")


async def test_a_worker_picking_a_message_up_stamps_seen_at(
    orders: list[str], redis_url: str
) -> None:
    ledger = Ledger.from_url(redis_url)
    try:
        before = time.time()
        item = await ledger.work_item(orders[0])
        assert item.state == "queued"
        assert float((await ledger.event(orders[0]))["seen_at"]) >= before
    finally:
        await ledger.close()


async def test_the_receiver_sweeper_rescues_on_its_own(redis_url: str, raw: aioredis.Redis) -> None:
    """The receiver runs the rescue every quarter of its delay (here 1.5 s with a 1 s job
    limit): a lost message comes back without anyone asking."""
    raw_settings = settings_for(redis_url).model_dump(mode="python", by_alias=True)
    raw_settings["tenants"]["acme"]["icount"]["timeout_s"] = 0.5
    raw_settings["queue"] |= {"time_limit_ms": 1_000, "max_backoff_ms": 1}
    raw_settings["receiver"]["rescue_after_s"] = 1.5
    settings = Settings.model_validate(raw_settings)
    app = await build_receiver(settings)
    async with TestClient(ReceiverTestServer(app)) as client:
        body, headers = signed(42)
        event_id = (await (await client.post(URL, data=body, headers=headers)).json())["event_id"]
        await lose_message(raw, event_id)
        deadline = time.monotonic() + 10
        while not await messages_for(raw, event_id):
            assert time.monotonic() < deadline, "the sweeper never sent the event again"
            await asyncio.sleep(0.1)
        assert (await raw.hgetall(f"ib:event:{event_id}"))["rescues"] == "1"
        metrics = await (await client.get("/metrics")).text()
        assert "invoicebridge_lost_messages_requeued_total 1.0" in metrics
