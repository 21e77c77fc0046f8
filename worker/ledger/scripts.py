"""The ledger's Lua scripts: every change of an event's state, and the rate limits' cell rate.

Every change of an event's state goes through `SET_STATE_LUA`, so that the per-state index
(`STATE`) and the hourly tallies (`STATS`) never drift from the events themselves: counts by
state are a ZCARD, "every failed event" a range read, never a scan of the whole ledger.
The scripts name the index keys they touch from the state itself, so the ledger needs a
standalone Redis (or one hash slot), as Dramatiq's Redis broker does. The names they spell
come from `worker.ledger.keys`.
"""

from __future__ import annotations

from worker.domain.states import BUSY_STATES
from worker.ledger.keys import STATE, STATS, STATS_KEEP_S, TALLIED

#: local function set_state(event key, event id, new state, now): moves the event between the
#: per-state indexes, stamps it, and counts the arrival in the hour's tally
SET_STATE_LUA = f"""
local function set_state(ekey, id, new, now)
  local old = redis.call('HGET', ekey, 'state')
  local at = redis.call('HGET', ekey, 'received_at') or now
  if old then redis.call('ZREM', '{STATE.format("")}' .. old, id) end
  redis.call('HSET', ekey, 'state', new, 'updated_at', now)
  redis.call('ZADD', '{STATE.format("")}' .. new, at, id)
  if old ~= new and string.find(',{",".join(TALLIED)},', ',' .. new .. ',', 1, true) then
    local hour = '{STATS.format("")}' .. math.floor(tonumber(now) / 3600)
    redis.call('HINCRBY', hour, new, 1)
    redis.call('EXPIRE', hour, {STATS_KEEP_S})
  end
end
"""

#: local function take(key, interval ms, tolerance ms): the generic cell rate algorithm; the
#: key holds the theoretical arrival time of the next request. Time is Redis's own clock, so
#: the hosts that share a limit need not agree on theirs. Returns the ms to wait, or 0 when
#: the request may go now (and is counted).
GCRA_LUA = """
local function take(key, interval, tolerance)
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  if now < tat - tolerance then return math.ceil(tat - tolerance - now) end
  local next_tat = tat + interval
  redis.call('SET', key, tostring(next_tat), 'PX', math.ceil(next_tat - now + tolerance) + 1)
  return 0
end
"""

# local function record(KEYS, ARGV). KEYS: event, events, unqueued, claim, the tenant's
# webhook rate. ARGV: event id, now, state, claim ms, rate interval ms (0: no limit), rate
# tolerance ms, then the event's field/value pairs. The tenant's webhook rate is checked
# first, so a delivery over it records nothing and answers 'wait:<ms>'. Returns false for a
# new event, else the state it was found in.
# A delivery that finds its event recorded but not queued may queue it only if it wins
# the enqueue claim (KEYS[4]): concurrent duplicates then leave it to the first delivery
# ('claimed'), while a retry after a receiver crash (claim expired) queues it again.
_RECORD_FUNCTION = """
local function record(KEYS, ARGV)
  if tonumber(ARGV[5]) > 0 then
    local wait = take(KEYS[5], tonumber(ARGV[5]), tonumber(ARGV[6]))
    if wait > 0 then return 'wait:' .. wait end
  end
  if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('HINCRBY', KEYS[1], 'deliveries', 1)
    local state = redis.call('HGET', KEYS[1], 'state')
    if state == 'received' and not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[4]) then
      return 'claimed'
    end
    return state
  end
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[4])
  redis.call('HSET', KEYS[1], unpack(ARGV, 7))
  redis.call('HSET', KEYS[1], 'deliveries', 1)
  set_state(KEYS[1], ARGV[1], ARGV[3], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  if ARGV[3] == 'received' then redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1]) end
  return false
end
"""
RECORD_LUA = SET_STATE_LUA + GCRA_LUA + _RECORD_FUNCTION + "return record(KEYS, ARGV)\n"

# local function mark_queued(event key, unqueued zset, event id, now)
_MARK_QUEUED_FUNCTION = """
local function mark_queued(ekey, unqueued, id, now)
  if redis.call('HGET', ekey, 'state') == 'received' then
    set_state(ekey, id, 'queued', now)
    redis.call('HSET', ekey, 'queued_at', now)
  end
  redis.call('ZREM', unqueued, id)
  return 1
end
"""
# KEYS: event, unqueued. ARGV: event id, now
MARK_QUEUED_LUA = (
    SET_STATE_LUA
    + _MARK_QUEUED_FUNCTION
    + "return mark_queued(KEYS[1], KEYS[2], ARGV[1], ARGV[2])\n"
)

#: what runs `record`, then the queue's own script for a new event (or one found recorded and
#: never queued, whose claim this delivery won), then `mark_queued`: one round trip.
#: KEYS: record's five, then the queue script's. ARGV: how many keys and arguments are the
#: queue script's, its arguments, then record's.
_RECORD_AND_QUEUE_MAIN = """
local queue_keys, queue_args = tonumber(ARGV[1]), tonumber(ARGV[2])
local own_args = {unpack(ARGV, 3 + queue_args)}
local found = record({unpack(KEYS, 1, 5)}, own_args)
if found == false or found == 'received' then
  queue({unpack(KEYS, 6, 5 + queue_keys)}, {unpack(ARGV, 3, 2 + queue_args)})
  mark_queued(KEYS[1], KEYS[3], own_args[1], own_args[2])
end
return found
"""


def record_and_queue_lua(queue_lua: str) -> str:
    """`RECORD_LUA` and `MARK_QUEUED_LUA` around a queue's own Lua (on the Redis broker,
    Dramatiq's dispatch script, unchanged): that script's text becomes the body of a local
    function `queue(KEYS, ARGV)`, so it writes exactly what it writes when the broker runs it,
    inside the ledger's transaction."""
    queue = f"local function queue(KEYS, ARGV)\n{queue_lua}\nend\n"
    parts = (SET_STATE_LUA, GCRA_LUA, _RECORD_FUNCTION, _MARK_QUEUED_FUNCTION, queue)
    return "".join(parts) + _RECORD_AND_QUEUE_MAIN


# KEYS: event. ARGV: event id, new state, now, then field/value pairs to set with it
RESTATE_LUA = (
    SET_STATE_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
set_state(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""
)

# KEYS: event. ARGV: event id, new state ('' keeps it), now, '1' to drop the body ('0' keeps
# it), then field/value pairs to set. What a delivery recorded as it came reads as takes its
# place, in one step: its fields set, its state moved, its body and headers dropped (kept when
# it is unreadable). Only while it is still unread and has work ahead of it (a worker reading
# it with another release's parser, an operator's discard, may have moved it on): 0 otherwise.
READ_IN_LUA = (
    SET_STATE_LUA
    + f"""
if redis.call('HEXISTS', KEYS[1], 'body') == 0 then return 0 end
local state = redis.call('HGET', KEYS[1], 'state')
if not state or not string.find(',{",".join(BUSY_STATES)},', ',' .. state .. ',', 1, true) then
  return 0
end
if ARGV[2] ~= '' then set_state(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) end
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[4] == '1' then redis.call('HDEL', KEYS[1], 'body', 'headers') end
return 1
"""
)

# KEYS: job, jobs zset, order hash. ARGV: key, event id, tenant, order id, step, now.
# Count an attempt and mark the step running, unless it is done; a step found still running
# was cut off mid-call (its worker died), so that attempt's outcome is counted unknown.
# Returns the job's fields (HGETALL), as they now stand.
START_JOB_LUA = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'done' then
  if state == 'running' then
    redis.call('HSETNX', KEYS[1], 'unknown_since', ARGV[6])
    redis.call('HINCRBY', KEYS[1], 'unknown_count', 1)
  end
  redis.call('HSET', KEYS[1], 'key', ARGV[1], 'event_id', ARGV[2], 'tenant', ARGV[3],
             'order_id', ARGV[4], 'step', ARGV[5], 'state', 'running',
             'started_at', ARGV[6], 'updated_at', ARGV[6])
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  redis.call('HSETNX', KEYS[1], 'first_started_at', ARGV[6])
  redis.call('ZADD', KEYS[2], 'NX', ARGV[6], ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[5], 'running')
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: event, paused set. ARGV: now. Returns {payload, state, paused 0|1, tenant, raw}: what
# a worker needs to start; raw is {body, headers, source, delivery_id} for a delivery recorded
# as it came (no payload). Stamps `seen_at`: a message for the event is alive
# (worker/runtime/rescue.py).
WORK_ITEM_LUA = """
local fields = redis.call('HMGET', KEYS[1], 'payload', 'state', 'tenant')
local paused = 0
local raw = false
if fields[3] then
  paused = redis.call('SISMEMBER', KEYS[2], fields[3])
  redis.call('HSET', KEYS[1], 'seen_at', ARGV[1])
  if not fields[1] then
    raw = redis.call('HMGET', KEYS[1], 'body', 'headers', 'source', 'delivery_id')
  end
end
return {fields[1], fields[2], paused, fields[3], raw}
"""
