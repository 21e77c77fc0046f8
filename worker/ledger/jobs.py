"""The ledger's job records: one record per step of an order (`tenant:order:step`), its
attempts and their outcomes. A step that is `done` is never run again. `Ledger` (`ledger`)
is built on this, and keeps the events.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from worker.domain.redaction import redact_text
from worker.ledger.keys import ATTEMPTS, JOB, JOBS, ORDER
from worker.ledger.records import (
    JobFailure,
    JobRecord,
    document_fields,
    job_record,
    now_text,
    remember_attempt,
)
from worker.ledger.scripts import START_JOB_LUA
from worker.providers.base import DocumentRef

__all__ = ["JobLedger"]


class JobLedger:
    """Async access to the job records; `Ledger` adds the events, orders and payments."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client
        self._start_job = client.register_script(START_JOB_LUA)

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
