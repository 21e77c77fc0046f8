"""Ops: what an operator does with the ledger: retry, settle, replay, pause (finding and
inspecting are in `worker.ops.find`, re-exported here, so callers need only `worker.ops.actions`).

Pure of argparse, rich and dramatiq (callers pass `enqueue_many`). Bulk work goes by chunks
of `CHUNK` events, a few pipelined round trips each. An event moved to `queued` is parked in
`ib:unqueued` until its message is sent, so the receiver's sweep queues it if we die between.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from worker.domain.events import IgnoredDelivery, OrderEvent
from worker.domain.states import EVENT_STATES
from worker.ledger.keys import (
    ACTIONS,
    ALL_ACTIONS,
    EVENT,
    JOB,
    ORDER,
    PAUSED,
    UNQUEUED,
)
from worker.ledger.ledger import Ledger
from worker.ledger.records import flat_fields, read_fields
from worker.ledger.scripts import SET_STATE_LUA
from worker.ops.find import (
    ACTIONS_CAP,
    CHUNK,
    SCAN_MAX,
    EventFilter,
    EventSummary,
    NotAllowed,
    OpsError,
    UnknownEvent,
    event_detail,
    find_events,
    ids_in_states,
    is_paused,
    states_of,
)

__all__ = [
    "ACTIONS",
    "ACTIONS_CAP",
    "ALL_ACTIONS",
    "CHUNK",
    "FINAL",
    "RETRYABLE",
    "SCAN_MAX",
    "SETTLEABLE",
    "STATES",
    "EnqueueMany",
    "EventFilter",
    "EventSummary",
    "NotAllowed",
    "OpsError",
    "UnknownEvent",
    "action_entry",
    "discard",
    "event_detail",
    "find_events",
    "ids_in_states",
    "is_paused",
    "pause",
    "replay",
    "reread",
    "resolve",
    "resume",
    "retry",
    "states_of",
]

RETRYABLE = ("failed", "needs_attention", "retrying", "received", "queued")
#: what an operator may discard or resolve: anything unfinished, a kept unreadable delivery too
SETTLEABLE = (*RETRYABLE, "unreadable")
FINAL = ("resolved", "discarded")
STATES = EVENT_STATES

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
    #: fields written with the move (name, value, ...): a re-read delivery's event
    fields: tuple[str, ...] = ()

    def argv(self, event_id: str, now: str) -> list[str]:
        entry = action_entry(self.action, self.who, now, self.note, event_id=event_id)
        settled = [f"{self.to}_by", self.who, f"{self.to}_at", now, "note", self.note]
        fields = ["failures", "0"] if self.queue else settled
        head = [",".join(("", *self.allowed, "")), self.to, now, entry, event_id]
        return [*head, str(ACTIONS_CAP), str(int(self.queue)), self.jobs_to, *fields, *self.fields]


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


async def retry(
    ledger: Ledger,
    event_ids: Sequence[str],
    *,
    enqueue: EnqueueMany,
    who: str,
    actor_name: str,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Queue again each event in a RETRYABLE state (others are left alone): state `queued`,
    failures 0, its order's failed steps back to `retrying`. Returns how many were queued;
    after each chunk, `on_progress` is told how many of `event_ids` are dealt with so far
    (queued or left alone), so a caller's bar ends at `len(event_ids)`."""
    move = _Move("retry", RETRYABLE, "queued", who, queue=True, jobs_to="retrying")
    done = 0
    for start in range(0, len(event_ids), CHUNK):
        chunk = event_ids[start : start + CHUNK]
        outcome = await _move(ledger, chunk, move)
        moved = [event_id for event_id, refused in outcome.items() if refused is None]
        await _send(ledger, moved, enqueue, actor_name)
        done += len(moved)
        if on_progress is not None:
            on_progress(start + len(chunk))
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
    await _one(ledger, event_id, _Move("discard", SETTLEABLE, "discarded", who, note))


async def resolve(ledger: Ledger, event_id: str, *, who: str, note: str) -> None:
    """Mark an unfinished event `resolved` (a person fixed it by hand); final.
    Raises UnknownEvent or NotAllowed, and changes nothing, when it cannot."""
    move = _Move("resolve", SETTLEABLE, "resolved", who, note, jobs_to="resolved")
    await _one(ledger, event_id, move)


async def replay(
    ledger: Ledger, event_id: str, *, enqueue: EnqueueMany, who: str, actor_name: str
) -> None:
    """Run a done event through the planner again; its done steps make it change nothing.
    Raises UnknownEvent or NotAllowed, and changes nothing, when it cannot."""
    await _one(ledger, event_id, _Move("replay", ("done",), "queued", who, queue=True))
    await _send(ledger, [event_id], enqueue, actor_name)


async def reread(
    ledger: Ledger,
    item: OrderEvent | IgnoredDelivery,
    *,
    enqueue: EnqueueMany,
    who: str,
    actor_name: str,
) -> str:
    """Put what a kept `unreadable` delivery reads as now (`item`, made by the receiver's
    current parsers under the same event id) in its place: an order event is queued, a
    delivery we do not act on is `ignored`. Returns the new state.
    Raises UnknownEvent or NotAllowed, and changes nothing, when it cannot."""
    fields: tuple[str, ...] = ("topic", item.topic, "last_error", "")
    if isinstance(item, OrderEvent):  # as the record of an event read on arrival has them
        fields += tuple(flat_fields(read_fields(item)))
    to = "queued" if isinstance(item, OrderEvent) else "ignored"
    move = _Move("replay", ("unreadable",), to, who, queue=to == "queued", fields=fields)
    await _one(ledger, item.event_id, move)
    # what it reads as stands now: the delivery as it came goes (a crash before this line
    # leaves it beside the event, shown and pruned with it, never read again)
    await ledger.redis.hdel(EVENT.format(item.event_id), "raw", "body", "headers")
    if to == "queued":
        await _send(ledger, [item.event_id], enqueue, actor_name)
    return to


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
