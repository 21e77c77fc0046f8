"""The ledger's record of job steps: one hash per `tenant:order:step`, attempts and outcomes.

A step that is `done` is never run again; a failed one stays until an operator acts. Each
attempt's outcome is kept (the last `HISTORY_KEEP`) so on-call can see how a step got here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import redis.asyncio as aioredis
from redis.asyncio.lock import Lock
from redis.commands.core import AsyncScript

from worker.domain.redaction import redact_text
from worker.ledger.keys import ATTEMPTS, JOB, JOBS, LOCK, ORDER
from worker.providers.base import DocumentRef

JobFailure = Literal["failed", "retrying", "needs_attention"]
HISTORY_KEEP = 50  #: attempts remembered per step


@dataclass(frozen=True)
class JobRecord:
    """What the ledger knows of one step."""

    key: str
    state: str
    attempts: int
    doctype: str | None = None
    docnum: str | None = None
    doc_url: str | None = None
    emailed: bool = False
    last_error: str | None = None
    doc_id: str | None = None
    #: when an attempt's outcome first became unknown (lost answer, worker died mid-call)
    unknown_since: float | None = None
    unknown_count: int = 0  #: how many attempts ended that way
    card_type: str | None = None  #: a charge step's card type ("VISA")
    first_started_at: float | None = None  #: when the step's first attempt began (unix s)

    def document(self) -> DocumentRef | None:
        """The provider's document this step made, if it made one."""
        if not self.doctype or not self.docnum:
            return None
        return DocumentRef(
            doctype=self.doctype,
            docnum=self.docnum,
            doc_id=self.doc_id or None,
            doc_url=self.doc_url or None,
            emailed=self.emailed,
            card_type=self.card_type or None,
        )


def _now() -> str:
    return f"{time.time():.6f}"


def _remember(pipe: Any, key: str, now: str, state: str, **details: object) -> None:
    """Queue, on `pipe`, one attempt's outcome onto the step's capped history."""
    entry = json.dumps({"at": float(now), "state": state} | details)
    pipe.rpush(ATTEMPTS.format(key), entry)
    pipe.ltrim(ATTEMPTS.format(key), -HISTORY_KEEP, -1)


def job_record(key: str, raw: dict[str, str]) -> JobRecord:
    """A JobRecord from the job hash's fields."""
    return JobRecord(
        key=key,
        state=raw.get("state", "unknown"),
        attempts=int(raw.get("attempts", 0)),
        doctype=raw.get("doctype"),
        docnum=raw.get("docnum"),
        doc_url=raw.get("doc_url"),
        doc_id=raw.get("doc_id"),
        card_type=raw.get("card_type"),
        emailed=raw.get("emailed") == "1",
        last_error=raw.get("last_error"),
        unknown_since=float(raw["unknown_since"]) if raw.get("unknown_since") else None,
        unknown_count=int(raw.get("unknown_count", 0)),
        first_started_at=float(raw["first_started_at"]) if raw.get("first_started_at") else None,
    )


class JobLedger:
    """Job steps in the ledger; `Ledger` is one of these plus events and orders."""

    redis: aioredis.Redis
    _start_job: AsyncScript

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
            keys=keys, args=[key, event_id, tenant, order_id, step, _now()]
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
        now = _now()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                JOB.format(key),
                mapping={
                    "state": "done",
                    "doctype": document.doctype,
                    "docnum": document.docnum,
                    "doc_id": document.doc_id or "",
                    "doc_url": document.doc_url or "",
                    "card_type": document.card_type or "",
                    "emailed": "1" if document.emailed else "0",
                    "finished_at": now,
                    "updated_at": now,
                },
            )
            pipe.hdel(JOB.format(key), "last_error", "email_intent_at")  # settled: done
            pipe.hset(ORDER.format(tenant, order_id), step, "done")
            _remember(pipe, key, now, "done", document=f"{document.doctype} {document.docnum}")
            await pipe.execute()

    async def begin_email(self, key: str) -> bool:
        """Record that this attempt is about to hand the step's email to SMTP; whether an
        earlier attempt had begun to and its outcome was never settled
        (worker/jobs/email_once.py)."""
        now = _now()
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
            _remember(pipe, key, _now(), state, **details)
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
        now, error = _now(), redact_text(error)[:2000]
        async with self.redis.pipeline(transaction=True) as pipe:
            if unknown:
                pipe.hsetnx(JOB.format(key), "unknown_since", now)
                pipe.hincrby(JOB.format(key), "unknown_count", 1)
            pipe.hset(
                JOB.format(key),
                mapping={"state": state, "last_error": error, "updated_at": now},
            )
            if document is not None:
                pipe.hset(
                    JOB.format(key),
                    mapping={
                        "doctype": document.doctype,
                        "docnum": document.docnum,
                        "doc_id": document.doc_id or "",
                        "doc_url": document.doc_url or "",
                    },
                )
            pipe.hset(ORDER.format(tenant, order_id), step, state)
            _remember(pipe, key, now, state, error=error, unknown=unknown)
            await pipe.execute()

    async def attempts(self, key: str) -> list[dict[str, Any]]:
        """The outcomes of the step's last attempts, oldest first."""
        raw = cast(list[str], await self.redis.lrange(ATTEMPTS.format(key), 0, -1))
        return [json.loads(entry) for entry in raw]
