"""The order lock's keeper: renews a held lock (and whatever is held with it) until told to
stop. Split from `worker.jobs.process`, whose `_locked` takes the lock and runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

log = structlog.get_logger("worker.jobs")

#: renews something held for as long as the order lock (a tenant's concurrency slot)
Renew = Callable[[], Awaitable[None]]


async def pause(seconds: float, stop: asyncio.Event) -> bool:
    """Wait `seconds`, or less if `stop` is set meanwhile; whether it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
    return stop.is_set()


async def renew_until(
    lock: Lock, ttl_s: float, done: asyncio.Event, also: Renew | None = None
) -> None:
    """Renew the order's lock every third of its TTL until `done`, so a long job keeps its
    order however long its provider takes, while a dead worker's lock still expires within
    one TTL. A renewal under way when `done` is set finishes first (Redis socket timeouts
    bound it)."""
    while not await pause(ttl_s / 3, done):
        try:
            await lock.reacquire()
            if also is not None:
                await also()
        except LockError:  # no longer ours: it expired (a long Redis outage) and was taken
            log.warning("order_lock_lost", ttl_s=ttl_s)
            return
        except RedisError as exc:  # Redis away for a moment: try again at the next third
            log.warning("order_lock_not_renewed", error=type(exc).__name__)
