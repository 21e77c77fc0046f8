"""Ops, the reading half: find events, show one in full, read states and flags. Nothing here
changes the ledger; `worker.ops.actions` acts (and re-exports all of this)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from worker.domain.idempotency import job_key
from worker.ledger.keys import (
    ACTIONS,
    ATTEMPTS,
    EVENT,
    EVENTS,
    JOB,
    ORDER,
    PAUSED,
    STATE,
)
from worker.ledger.ledger import Ledger

ACTIONS_CAP = 10_000  #: entries kept in ALL_ACTIONS
CHUNK = 1_000  #: events per pipelined batch
SCAN_MAX = 200_000  #: most events one search looks at, newest first

_SUMMARY = (
    "id",
    "tenant",
    "source",
    "topic",
    "order_id",
    "order_number",
    "state",
    "received_at",
    "failures",
    "last_error",
)
_STEP = (
    "state",
    "attempts",
    "doctype",
    "docnum",
    "doc_id",
    "emailed",
    "last_error",
    "event_id",
    "started_at",
    "finished_at",
)


class OpsError(Exception):
    """An operator's request that cannot be carried out as asked; nothing was changed."""


class UnknownEvent(OpsError):
    """No event with this id is in the ledger."""


class NotAllowed(OpsError):
    """The event's state does not allow the action (e.g. retrying a done event)."""


@dataclass(frozen=True)
class EventSummary:
    """One line of `jobs list`: what the ledger says of an event, without its payload."""

    event_id: str
    tenant: str
    source: str
    topic: str
    order_id: str
    order_number: str
    state: str
    received_at: float
    failures: int
    last_error: str

    @classmethod
    def from_fields(cls, values: Sequence[str | None]) -> EventSummary:
        raw = {key: value or "" for key, value in zip(_SUMMARY, values, strict=True)}
        when, failures = float(raw.pop("received_at") or 0), int(raw.pop("failures") or 0)
        return cls(event_id=raw.pop("id"), received_at=when, failures=failures, **raw)


@dataclass(frozen=True)
class EventFilter:
    """Which events a search keeps; None matches anything."""

    tenant: str | None = None
    source: str | None = None
    order: str | None = None  #: the order's id or its number ("#1001" or "1001")
    states: frozenset[str] | None = None
    text: str | None = None  #: case-insensitive, in the last error or the order number

    def matches(self, event: EventSummary) -> bool:
        orders = {event.order_id, event.order_number, event.order_number.lstrip("#")}
        text = (self.text or "").casefold()
        return (
            self.tenant in (None, event.tenant)
            and self.source in (None, event.source)
            and (self.order is None or self.order in orders)
            and (self.states is None or event.state in self.states)
            and (text in event.last_error.casefold() or text in event.order_number.casefold())
        )


async def find_events(
    ledger: Ledger,
    *,
    tenant: str | None = None,
    source: str | None = None,
    order_id: str | None = None,
    states: Iterable[str] | None = None,
    since: float | None = None,
    until: float | None = None,
    text: str | None = None,
    limit: int = 100,
) -> list[EventSummary]:
    """Events received in [since, until] (unix s) that match every filter given, newest first.
    With `states`, only those states' indexes are read, not the whole ledger."""
    wanted = EventFilter(tenant, source, order_id, frozenset(states) if states else None, text)
    top, bottom = ("+inf" if until is None else until), ("-inf" if since is None else since)
    found: list[EventSummary] = []
    seen: set[str] = set()
    offset = 0
    while len(found) < limit and offset < SCAN_MAX:
        if wanted.states is not None:  # the state indexes hold exactly the candidates
            ids, offset = await _ids_in_states(ledger, wanted.states, top, bottom), SCAN_MAX
        else:
            ids = cast(
                list[str],
                await ledger.redis.zrevrangebyscore(EVENTS, top, bottom, start=offset, num=CHUNK),
            )
            offset += len(ids)  # a newer event shifts the window back: re-read, never skipped
        fresh = [event_id for event_id in ids if event_id not in seen]
        seen.update(fresh)
        for start in range(0, len(fresh), CHUNK):
            keys = [EVENT.format(i) for i in fresh[start : start + CHUNK]]
            rows = map(EventSummary.from_fields, await _hmget_many(ledger, keys, _SUMMARY))
            found += [e for e in rows if e.event_id and wanted.matches(e)]
            if len(found) >= limit:
                break
        if not ids:
            break
    return found[:limit]


async def _ids_in_states(
    ledger: Ledger, states: Iterable[str], top: float | str, bottom: float | str
) -> list[str]:
    """Ids of events in any of `states` received in [bottom, top], newest first (≤ SCAN_MAX)."""
    async with ledger.redis.pipeline(transaction=False) as pipe:
        for state in states:
            pipe.zrevrangebyscore(
                STATE.format(state), top, bottom, start=0, num=SCAN_MAX, withscores=True
            )
        batches = cast(list[list[tuple[str, float]]], await pipe.execute())
    merged = sorted((pair for batch in batches for pair in batch), key=lambda p: -p[1])
    return [event_id for event_id, _ in merged[:SCAN_MAX]]


async def ids_in_states(
    ledger: Ledger,
    states: Iterable[str],
    *,
    tenant: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[str]:
    """Ids of the events in `states` received in [since, until], newest first, from the state
    index alone (and, for `tenant`, one field per event): what a bulk retry needs, fast."""
    top, bottom = ("+inf" if until is None else until), ("-inf" if since is None else since)
    ids = await _ids_in_states(ledger, states, top, bottom)
    if tenant is None:
        return ids
    owners: list[str | None] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        owners += [
            row[0]
            for row in await _hmget_many(ledger, [EVENT.format(i) for i in chunk], ["tenant"])
        ]
    return [event_id for event_id, owner in zip(ids, owners, strict=True) if owner == tenant]


async def _hmget_many(ledger: Ledger, keys: Sequence[str], fields: Sequence[str]) -> list[Any]:
    """HMGET of the same fields from many hashes, in one round trip."""
    async with ledger.redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, list(fields))
        return await pipe.execute()


async def event_detail(ledger: Ledger, event_id: str) -> dict[str, Any]:
    """The event's ledger fields (no payload), its order's steps and the operators' actions.
    Raises UnknownEvent."""
    fields = await ledger.event(event_id)
    if not fields:
        raise UnknownEvent(f"no event {event_id} in the ledger")
    fields.pop("payload", None)
    tenant, order_id = fields.get("tenant", ""), fields.get("order_id", "")
    steps = sorted(cast(list[str], await ledger.redis.hkeys(ORDER.format(tenant, order_id))))
    keys = [JOB.format(job_key(tenant, order_id, step)) for step in steps]
    jobs = zip(steps, await _hmget_many(ledger, keys, _STEP), strict=True)
    rows = [{"step": step} | dict(zip(_STEP, job, strict=True)) for step, job in jobs]
    async with ledger.redis.pipeline(transaction=False) as pipe:
        for step in steps:
            pipe.lrange(ATTEMPTS.format(job_key(tenant, order_id, step)), 0, -1)
        histories = await pipe.execute()
    for row, history in zip(rows, histories, strict=True):
        row["attempts_log"] = [json.loads(entry) for entry in history]
    actions = [json.loads(a) for a in await ledger.redis.lrange(ACTIONS.format(event_id), 0, -1)]
    paused = await is_paused(ledger, tenant)
    return {"event": fields, "tenant_paused": paused, "steps": rows, "actions": actions}


async def states_of(ledger: Ledger, event_ids: Sequence[str]) -> dict[str, str | None]:
    """Each event's state, None for an unknown id."""
    rows = await _hmget_many(ledger, [EVENT.format(event_id) for event_id in event_ids], ["state"])
    return {event_id: row[0] for event_id, row in zip(event_ids, rows, strict=True)}


async def is_paused(ledger: Ledger, tenant: str) -> bool:
    """Whether workers should hold back this tenant's events."""
    return bool(await ledger.redis.sismember(PAUSED, tenant))
