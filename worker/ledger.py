"""The ledger: the durable record of every inbound event and every step of every job, in Redis.

Events are recorded atomically and deduplicated by their id (derived from tenant,
source and the source's delivery id). Jobs are keyed `tenant:order:step`; a step
that is `done` is never run again. Nothing here expires: a failed job stays until
an operator resolves it.
"""

from __future__ import annotations

import time
from typing import Any, Literal, cast, get_args

import redis.asyncio as aioredis

from worker.domain.events import IgnoredDelivery, Order, OrderEvent, Refund
from worker.domain.redaction import redact_text
from worker.ledger_jobs import JobFailure, JobLedger, JobRecord
from worker.ledger_keys import (
    CLAIM,
    EVENT,
    EVENTS,
    JOB,
    MARK_QUEUED_LUA,
    ORDER,
    RECORD_LUA,
    REFUNDS,
    RESTATE_LUA,
    SNAPSHOT,
    STATE,
    STATS,
    UNQUEUED,
)

__all__ = [
    "EVENT", "EVENTS", "JOB", "ORDER", "STATE", "UNQUEUED",
    "JobFailure", "JobLedger", "JobRecord", "Ledger",
]  # fmt: skip

#: how long the delivery that recorded an event has to queue it before another may
ENQUEUE_CLAIM_MS = 10_000

EventState = Literal[
    "received",
    "queued",
    "running",
    "retrying",
    "done",
    "failed",
    "needs_attention",
    "ignored",
    "resolved",
    "discarded",
]
RecordOutcome = Literal["new", "duplicate", "unqueued"]


def _now() -> str:
    return f"{time.time():.6f}"


class Ledger(JobLedger):
    """Async access to the ledger; one instance per process and event loop."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self._record = client.register_script(RECORD_LUA)
        self._mark_queued = client.register_script(MARK_QUEUED_LUA)
        self._restate = client.register_script(RESTATE_LUA)

    @classmethod
    def from_url(cls, url: str) -> Ledger:
        return cls(aioredis.Redis.from_url(url, decode_responses=True))

    async def close(self) -> None:
        await self.redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
            return False

    # -- events ---------------------------------------------------------------------

    async def record(self, item: OrderEvent | IgnoredDelivery) -> RecordOutcome:
        """Record an inbound event once. Returns "new", "duplicate", or "unqueued" for a
        duplicate whose first delivery was recorded but never handed to the queue."""
        now = _now()
        fields: dict[str, str] = {
            "id": item.event_id,
            "tenant": item.tenant,
            "source": item.source,
            "topic": item.topic,
            "delivery_id": item.delivery_id,
            "received_at": now,
            "updated_at": now,
            "failures": "0",
        }
        if isinstance(item, OrderEvent):
            state = "received"
            fields |= {
                "kind": item.kind.value,
                "order_id": item.order_id,
                "order_number": item.order.number if item.order else "",
                "payload": item.model_dump_json(),
            }
        else:
            state = "ignored"
        flat = [part for pair in fields.items() for part in pair]
        keys = [EVENT.format(item.event_id), EVENTS, UNQUEUED, CLAIM.format(item.event_id)]
        args: list[str | int] = [item.event_id, now, state, ENQUEUE_CLAIM_MS, *flat]
        previous = await self._record(keys=keys, args=args)
        if previous is None:
            return "new"
        return "unqueued" if previous == "received" else "duplicate"

    async def mark_queued(self, event_id: str) -> None:
        """Note that the event is in the queue (unless a worker already moved it on)."""
        await self._mark_queued(keys=[EVENT.format(event_id), UNQUEUED], args=[event_id, _now()])

    async def due_unqueued(self, older_than_s: float, limit: int = 500) -> list[str]:
        """Events recorded at least `older_than_s` ago that never reached the queue."""
        cutoff = time.time() - older_than_s
        ids = await self.redis.zrangebyscore(UNQUEUED, 0, cutoff, start=0, num=limit)
        return cast(list[str], ids)

    async def load_event(self, event_id: str) -> OrderEvent | None:
        payload = await self.redis.hget(EVENT.format(event_id), "payload")
        return None if payload is None else OrderEvent.model_validate_json(payload)

    async def event(self, event_id: str) -> dict[str, str]:
        """The event's ledger fields (empty if unknown), payload included."""
        return cast(dict[str, str], await self.redis.hgetall(EVENT.format(event_id)))

    async def set_event_state(
        self, event_id: str, state: EventState, *, error: str | None = None
    ) -> None:
        """Move a recorded event to `state` (and its per-state index with it)."""
        fields = [] if error is None else ["last_error", redact_text(error)[:2000]]
        await self._restate(keys=[EVENT.format(event_id)], args=[event_id, state, _now(), *fields])

    async def count_failure(self, event_id: str) -> int:
        """Add one to the event's count of retryable failures and return it."""
        return int(await self.redis.hincrby(EVENT.format(event_id), "failures", 1))

    async def event_ids(self, limit: int = 1000) -> list[str]:
        return cast(list[str], await self.redis.zrange(EVENTS, 0, limit - 1))

    async def count_by_state(self) -> dict[str, int]:
        """How many events are in each state, every state named (0 when none): one round trip."""
        states = get_args(EventState)
        async with self.redis.pipeline(transaction=False) as pipe:
            for state in states:
                pipe.zcard(STATE.format(state))
            counts = await pipe.execute()
        return dict(zip(states, map(int, counts), strict=True))

    async def events_by_state(self) -> dict[str, int]:
        """The states that hold events, with how many (for the demo, health and tests)."""
        return {state: n for state, n in (await self.count_by_state()).items() if n}

    async def hourly_tallies(self, hours: int, now: float | None = None) -> list[dict[str, int]]:
        """For each of the last `hours` UTC hours, oldest first: how many events reached
        each tallied state in it (received, done, failed, needs_attention, retrying)."""
        current = int((time.time() if now is None else now) // 3600)
        async with self.redis.pipeline(transaction=False) as pipe:
            for hour in range(current - hours + 1, current + 1):
                pipe.hgetall(STATS.format(hour))
            rows = cast(list[dict[str, str]], await pipe.execute())
        return [{state: int(n) for state, n in row.items()} for row in rows]

    # -- what we know of an order -----------------------------------------------------

    async def order_snapshot(self, tenant: str, order_id: str) -> Order | None:
        raw = cast(str | None, await self.redis.get(SNAPSHOT.format(tenant, order_id)))
        return None if raw is None else Order.model_validate_json(raw)

    async def save_order_snapshot(self, tenant: str, order: Order) -> None:
        await self.redis.set(SNAPSHOT.format(tenant, order.order_id), order.model_dump_json())

    async def refunds(self, tenant: str, order_id: str) -> dict[str, Refund]:
        raw = cast(dict[str, str], await self.redis.hgetall(REFUNDS.format(tenant, order_id)))
        return {rid: Refund.model_validate_json(value) for rid, value in raw.items()}

    async def save_refunds(self, tenant: str, order_id: str, refunds: list[Refund]) -> None:
        if refunds:
            mapping = {refund.refund_id: refund.model_dump_json() for refund in refunds}
            await self.redis.hset(REFUNDS.format(tenant, order_id), mapping=cast(Any, mapping))
