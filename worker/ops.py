"""Ops: what an operator does with the ledger: find, inspect, retry, settle, replay, pause.

Pure of argparse, rich and dramatiq (callers pass `enqueue_many`). Bulk work goes by chunks
of `CHUNK` events, a few pipelined round trips each. An event moved to `queued` is parked in
`ib:unqueued` until its message is sent, so the receiver's sweep queues it if we die between.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from worker.domain.idempotency import job_key
from worker.domain.states import EVENT_STATES
from worker.ledger import Ledger
from worker.ledger_keys import (
    ATTEMPTS,
    EVENT,
    EVENTS,
    JOB,
    ORDER,
    PAUSED,
    SET_STATE_LUA,
    STATE,
    UNQUEUED,
)

ACTIONS = "ib:actions:{}"  #: list per event of JSON {action, who, at, note, event_id}, oldest first
ALL_ACTIONS = "ib:actions"  #: list of every operator action, newest first, capped
ACTIONS_CAP = 10_000  #: entries kept in ALL_ACTIONS
CHUNK = 1_000  #: events per pipelined batch
SCAN_MAX = 200_000  #: most events one search looks at, newest first

RETRYABLE = ("failed", "needs_attention", "retrying", "received", "queued")
FINAL = ("resolved", "discarded")
STATES = EVENT_STATES
_SUMMARY = ("id", "tenant", "source", "topic", "order_id", "order_number", "state",
            "received_at", "failures", "last_error")  # fmt: skip
_STEP = ("state", "attempts", "doctype", "docnum", "doc_id", "emailed", "last_error",
         "event_id", "started_at", "finished_at")  # fmt: skip

#: (actor name, event ids) -> every message sent
EnqueueMany = Callable[[str, Sequence[str]], Awaitable[None]]

# KEYS: event, unqueued, actions, all actions
# ARGV: ",allowed,", new state, now, entry JSON, event id, cap, queue flag, jobs' new state, fields
# The order's hash and its failed steps' job hashes are found from the event itself, here, so
# a bulk move is one script call per event and no round trips to look the keys up first.
_MOVE = (
    SET_STATE_LUA
    + f"""
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
if not string.find(ARGV[1], ',' .. state .. ',', 1, true) then return state end
set_state(KEYS[1], ARGV[5], ARGV[2], ARGV[3])
for i = 9, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[7] == '1' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5])
else redis.call('ZREM', KEYS[2], ARGV[5]) end
local where = redis.call('HMGET', KEYS[1], 'tenant', 'order_id')
if ARGV[8] ~= '' and where[1] and where[2] then
  local job = where[1] .. ':' .. where[2] .. ':'
  local order = '{ORDER.format("", "")[:-1]}' .. job:sub(1, -2)
  local steps = redis.call('HGETALL', order)
  for i = 1, #steps, 2 do
    if steps[i + 1] == 'failed' or steps[i + 1] == 'needs_attention' then
      local key = '{JOB.format("")}' .. job .. steps[i]
      redis.call('HSET', key, 'state', ARGV[8], 'updated_at', ARGV[3])
      redis.call('HSET', order, steps[i], ARGV[8])
    end
  end
end
redis.call('RPUSH', KEYS[3], ARGV[4])
redis.call('LPUSH', KEYS[4], ARGV[4]); redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[6]) - 1)
return 1
"""
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


async def find_events(ledger: Ledger, *, tenant: str | None = None, source: str | None = None,
                      order_id: str | None = None, states: Iterable[str] | None = None,
                      since: float | None = None, until: float | None = None,
                      text: str | None = None, limit: int = 100) -> list[EventSummary]:  # fmt: skip
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
            ids = cast(list[str], await ledger.redis.zrevrangebyscore(
                EVENTS, top, bottom, start=offset, num=CHUNK))  # fmt: skip
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


async def _ids_in_states(ledger: Ledger, states: Iterable[str], top: float | str,
                         bottom: float | str) -> list[str]:  # fmt: skip
    """Ids of events in any of `states` received in [bottom, top], newest first (≤ SCAN_MAX)."""
    async with ledger.redis.pipeline(transaction=False) as pipe:
        for state in states:
            pipe.zrevrangebyscore(STATE.format(state), top, bottom, start=0, num=SCAN_MAX,
                                  withscores=True)  # fmt: skip
        batches = cast(list[list[tuple[str, float]]], await pipe.execute())
    merged = sorted((pair for batch in batches for pair in batch), key=lambda p: -p[1])
    return [event_id for event_id, _ in merged[:SCAN_MAX]]


async def ids_in_states(ledger: Ledger, states: Iterable[str], *, tenant: str | None = None,
                        since: float | None = None,
                        until: float | None = None) -> list[str]:  # fmt: skip
    """Ids of the events in `states` received in [since, until], newest first, from the state
    index alone (and, for `tenant`, one field per event): what a bulk retry needs, fast."""
    top, bottom = ("+inf" if until is None else until), ("-inf" if since is None else since)
    ids = await _ids_in_states(ledger, states, top, bottom)
    if tenant is None:
        return ids
    owners: list[str | None] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        owners += [row[0] for row in await _hmget_many(ledger, [EVENT.format(i) for i in chunk],
                                                       ["tenant"])]  # fmt: skip
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


def action_entry(action: str, who: str, now: str, note: str = "", **target: str) -> str:
    return json.dumps({"action": action, "who": who, "at": float(now), "note": note} | target)


@dataclass(frozen=True)
class _Move:
    """One operator action on events: from which states, to which, by whom."""

    action: str
    allowed: tuple[str, ...]
    to: str
    who: str
    note: str = ""
    queue: bool = False  #: to "queued": reset failures, park until the message is sent
    #: what the order's failed steps become: "retrying" (retry), "resolved" (done by hand)
    jobs_to: str = ""

    def argv(self, event_id: str, now: str) -> list[str]:
        entry = action_entry(self.action, self.who, now, self.note, event_id=event_id)
        settled = [f"{self.to}_by", self.who, f"{self.to}_at", now, "note", self.note]
        fields = ["failures", "0"] if self.queue else settled
        head = [",".join(("", *self.allowed, "")), self.to, now, entry, event_id]
        return [*head, str(ACTIONS_CAP), str(int(self.queue)), self.jobs_to, *fields]


async def _move(ledger: Ledger, event_ids: Sequence[str], move: _Move) -> dict[str, str | None]:
    """Move each event allowed to; returns, per id, None if moved, else its state ("" unknown)."""
    now = f"{time.time():.6f}"
    script = ledger.redis.register_script(_MOVE)
    async with ledger.redis.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            keys = [EVENT.format(event_id), UNQUEUED, ACTIONS.format(event_id), ALL_ACTIONS]
            await script(keys=keys, args=move.argv(event_id, now), client=pipe)
        results = await pipe.execute()
    return {i: None if res == 1 else (res or "") for i, res in zip(event_ids, results, strict=True)}


async def _send(ledger: Ledger, event_ids: Sequence[str], enqueue: EnqueueMany, actor: str) -> None:
    if event_ids:
        await enqueue(actor, event_ids)
        await ledger.redis.zrem(UNQUEUED, *event_ids)


async def retry(ledger: Ledger, event_ids: Sequence[str], *, enqueue: EnqueueMany, who: str,
                actor_name: str,
                on_progress: Callable[[int], None] | None = None) -> int:  # fmt: skip
    """Queue again each event in a RETRYABLE state (others are left alone): state `queued`,
    failures 0, its order's failed steps back to `retrying`. Returns how many were queued;
    `on_progress` is told the running count after each chunk."""
    move = _Move("retry", RETRYABLE, "queued", who, queue=True, jobs_to="retrying")
    done = 0
    for start in range(0, len(event_ids), CHUNK):
        outcome = await _move(ledger, event_ids[start : start + CHUNK], move)
        moved = [event_id for event_id, refused in outcome.items() if refused is None]
        await _send(ledger, moved, enqueue, actor_name)
        done += len(moved)
        if on_progress is not None:
            on_progress(done)
    return done


async def _one(ledger: Ledger, event_id: str, move: _Move) -> None:
    refused = (await _move(ledger, [event_id], move))[event_id]
    if refused == "":
        raise UnknownEvent(f"no event {event_id} in the ledger")
    if refused is not None:
        raise NotAllowed(f"event {event_id} is {refused}; cannot {move.action} it")


async def discard(ledger: Ledger, event_id: str, *, who: str, note: str) -> None:
    """Mark an unfinished event `discarded` (nothing is to be made for it); final.
    Raises UnknownEvent or NotAllowed, and changes nothing, when it cannot."""
    await _one(ledger, event_id, _Move("discard", RETRYABLE, "discarded", who, note))


async def resolve(ledger: Ledger, event_id: str, *, who: str, note: str) -> None:
    """Mark an unfinished event `resolved` (a person fixed it by hand); final.
    Raises UnknownEvent or NotAllowed, and changes nothing, when it cannot."""
    move = _Move("resolve", RETRYABLE, "resolved", who, note, jobs_to="resolved")
    await _one(ledger, event_id, move)


async def replay(ledger: Ledger, event_id: str, *, enqueue: EnqueueMany, who: str,
                 actor_name: str) -> None:  # fmt: skip
    """Run a done event through the planner again; its done steps make it change nothing.
    Raises UnknownEvent or NotAllowed, and changes nothing, when it cannot."""
    await _one(ledger, event_id, _Move("replay", ("done",), "queued", who, queue=True))
    await _send(ledger, [event_id], enqueue, actor_name)


async def _flag(ledger: Ledger, tenant: str, who: str, action: str) -> bool:
    async with ledger.redis.pipeline(transaction=True) as pipe:
        (pipe.sadd if action == "pause" else pipe.srem)(PAUSED, tenant)
        pipe.lpush(ALL_ACTIONS, action_entry(action, who, f"{time.time():.6f}", tenant=tenant))
        pipe.ltrim(ALL_ACTIONS, 0, ACTIONS_CAP - 1)
        changed, *_ = await pipe.execute()
    return bool(changed)


async def pause(ledger: Ledger, tenant: str, who: str) -> bool:
    """Hold back the tenant's events (workers check `is_paused`); False if already paused."""
    return await _flag(ledger, tenant, who, "pause")


async def resume(ledger: Ledger, tenant: str, who: str) -> bool:
    """Let the tenant's events run again; False if it was not paused."""
    return await _flag(ledger, tenant, who, "resume")


async def is_paused(ledger: Ledger, tenant: str) -> bool:
    """Whether workers should hold back this tenant's events."""
    return bool(await ledger.redis.sismember(PAUSED, tenant))
