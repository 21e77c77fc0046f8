"""The on-call overview: counts by state, hourly throughput, queue depth, failures per tenant.

Every figure is a handful of O(1) / O(log n) Redis reads (the ledger's state index and
hourly tallies, and Dramatiq's own queue keys), so the dashboard may ask every few seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from worker.ledger.keys import EVENT, PAUSED, STATE
from worker.ledger.ledger import Ledger
from worker.ops.actions import ALL_ACTIONS, SCAN_MAX
from worker.runtime.broker import workers_among

#: states an operator must look at
TROUBLE = ("failed", "needs_attention")


@dataclass(frozen=True)
class QueueNames:
    """Where Dramatiq keeps one queue in Redis (see its redis broker's dispatch script)."""

    namespace: str
    queue: str
    heartbeat_timeout_ms: int


async def queue_depth(ledger: Ledger, names: QueueNames) -> dict[str, int]:
    """Messages waiting, delayed (retries not yet due), in flight, dead-lettered; live workers."""
    base = f"{names.namespace}:{names.queue}"
    now_ms = time.time() * 1000
    async with ledger.redis.pipeline(transaction=False) as pipe:
        pipe.llen(base)
        pipe.hlen(f"{base}.msgs")
        pipe.hlen(f"{base}.DQ.msgs")
        pipe.hlen(f"{base}.XQ.msgs")
        pipe.zrangebyscore(
            f"{names.namespace}:__heartbeats__", now_ms - names.heartbeat_timeout_ms, "+inf"
        )
        *counts, beating = await pipe.execute()
    ready, held, delayed, dead = map(int, counts)
    workers = workers_among(beating)  # a receiver's sends beat too; only workers count
    return {
        "ready": ready,
        "in_flight": max(held - ready, 0),
        "delayed": delayed,
        "dead_lettered": dead,
        "workers": workers,
    }


#: the queue's depth, as the overview shows it (None: the broker does not tell)
QueueDepth = Callable[[], Awaitable[dict[str, int | None]]]


def depth_reader(broker: dramatiq.Broker, ledger: Ledger, names: QueueNames) -> QueueDepth:
    """How the overview reads the queue's depth: Dramatiq's Redis keys, or RabbitMQ's own
    counts (asked over AMQP; it knows nothing of messages in flight or of workers)."""
    if isinstance(broker, RabbitmqBroker):

        async def from_rabbitmq() -> dict[str, int | None]:
            ready, delayed, dead = await asyncio.to_thread(
                broker.get_queue_message_counts, names.queue
            )
            return {
                "ready": ready,
                "in_flight": None,
                "delayed": delayed,
                "dead_lettered": dead,
                "workers": None,
            }

        return from_rabbitmq

    async def from_redis() -> dict[str, int | None]:
        return dict(await queue_depth(ledger, names))

    return from_redis


async def trouble_by_tenant(ledger: Ledger) -> dict[str, dict[str, int]]:
    """Per tenant, how many of its events are failed / need attention."""
    found: dict[str, dict[str, int]] = {}
    for state in TROUBLE:
        ids = cast(list[str], await ledger.redis.zrevrange(STATE.format(state), 0, SCAN_MAX - 1))
        async with ledger.redis.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.hget(EVENT.format(event_id), "tenant")
            tenants = Counter(cast(list[str | None], await pipe.execute()))
        for tenant, count in tenants.items():
            found.setdefault(tenant or "?", dict.fromkeys(TROUBLE, 0))[state] = count
    return found


async def paused_tenants(ledger: Ledger) -> set[str]:
    return cast(set[str], await ledger.redis.smembers(PAUSED))


async def hourly(ledger: Ledger, hours: int) -> list[dict[str, Any]]:
    """The last `hours` UTC hours, oldest first, each with what reached each tallied state."""
    now = time.time()
    first = int(now // 3600) - hours + 1
    rows = await ledger.hourly_tallies(hours, now=now)
    return [
        {"hour": datetime.fromtimestamp((first + i) * 3600, UTC).isoformat()}
        | {state: row.get(state, 0) for state in ("received", "done", *TROUBLE, "retrying")}
        for i, row in enumerate(rows)
    ]


async def recent_actions(ledger: Ledger, limit: int) -> list[dict[str, Any]]:
    """Operator actions, newest first."""
    raw = cast(list[str], await ledger.redis.lrange(ALL_ACTIONS, 0, limit - 1))
    return [json.loads(entry) for entry in raw]
