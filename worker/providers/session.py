"""A provider's login session, shared by a client's concurrent calls (iCash's `ses`, iCount's
`sid`): one login at a time, and a call whose session went stale logs in again only if no
other call has already done so."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class SharedSession:
    """The current session id; `open` is the login that makes a new one."""

    def __init__(self, open_session: Callable[[], Awaitable[str]]) -> None:
        self._open_session = open_session
        self._current: str | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Log in now; later calls use the new session."""
        self._current = await self._open_session()

    async def current(self, *, stale: str | None = None) -> str:
        """The session to call with: logged in first when there is none yet, or when it is
        still the `stale` one a call was just refused with."""
        async with self._lock:
            if self._current is None or self._current == stale:
                await self.open()
            assert self._current is not None
            return self._current
