"""Honouring a service's rate limit inside one worker process, without spending job retries.

When a service answers 429 with `Retry-After`, every call to that account from this
process waits until then (not only the call that was refused), and the refused call
is tried again, up to `INLINE_WAITS` times, before the job itself is rescheduled
with `RateLimited`. So a burst slows down to the service's pace instead of failing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from worker.errors import RateLimited

#: how often a refused call waits and tries again before the job is rescheduled
INLINE_WAITS = 8
#: waits longer than this are left to the queue (ms)
MAX_INLINE_WAIT_MS = 15_000

_T = TypeVar("_T")
_PACERS: dict[tuple[str, str], Pacer] = {}


class Pacer:
    """The earliest moment the next call to one account may go out."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.not_before = 0.0

    def hold(self, seconds: float) -> None:
        self.not_before = max(self.not_before, self.clock() + seconds)

    async def wait(self) -> None:
        delay = self.not_before - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def call(self, send: Callable[[], Awaitable[_T]]) -> _T:
        """`send()`, waiting out 429s in line (a 429 means the service did nothing)."""
        for attempt in range(INLINE_WAITS + 1):
            await self.wait()
            try:
                return await send()
            except RateLimited as exc:
                delay_ms = exc.delay_ms or 1_000
                self.hold(delay_ms / 1000)
                if attempt == INLINE_WAITS or delay_ms > MAX_INLINE_WAIT_MS:
                    raise
        raise AssertionError("unreachable")


def pacer_for(base_url: str, account: str) -> Pacer:
    """The process-wide pacer of one account of one service."""
    return _PACERS.setdefault((base_url, account), Pacer())


def pacing_key(tenant: str | None, account: str) -> str:
    """The `account` a client paces under: its tenant's id when it has one, so one tenant's
    429 never holds another tenant's calls (issue 17, item 9), else the account's own name
    (a client built outside any tenant, as in a test)."""
    return f"tenant:{tenant}" if tenant else account
