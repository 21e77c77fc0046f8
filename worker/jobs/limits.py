"""Per-tenant limits that hold across every worker on every host: Redis is their one source.

A tenant may cap how many of its events run at once (`max_concurrent_events`) and how many
start per second (`events_per_s`, with a `burst`). An event over either limit is put back on
the queue to start later (`jobs.RetryLater`), which spends none of its retries: the limits
delay work, they never fail it. The rate is a GCRA (generic cell rate) in one script; the
concurrency is a lease set in another, each lease renewed with the order lock while its job
runs and expiring one lock TTL after the last renewal, so a worker that dies gives its slot
back on its own, as soon as its order locks.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis

from worker.ledger.keys import LIMIT_RATE, LIMIT_SLOTS
from worker.ledger.scripts import GCRA_LUA
from worker.settings import LimitSettings

RATE = LIMIT_RATE  #: named in worker.ledger.keys
SLOTS = LIMIT_SLOTS

# KEYS: rate key. ARGV: interval ms, tolerance ms. Returns ms to wait (0: go now).
_TAKE = GCRA_LUA + "return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))"

# KEYS: slots zset. ARGV: token, now ms, lease ms, most at once. Returns 1 if taken.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


@dataclass(frozen=True)
class Admission:
    """Whether an event may start now; if not, how long until it should try again."""

    slot: str | None  #: the lease to give back when the event is done (None: no cap)
    wait_ms: int = 0
    reason: str = ""

    @property
    def admitted(self) -> bool:
        return self.wait_ms == 0


class TenantLimits:
    """Admits a tenant's events under its limits; one per worker process."""

    def __init__(self, client: aioredis.Redis, lease_ms: int) -> None:
        self.redis = client
        self.lease_ms = lease_ms
        self._take = client.register_script(_TAKE)
        self._acquire = client.register_script(_ACQUIRE)

    async def admit(self, tenant: str, limits: LimitSettings) -> Admission:
        """Take a start (rate) and a slot (concurrency), or say how long to wait."""
        now = int(time.time() * 1000)
        if limits.events_per_s is not None:
            interval = 1000 / limits.events_per_s
            args = [interval, interval * (limits.burst - 1)]
            wait = int(await self._take(keys=[RATE.format(tenant)], args=args))
            if wait > 0:
                return Admission(None, wait, "tenant rate limit")
        if limits.max_concurrent_events is None:
            return Admission(None)
        token = uuid.uuid4().hex
        slot_args: list[str | int] = [token, now, self.lease_ms, limits.max_concurrent_events]
        if not await self._acquire(keys=[SLOTS.format(tenant)], args=slot_args):
            return Admission(None, 250, "tenant at its concurrency limit")
        return Admission(token)

    async def renew(self, tenant: str, admission: Admission) -> None:
        """Extend a held slot by another lease (the job is still running); a slot already
        expired and taken back is not brought back (ZADD XX)."""
        if admission.slot is not None:
            expires = int(time.time() * 1000) + self.lease_ms
            await self.redis.zadd(SLOTS.format(tenant), {admission.slot: expires}, xx=True)
            await self.redis.pexpire(SLOTS.format(tenant), self.lease_ms)

    async def release(self, tenant: str, admission: Admission) -> None:
        if admission.slot is not None:
            await self.redis.zrem(SLOTS.format(tenant), admission.slot)
