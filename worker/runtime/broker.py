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

from worker.domain.events import QUEUED, Delivery
from worker.domain.rates import WebhookRate
from worker.ledger.ledger import Ledger
from worker.ledger.records import QueueHandoff, RecordOutcome
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


class _Dispatch:
    """What `RedisBroker.enqueue` does for one actor's message, from the event loop: a fresh
    Redis message id, the enqueue middleware hooks, and the arguments of Dramatiq's own
    dispatch script (the broker's namespace, id and timeouts)."""

    def __init__(self, broker: RedisBroker, actor_name: str) -> None:
        self.broker, self.actor = broker, broker.get_actor(actor_name)
        source = broker.scripts["dispatch"].script  # dramatiq's .lua file, as redis-py keeps it
        self.script = source.decode() if isinstance(source, bytes) else str(source)
        self.keys = [broker.namespace]
        # as RedisBroker._dispatch: command, now, queue, sender id, heartbeat timeout, dead
        # message ttl, maintenance (never from here: the workers do it), unpack size, then
        # args. The script records a heartbeat for the sender id; ours says it is no worker.
        sender = SENDER_PREFIX + broker.broker_id
        self._fixed = (sender, broker.heartbeat_timeout, broker.dead_message_ttl, 0)
        self._unpack: int | None = None  # dramatiq asks Redis once, on first use

    async def message(self, event_id: str) -> tuple[dramatiq.Message[Any], list[str | int | bytes]]:
        """The event's message (its before-enqueue hooks run) and the script's arguments."""
        if self._unpack is None:  # Redis may be down at start-up: asked for on the first send
            self._unpack = int(await asyncio.to_thread(self.broker._max_unpack_size))
        unpack = self._unpack
        message: dramatiq.Message[Any] = dramatiq.Message(  # as `actor.message`, with its Redis id
            queue_name=self.actor.queue_name,
            actor_name=self.actor.actor_name,
            args=(event_id,),
            kwargs={},
            options={"redis_message_id": str(uuid4())},
        )
        self.broker.emit_before("enqueue", message, None)
        args: list[str | int | bytes] = [
            "enqueue",
            current_millis(),
            message.queue_name,
            *self._fixed,
            unpack,
            message.options["redis_message_id"],  # read after the hooks, as dramatiq reads it
            message.encode(),
        ]
        return message, args

    def sent(self, message: dramatiq.Message[Any]) -> None:
        self.broker.emit_after("enqueue", message, None)


def async_sender(
    broker: dramatiq.Broker, actor_name: str, client: aioredis.Redis
) -> SendOne | None:
    """On the Redis broker, send an actor's messages from the event loop itself: what
    `RedisBroker.enqueue` does, on an asyncio client instead of a blocking one in a thread.
    None on any other broker."""
    if not isinstance(broker, RedisBroker):
        return None
    dispatch = _Dispatch(broker, actor_name)
    script = client.register_script(dispatch.script)

    async def send(event_id: str) -> None:
        message, args = await dispatch.message(event_id)
        await script(keys=dispatch.keys, args=args)
        dispatch.sent(message)

    return send


#: (delivery, the tenant's rate) -> recorded (and queued when it is an event to act on)
RecordAndQueue = Callable[[Delivery, WebhookRate | None], Awaitable[RecordOutcome]]


def record_and_queue(
    broker: dramatiq.Broker, actor_name: str, ledger: Ledger
) -> RecordAndQueue | None:
    """On the Redis broker, record a delivery and queue its event in one round trip: the
    ledger's script runs Dramatiq's own dispatch script, with what `RedisBroker.enqueue`
    gives it, once the event is recorded (`Ledger.record`'s handoff). None on any other
    broker (RabbitMQ: record, publish with confirms, mark queued)."""
    if not isinstance(broker, RedisBroker):
        return None
    dispatch = _Dispatch(broker, actor_name)
    script = ledger.queue_script(dispatch.script)

    async def record(item: Delivery, rate: WebhookRate | None) -> RecordOutcome:
        if not isinstance(item, QUEUED):  # nothing to queue: no message is made
            return await ledger.record(item, rate)
        message, args = await dispatch.message(item.event_id)
        handoff = QueueHandoff(script, dispatch.keys, args)
        outcome = await ledger.record(item, rate, handoff)
        if outcome != "duplicate":
            dispatch.sent(message)
        return outcome

    return record


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
