"""What the ledger says about a run's events, read straight from Redis (read-only).

Reconciliation must not trust the receiver's answers alone: an order with no document is
only a *visible* failure if the ledger holds its event as `failed` or `needs_attention`.
`wait_quiet` lets the workers finish first: it polls the ledger's per-state counts
(one round trip) until nothing is received, queued, running or retrying for a while.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from worker.domain.states import BUSY_STATES
from worker.ledger.keys import EVENT
from worker.ledger.ledger import Ledger

__all__ = ["BUSY_STATES", "ledger_states", "wait_quiet"]

_CHUNK = 1_000  #: events per pipelined read


async def ledger_states(redis_url: str, event_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(state, last error) of each event, in order; ("", "") for one the ledger lacks."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    found: list[tuple[str, str]] = []
    try:
        for start in range(0, len(event_ids), _CHUNK):
            async with client.pipeline(transaction=False) as pipe:
                for event_id in event_ids[start : start + _CHUNK]:
                    pipe.hmget(EVENT.format(event_id), ["state", "last_error"])
                rows = cast(list[list[str | None]], await pipe.execute())
            found += [(state or "", error or "") for state, error in rows]
    finally:
        await client.aclose()
    return found


async def wait_quiet(
    redis_url: str,
    timeout: float,
    *,
    settle: float = 1.0,
    poll: float = 0.2,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[bool, dict[str, int]]:
    """Wait until no event is busy (`BUSY_STATES`) and it stays so for `settle` seconds.

    Returns (quiet, the ledger's counts by state); when `timeout` runs out first, quiet says
    whether nothing was busy at the last look. At each look `on_progress(settled, total)` is
    told how many of the ledger's events are settled (in no busy state) and how many it holds.
    """
    ledger = Ledger.from_url(redis_url)
    deadline, quiet_since = time.monotonic() + timeout, None
    try:
        counts: dict[str, int] = {}
        while True:
            try:
                counts, unknown = await ledger.count_by_state(), False
            except RedisError:  # a restart or fail-over under way: not quiet, look again
                unknown = True
            busy = sum(counts.get(state, 0) for state in BUSY_STATES)
            if on_progress is not None and not unknown:
                total = sum(counts.values())
                on_progress(total - busy, total)
            now = time.monotonic()
            if unknown or busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            if quiet_since is not None and now - quiet_since >= settle:
                return True, counts
            if now >= deadline:
                return not (unknown or busy), counts
            await asyncio.sleep(poll)
    finally:
        await ledger.close()
