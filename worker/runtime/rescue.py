"""Events whose queue message was lost are queued again.

The ledger may say an event still has work ahead of it (queued, running, retrying) while the
queue holds no message for it: a Redis fail-over or a crash took the last second of writes,
and with them a retry that was scheduled, or someone emptied the queue by hand. Nothing
would ever run that event again. Every few minutes a receiver looks for such events:

1. candidates: busy events that nothing has touched for `stall_after_s` (no state change, no
   worker picked a message up: `seen_at`, stamped on every pick-up, and no earlier rescue);
2. the queue's messages (Dramatiq's Redis hashes, ready and delayed, in flight included) are
   read for the event ids they carry; when the queue is too long to read the look is put off,
   since a long queue also explains a long wait;
3. each candidate with no message is claimed in one script (still busy, still untouched,
   stamped `rescued_at` so no other receiver claims it too) and sent again, with an entry in
   its action log. A duplicate message would be harmless: the worker finds the steps done.

Only for the Redis broker; RabbitMQ's persistent messages on durable queues are not read here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import structlog

from worker.ledger.keys import EVENT, STATE
from worker.ledger.ledger import Ledger
from worker.ops.actions import ACTIONS, ACTIONS_CAP, ALL_ACTIONS, EnqueueMany, action_entry
from worker.ops.overview import QueueNames

log = structlog.get_logger("worker.rescue")

#: states in which an event waits for a message to run it
RESCUABLE = ("queued", "running", "retrying")
CANDIDATES_MAX = 1_000  #: oldest untouched events looked at per state and round
QUEUE_READ_MAX = 50_000  #: a queue holding more messages than this is not read this round
WHO = "invoicebridge (lost message)"

_LAST_TOUCH = """
local function last_touch(key)
  local f = redis.call('HMGET', key, 'updated_at', 'seen_at', 'rescued_at')
  return math.max(tonumber(f[1]) or 0, tonumber(f[2]) or 0, tonumber(f[3]) or 0)
end
"""

# ARGV: cutoff (unix s), most per state, states. Returns the untouched busy events' ids.
_CANDIDATES = (
    _LAST_TOUCH
    + f"""
local found = {{}}
for i = 3, #ARGV do
  local ids = redis.call('ZRANGEBYSCORE', '{STATE.format("")}' .. ARGV[i], '-inf', ARGV[1],
                         'LIMIT', 0, tonumber(ARGV[2]))
  for _, id in ipairs(ids) do
    if last_touch('{EVENT.format("")}' .. id) < tonumber(ARGV[1]) then
      table.insert(found, id)
    end
  end
end
return found
"""
)

# KEYS: event, its actions, all actions. ARGV: cutoff, now, ",states,", entry, cap.
# Returns 1 when this caller may send the event again.
_CLAIM = (
    _LAST_TOUCH
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or not string.find(ARGV[3], ',' .. state .. ',', 1, true) then return 0 end
if last_touch(KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'rescued_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'rescues', 1)
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('LPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
return 1
"""
)


async def ids_in_queue(ledger: Ledger, names: QueueNames) -> set[str] | None:
    """The event ids of every message in the queue (ready, in flight, delayed); None when
    it holds more than `QUEUE_READ_MAX` messages."""
    base = f"{names.namespace}:{names.queue}"
    hashes = (f"{base}.msgs", f"{base}.DQ.msgs")
    async with ledger.redis.pipeline(transaction=False) as pipe:
        for key in hashes:
            pipe.hlen(key)
        sizes = await pipe.execute()
    if sum(sizes) > QUEUE_READ_MAX:
        return None
    found: set[str] = set()
    for key in hashes:
        async for _id, body in ledger.redis.hscan_iter(key, count=1_000):
            args = json.loads(body).get("args") or [None]
            found.add(str(args[0]))
    return found


@dataclass
class Rescuer:
    """Finds events with no message and queues them again; one per receiver."""

    ledger: Ledger
    names: QueueNames
    enqueue: EnqueueMany
    actor: str
    stall_after_s: float

    def __post_init__(self) -> None:
        self._claim_script = self.ledger.redis.register_script(_CLAIM)

    async def rescue_once(self) -> list[str]:
        """One round: the ids of the events sent again (most often none)."""
        now = time.time()
        cutoff = f"{now - self.stall_after_s:.6f}"
        found = await self.ledger.redis.eval(_CANDIDATES, 0, cutoff, CANDIDATES_MAX, *RESCUABLE)
        candidates = cast(list[str], found)
        if not candidates:
            return []
        in_queue = await ids_in_queue(self.ledger, self.names)
        if in_queue is None:
            log.info("rescue_put_off", reason="queue too long to read", candidates=len(candidates))
            return []
        orphans = [event_id for event_id in candidates if event_id not in in_queue]
        claimed = await self._claim(orphans, f"{now:.6f}", cutoff)
        if claimed:
            await self.enqueue(self.actor, claimed)
            log.warning("lost_messages_requeued", count=len(claimed), event_ids=claimed[:20])
        return claimed

    async def _claim(self, event_ids: Sequence[str], now: str, cutoff: str) -> list[str]:
        if not event_ids:
            return []
        states = ",".join(("", *RESCUABLE, ""))
        note = f"no queue message for {self.stall_after_s:g} s; sent again"
        script = self._claim_script
        async with self.ledger.redis.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                entry = action_entry("requeue", WHO, now, note, event_id=event_id)
                keys = [EVENT.format(event_id), ACTIONS.format(event_id), ALL_ACTIONS]
                await script(keys=keys, args=[cutoff, now, states, entry, ACTIONS_CAP], client=pipe)
            won = await pipe.execute()
        return [event_id for event_id, ok in zip(event_ids, won, strict=True) if ok]
