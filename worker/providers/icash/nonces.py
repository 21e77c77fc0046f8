"""iCash nonces: strictly increasing per api_key, across restarts and across processes.

iCash refuses a nonce not greater than the last one its api_key sent (providers.md
D.3.2), and the documentation's examples are 10-digit Unix seconds. `RedisNonces` is
one Redis counter per api_key, never below the clock in seconds, shared by every
worker process on the key. `ProcessNonces` keeps the counter in the process, for
one-off commands (`invoicebridge check`) and tests without Redis; it starts from the
clock in seconds too.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

from worker.ledger.keys import ICASH_NONCE

#: INCR the counter, but never below ARGV[1] (the clock in seconds)
_NEXT_LUA = """
local n = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if n < floor then
  redis.call('SET', KEYS[1], floor)
  return floor
end
return n
"""


class Nonces(Protocol):
    async def next(self, api_key: str) -> int:
        """A nonce greater than every one handed out before for `api_key`."""
        ...


def key_id(api_key: str) -> str:
    """The api_key as it may appear in a Redis key name: a short hash, never the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class RedisNonces:
    """One counter per api_key in the ledger's Redis."""

    def __init__(self, client: aioredis.Redis, clock: Callable[[], float] = time.time) -> None:
        self._next = client.register_script(_NEXT_LUA)
        self._clock = clock

    async def next(self, api_key: str) -> int:
        key = ICASH_NONCE.format(key_id(api_key))
        return int(await self._next(keys=[key], args=[int(self._clock())]))


class ProcessNonces:
    """One counter per api_key in this process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()  # no await inside: safe on any loop or thread

    async def next(self, api_key: str) -> int:
        with self._lock:
            nonce = max(int(self._clock()), self._last.get(api_key, 0) + 1)
            self._last[api_key] = nonce
            return nonce
