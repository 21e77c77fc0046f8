"""Dramatiq broker set-up, in one place: Redis (default) or RabbitMQ, with async support."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from uuid import uuid4

import dramatiq
import redis.asyncio as aioredis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.middleware import AsyncIO

from worker.redis_clients import sync_client
from worker.settings import Settings


def setup_broker(settings: Settings) -> dramatiq.Broker:
    """Create the broker the settings name and make it dramatiq's global broker."""
    queue = settings.queue
    broker: dramatiq.Broker
    if queue.broker == "rabbitmq":
        assert settings.rabbitmq is not None  # the settings refuse it otherwise
        # durable queues and persistent messages are dramatiq's defaults; confirms make a
        # send return only once RabbitMQ has the message, as the receiver's 200 promises
        broker = RabbitmqBroker(url=settings.rabbitmq.url.get_secret_value(), confirm_delivery=True)
    else:
        broker = RedisBroker(  # type: ignore[no-untyped-call]  # dramatiq leaves it untyped
            client=sync_client(settings.redis),
            namespace=queue.namespace,
            heartbeat_timeout=queue.heartbeat_timeout_ms,
            maintenance_chance=queue.maintenance_chance,
        )
    broker.add_middleware(AsyncIO())
    dramatiq.set_broker(broker)
    return broker


#: event id -> its message sent (the receiver's hand-off)
SendOne = Callable[[str], Awaitable[None]]
#: how a receiver's sends are named in dramatiq's heartbeats, so they are not counted as workers
SENDER_PREFIX = "receiver-"


def workers_among(heartbeats: Iterable[Any]) -> int:
    """How many of dramatiq's heartbeat members (read decoded) are workers, not a receiver's
    sends."""
    return sum(1 for member in heartbeats if not str(member).startswith(SENDER_PREFIX))


def async_sender(
    broker: dramatiq.Broker, actor_name: str, client: aioredis.Redis
) -> SendOne | None:
    """On the Redis broker, send an actor's messages from the event loop itself: what
    `RedisBroker.enqueue` does (a fresh Redis message id, the enqueue middleware hooks,
    dramatiq's own dispatch script with the broker's namespace, id and timeouts), on an
    asyncio client instead of a blocking one in a thread. None on any other broker."""
    if not isinstance(broker, RedisBroker):
        return None
    actor = broker.get_actor(actor_name)
    script = client.register_script(broker.scripts["dispatch"].script)
    keys = [broker.namespace]
    # as RedisBroker._dispatch: command, now, queue, sender id, heartbeat timeout, dead
    # message ttl, maintenance (never from here: the workers do it), unpack size, then args.
    # The script records a heartbeat for the sender id; ours says it is not a worker.
    sender = SENDER_PREFIX + broker.broker_id
    fixed = (sender, broker.heartbeat_timeout, broker.dead_message_ttl, 0)
    unpack: list[int] = []  # dramatiq asks Redis once, on first use (Redis may be down now)

    async def send(event_id: str) -> None:
        if not unpack:
            unpack.append(await asyncio.to_thread(broker._max_unpack_size))
        message = actor.message(event_id)
        broker.emit_before("enqueue", message, None)
        message = message.copy(options={"redis_message_id": str(uuid4())})
        args = [
            "enqueue",
            current_millis(),
            message.queue_name,
            *fixed,
            unpack[0],
            message.options["redis_message_id"],
            message.encode(),
        ]
        await script(keys=keys, args=args)
        broker.emit_after("enqueue", message, None)

    return send


#: (actor name, event ids) -> every message sent; see `worker.ops.actions.EnqueueMany`
BulkEnqueue = Callable[[str, Sequence[str]], Awaitable[None]]


def bulk_enqueue(broker: dramatiq.Broker, threads: int = 4) -> BulkEnqueue:
    """Send many messages from worker threads (dramatiq's broker calls block), so the caller's
    event loop keeps serving while thousands go out; a few threads overlap the round trips."""

    def send_all(actor_name: str, event_ids: Sequence[str]) -> None:
        actor = broker.get_actor(actor_name)
        for event_id in event_ids:
            broker.enqueue(actor.message(event_id))

    async def enqueue_many(actor_name: str, event_ids: Sequence[str]) -> None:
        share = -(-len(event_ids) // threads)  # ceiling: every id in exactly one share
        shares = [event_ids[i : i + share] for i in range(0, len(event_ids), share or 1)]
        await asyncio.gather(*(asyncio.to_thread(send_all, actor_name, ids) for ids in shares))

    return enqueue_many
