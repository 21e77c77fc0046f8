"""The ledger: the durable record of every inbound event and every step of every job, in Redis.

Events are recorded atomically and deduplicated by their id (derived from tenant,
source and the source's delivery id). Jobs are keyed `tenant:order:step`; a step
that is `done` is never run again. Nothing here expires: a failed job stays until
an operator resolves it, and finished events leave only by retention (`worker.ops.prune`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.lock import Lock
from redis.commands.core import AsyncScript
from redis.typing import EncodableT, FieldT

from worker.domain.events import Delivery, Order, OrderEvent, Payment, Refund
from worker.domain.rates import OverRate, WebhookRate
from worker.domain.redaction import redact_text
from worker.domain.states import EVENT_STATES, EventState
from worker.ledger.batch import ScriptBatch
from worker.ledger.keys import (
    ATTEMPTS,
    CLAIM,
    EVENT,
    EVENTS,
    JOB,
    JOBS,
    LOCK,
    ORDER,
    PAUSED,
    PAYMENT,
    PINGS,
    REFUNDS,
    REPLICA_PROBE,
    SNAPSHOT,
    STATE,
    STATS,
    UNQUEUED,
    WEBHOOK_RATE,
)
from worker.ledger.records import (
    JobFailure,
    JobRecord,
    OrderState,
    QueueHandoff,
    RecordOutcome,
    StoredInvalid,
    WorkItem,
    document_fields,
    event_fields,
    flat_fields,
    job_record,
    now_text,
    read_fields,
    read_stored,
    remember_attempt,
)
from worker.ledger.scripts import (
    MARK_QUEUED_LUA,
    READ_IN_LUA,
    RECORD_LUA,
    RESTATE_LUA,
    START_JOB_LUA,
    WORK_ITEM_LUA,
    record_and_queue_lua,
)
from worker.providers.base import DocumentRef
from worker.redis_clients import async_client, close_async
from worker.settings import RedisSettings

__all__ = ["Ledger"]


#: how long the delivery that recorded an event has to queue it before another may
ENQUEUE_CLAIM_MS = 10_000


class Ledger:
    """Async access to the ledger; one instance per process and event loop."""

    def __init__(
        self, client: aioredis.Redis, *, min_replicas: int = 0, replica_timeout_ms: int = 1_000
    ) -> None:
        self.redis = client
        self.min_replicas, self.replica_timeout_ms = min_replicas, replica_timeout_ms
        self._record = client.register_script(RECORD_LUA)
        self._batch = ScriptBatch(client)  #: the deliveries of one loop turn, recorded together
        self._mark_queued = client.register_script(MARK_QUEUED_LUA)
        self._restate = client.register_script(RESTATE_LUA)
        self._read_in_script = client.register_script(READ_IN_LUA)
        self._start_job = client.register_script(START_JOB_LUA)
        self._work_item = client.register_script(WORK_ITEM_LUA)

    @classmethod
    def from_url(cls, url: str) -> Ledger:
        return cls(aioredis.Redis.from_url(url, decode_responses=True))

    @classmethod
    def from_settings(cls, settings: RedisSettings) -> Ledger:
        """The ledger on the settings' Redis: by URL or through Sentinel."""
        return cls(
            async_client(settings),
            min_replicas=settings.min_replicas,
            replica_timeout_ms=settings.replica_timeout_ms,
        )

    async def close(self) -> None:
        await close_async(self.redis)

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
            return False

    async def note_ping(self, tenant: str) -> None:
        """Note the tenant's set-up ping (WooCommerce): one field per tenant, not an event."""
        await self.redis.hset(PINGS, tenant, now_text())

    async def last_pings(self) -> dict[str, float]:
        """When each tenant's platform last sent a set-up ping (unix s)."""
        found = cast(dict[str, str], await self.redis.hgetall(PINGS))
        return {tenant: float(at) for tenant, at in found.items()}

    # -- events ---------------------------------------------------------------------

    def queue_script(self, queue_lua: str) -> AsyncScript:
        """`RECORD_LUA` around a queue's own Lua (`record_and_queue_lua`), for the handoffs
        of `record`: registered once, when the receiver is built."""
        return self.redis.register_script(record_and_queue_lua(queue_lua))

    async def record(
        self,
        item: Delivery,
        rate: WebhookRate | None = None,
        handoff: QueueHandoff | None = None,
    ) -> RecordOutcome:
        """Record an inbound event once. Returns "new", "duplicate", or "unqueued" for a
        duplicate whose first delivery was recorded but never handed to the queue.

        With a `handoff` (an event to act on, on the Redis broker), the same script queues a
        new event, or an unqueued one whose claim this delivery won, and marks it queued: one
        round trip, and "new" or "unqueued" then mean it is in the queue now.

        Raises:
            OverRate: the tenant is over its webhook `rate` (counted across every receiver);
                nothing was recorded.
        """
        now = now_text()
        state, fields = event_fields(item, now)
        flat = flat_fields(fields)
        keys = [
            EVENT.format(item.event_id),
            EVENTS,
            UNQUEUED,
            CLAIM.format(item.event_id),
            WEBHOOK_RATE.format(item.tenant),
        ]
        interval, tolerance = rate.gcra() if rate else (0.0, 0.0)
        args: list[str | int | float | bytes] = [
            item.event_id,
            now,
            state,
            ENQUEUE_CLAIM_MS,
            interval,
            tolerance,
            *flat,
        ]
        script = self._record
        if handoff is not None and state == "received":
            script = handoff.script
            args = [len(handoff.keys), len(handoff.args), *handoff.args, *args]
            keys = keys + handoff.keys
        previous = await self._batch.run(script, keys, args)
        if previous is None:
            return "new"
        if previous.startswith("wait:"):
            raise OverRate(int(previous[5:]))
        return "unqueued" if previous == "received" else "duplicate"

    async def mark_queued(self, event_id: str) -> None:
        """Note that the event is in the queue (unless a worker already moved it on)."""
        await self._mark_queued(
            keys=[EVENT.format(event_id), UNQUEUED], args=[event_id, now_text()]
        )

    async def replicated(self) -> bool:
        """Whether everything written to the primary so far is on `min_replicas` replicas,
        waiting up to `replica_timeout_ms` (always true when none are asked for).

        Redis WAIT counts the replicas that have the connection's last write, so a write
        goes first on the same connection: it is stamped after every earlier write of every
        client (the record, the queue's message), and WAIT then covers them all."""
        if self.min_replicas == 0:
            return True
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(REPLICA_PROBE)
            pipe.wait(self.min_replicas, self.replica_timeout_ms)
            _, acked = await pipe.execute()
        return int(acked) >= self.min_replicas

    async def due_unqueued(self, older_than_s: float, limit: int = 500) -> list[str]:
        """Events recorded at least `older_than_s` ago that never reached the queue."""
        cutoff = time.time() - older_than_s
        ids = await self.redis.zrangebyscore(UNQUEUED, 0, cutoff, start=0, num=limit)
        return cast(list[str], ids)

    async def work_item(self, event_id: str) -> WorkItem:
        """What a worker needs before it starts on an event, in one round trip."""
        keys = [EVENT.format(event_id), PAUSED]
        payload, state, paused, tenant, raw = await self._work_item(keys=keys, args=[now_text()])
        if payload is None and raw and raw[0] is not None:
            names = ("body", "headers", "source", "delivery_id")
            received = {"id": event_id, "tenant": tenant} | dict(zip(names, raw, strict=True))
            return WorkItem(None, state, bool(paused), received=received)
        try:
            event = None if payload is None else read_stored(OrderEvent, payload, "event")
        except StoredInvalid as exc:
            return WorkItem(None, state, bool(paused), unreadable=exc)
        return WorkItem(event, state, bool(paused))

    async def read_as(self, event_id: str, item: OrderEvent | None) -> None:
        """Put what a delivery recorded as it came reads as in its place: the event's kind,
        order and payload (`item`), or, with None, the `ignored` state; its body goes. Only
        while it is unread and has work ahead of it (`READ_IN_LUA`)."""
        if item is None:
            await self._read_in(event_id, "ignored", [])
        else:
            await self._read_in(event_id, None, flat_fields(read_fields(item)))

    async def keep_unreadable(self, event_id: str, reason: str) -> None:
        """A delivery recorded as it came that the parser cannot read: `unreadable`, its body
        and headers kept for a replay, the reason its last error (same guard as `read_as`)."""
        await self._read_in(event_id, "unreadable", ["last_error", redact_text(reason)[:2000]])

    async def start_event(self, event_id: str, read: OrderEvent | None = None) -> bool:
        """Mark the event `running`; with `read`, what the delivery recorded as it came reads
        as takes its place in the same step (`read_as`): no round trip of its own. False
        when that delivery was moved on meanwhile (read by another worker, discarded)."""
        if read is None:
            await self.set_event_state(event_id, "running")
            return True
        return await self._read_in(event_id, "running", flat_fields(read_fields(read)))

    async def _read_in(self, event_id: str, state: EventState | None, pairs: list[str]) -> bool:
        """`READ_IN_LUA`: whether the delivery was still unread (and moved on now)."""
        drop = "0" if state == "unreadable" else "1"
        args = [event_id, state or "", now_text(), drop, *pairs]
        return bool(await self._read_in_script(keys=[EVENT.format(event_id)], args=args))

    async def load_event(self, event_id: str) -> OrderEvent | None:
        """The event's canonical payload (None if it has none).

        Raises:
            StoredInvalid: the stored payload no longer validates (`stored_event_invalid`).
        """
        payload = await self.redis.hget(EVENT.format(event_id), "payload")
        return None if payload is None else read_stored(OrderEvent, payload, "event")

    async def event(self, event_id: str) -> dict[str, str]:
        """The event's ledger fields (empty if unknown), payload included."""
        return cast(dict[str, str], await self.redis.hgetall(EVENT.format(event_id)))

    async def set_event_state(
        self, event_id: str, state: EventState, *, error: str | None = None
    ) -> None:
        """Move a recorded event to `state` (and its per-state index with it)."""
        fields = [] if error is None else ["last_error", redact_text(error)[:2000]]
        await self._restate(
            keys=[EVENT.format(event_id)], args=[event_id, state, now_text(), *fields]
        )

    async def count_failure(self, event_id: str) -> int:
        """Add one to the event's count of retryable failures and return it."""
        return int(await self.redis.hincrby(EVENT.format(event_id), "failures", 1))

    async def event_ids(self, limit: int = 1000) -> list[str]:
        return cast(list[str], await self.redis.zrange(EVENTS, 0, limit - 1))

    async def count_by_state(self) -> dict[str, int]:
        """How many events are in each state, every state named (0 when none): one round trip."""
        states = EVENT_STATES
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

    async def order_state(self, tenant: str, order_id: str) -> OrderState:
        """The order's newest snapshot, every refund seen, every step's record and its stored
        payment: two round trips (the steps' records need their names first).

        Raises:
            StoredInvalid: the snapshot, a refund or the payment no longer validates
                (`stored_snapshot_invalid`, `stored_refund_invalid`, `stored_payment_invalid`).
        """
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(SNAPSHOT.format(tenant, order_id))
            pipe.hgetall(REFUNDS.format(tenant, order_id))
            pipe.hkeys(ORDER.format(tenant, order_id))
            pipe.get(PAYMENT.format(tenant, order_id))
            raw, refunds, steps, paid = await pipe.execute()
        of = f" of order {order_id}"
        return OrderState(
            snapshot=None if raw is None else read_stored(Order, raw, "snapshot", of),
            refunds={
                rid: read_stored(Refund, v, "refund", f" {rid}{of}") for rid, v in refunds.items()
            },
            steps=await self.jobs_of(tenant, order_id, steps) if steps else {},
            payment=None if paid is None else read_stored(Payment, paid, "payment", of),
        )

    async def save_order(
        self,
        tenant: str,
        order_id: str,
        snapshot: Order | None,
        refunds: Sequence[Refund],
        payment: Payment | None = None,
    ) -> None:
        """Keep a newer snapshot (None: unchanged), refunds not seen before and how the order
        was paid (None: unchanged; see `save_payment`), together: one round trip."""
        if snapshot is None and not refunds and payment is None:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            if snapshot is not None:
                pipe.set(SNAPSHOT.format(tenant, order_id), snapshot.model_dump_json())
            if refunds:
                mapping = {refund.refund_id: refund.model_dump_json() for refund in refunds}
                pipe.hset(REFUNDS.format(tenant, order_id), mapping=cast(Any, mapping))
            if payment is not None:
                pipe.set(PAYMENT.format(tenant, order_id), payment.model_dump_json())
            await pipe.execute()

    async def payment(self, tenant: str, order_id: str) -> Payment | None:
        """How the order was paid, as kept apart from its snapshot (None when nothing is).

        Raises:
            StoredInvalid: it no longer validates (`stored_payment_invalid`).
        """
        raw = await self.redis.get(PAYMENT.format(tenant, order_id))
        return (
            None if raw is None else read_stored(Payment, raw, "payment", f" of order {order_id}")
        )

    async def save_payment(self, tenant: str, order_id: str, payment: Payment) -> None:
        """Keep how the order was paid, replacing what was kept (the caller, holding the
        order's lock, decides which wins: `payment_details.preferred`)."""
        await self.redis.set(PAYMENT.format(tenant, order_id), payment.model_dump_json())

    # -- jobs -----------------------------------------------------------------------

    def order_lock(self, tenant: str, order_id: str, ttl_s: float) -> Lock:
        """A lock that lets one worker at a time act on an order; it expires if its holder dies."""
        return self.redis.lock(LOCK.format(tenant, order_id), timeout=ttl_s, blocking=False)

    async def order_steps(self, tenant: str, order_id: str) -> dict[str, JobRecord]:
        """Every step ever started for an order, by step name."""
        steps = cast(list[str], await self.redis.hkeys(ORDER.format(tenant, order_id)))
        return await self.jobs_of(tenant, order_id, steps)

    async def jobs_of(
        self, tenant: str, order_id: str, steps: Sequence[str]
    ) -> dict[str, JobRecord]:
        """The records of these steps of an order (those that exist), in one round trip."""
        keys = [f"{tenant}:{order_id}:{step}" for step in steps]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(JOB.format(key))
            rows = cast(list[dict[str, str]], await pipe.execute())
        return {
            step: job_record(key, raw)
            for step, key, raw in zip(steps, keys, rows, strict=True)
            if raw
        }

    async def job(self, key: str) -> JobRecord | None:
        raw = cast(dict[str, str], await self.redis.hgetall(JOB.format(key)))
        return job_record(key, raw) if raw else None

    async def start_job(
        self, key: str, *, event_id: str, tenant: str, order_id: str, step: str
    ) -> JobRecord:
        """Count an attempt at a step and mark it running; a done step is returned untouched.

        A step found still `running` was cut off mid-call (its worker died): its outcome
        is unknown, and is counted as such. One script, one round trip."""
        keys = [JOB.format(key), JOBS, ORDER.format(tenant, order_id)]
        flat = await self._start_job(
            keys=keys, args=[key, event_id, tenant, order_id, step, now_text()]
        )
        return job_record(key, dict(zip(flat[::2], flat[1::2], strict=True)))

    async def finish_job(
        self,
        key: str,
        *,
        tenant: str,
        order_id: str,
        step: str,
        document: DocumentRef,
    ) -> None:
        """Record a step's outcome: it is done and will never run again."""
        now = now_text()
        async with self.redis.pipeline(transaction=True) as pipe:
            done: dict[FieldT, EncodableT] = {
                "state": "done",
                "finished_at": now,
                "updated_at": now,
            }
            pipe.hset(JOB.format(key), mapping=done | document_fields(document, settled=True))
            pipe.hdel(JOB.format(key), "last_error", "email_intent_at")  # settled: done
            pipe.hset(ORDER.format(tenant, order_id), step, "done")
            remember_attempt(
                pipe, key, now, "done", document=f"{document.doctype} {document.docnum}"
            )
            await pipe.execute()

    async def begin_email(self, key: str) -> bool:
        """Record that this attempt is about to hand the step's email to SMTP; whether an
        earlier attempt had begun to and its outcome was never settled
        (worker/jobs/email_once.py)."""
        now = now_text()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(JOB.format(key), "email_intent_at")
            pipe.hset(JOB.format(key), "email_intent_at", now)
            earlier, _ = await pipe.execute()
        return earlier is not None

    async def settle_email(self, key: str) -> None:
        """The step's SMTP send definitely did not happen: no intent is left open."""
        await self.redis.hdel(JOB.format(key), "email_intent_at")

    async def note_job(self, key: str, state: str, **details: object) -> None:
        """Add an entry to the step's history (what the event's detail shows)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            remember_attempt(pipe, key, now_text(), state, **details)
            await pipe.execute()

    async def fail_job(
        self,
        key: str,
        *,
        tenant: str,
        order_id: str,
        step: str,
        state: JobFailure,
        error: str,
        unknown: bool = False,
        document: DocumentRef | None = None,
    ) -> None:
        """Record a failed attempt: `retrying` (runs again), `failed` or `needs_attention`
        (an operator must act). `unknown`: the provider may have acted (answer lost).
        `document`: the provider made this one, though the step did not end well."""
        now, error = now_text(), redact_text(error)[:2000]
        async with self.redis.pipeline(transaction=True) as pipe:
            if unknown:
                pipe.hsetnx(JOB.format(key), "unknown_since", now)
                pipe.hincrby(JOB.format(key), "unknown_count", 1)
            pipe.hset(
                JOB.format(key),
                mapping={"state": state, "last_error": error, "updated_at": now},
            )
            if document is not None:
                pipe.hset(JOB.format(key), mapping=document_fields(document, settled=False))
            pipe.hset(ORDER.format(tenant, order_id), step, state)
            remember_attempt(pipe, key, now, state, error=error, unknown=unknown)
            await pipe.execute()

    async def attempts(self, key: str) -> list[dict[str, Any]]:
        """The outcomes of the step's last attempts, oldest first."""
        raw = cast(list[str], await self.redis.lrange(ATTEMPTS.format(key), 0, -1))
        return [json.loads(entry) for entry in raw]
