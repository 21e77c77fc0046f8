"""iCash nonces in a real Redis: from the clock in seconds, strictly increasing across
processes and restarts, and the api_key never in a key name (issue 17, item 3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from worker.providers.icash.nonces import ProcessNonces, RedisNonces, key_id

NOW = 1_765_000_000.7


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.Redis.from_url(redis_url)
    yield connection
    await connection.aclose()


async def test_the_first_nonce_is_the_clock_in_seconds(client: aioredis.Redis) -> None:
    """10 digits, as the documentation's examples: not milliseconds."""
    nonce = await RedisNonces(client, clock=lambda: NOW).next("key-a")
    assert nonce == 1_765_000_000 and len(str(nonce)) == 10


async def test_two_processes_on_one_key_never_repeat_or_go_back(client: aioredis.Redis) -> None:
    """Two workers' counters (each its own RedisNonces) interleaved: 400 distinct nonces,
    each worker's strictly increasing; another api_key counts on its own."""
    first, second = RedisNonces(client, clock=lambda: NOW), RedisNonces(client, clock=lambda: NOW)

    async def draw(nonces: RedisNonces) -> list[int]:
        return [await nonces.next("key-a") for _ in range(200)]

    a, b = await asyncio.gather(draw(first), draw(second))
    assert len(set(a) | set(b)) == 400
    assert a == sorted(a) and b == sorted(b)
    assert await first.next("key-b") == int(NOW)


async def test_a_restart_continues_above_every_nonce_sent(client: aioredis.Redis) -> None:
    """A burst runs the counter ahead of the clock; a restarted worker (a new RedisNonces,
    the clock still behind it) continues above it, and a clock far ahead takes over."""
    before = RedisNonces(client, clock=lambda: NOW)
    burst = [await before.next("key-a") for _ in range(50)]
    after = RedisNonces(client, clock=lambda: NOW - 3600)
    assert await after.next("key-a") == burst[-1] + 1
    later = RedisNonces(client, clock=lambda: NOW + 3600)
    assert await later.next("key-a") == int(NOW) + 3600


async def test_the_api_key_is_never_in_a_key_name(client: aioredis.Redis) -> None:
    await RedisNonces(client, clock=lambda: NOW).next("sandbox-key")
    names = [name.decode() async for name in client.scan_iter("*")]
    assert names == [f"ib:icash:nonce:{key_id('sandbox-key')}"]
    assert "sandbox-key" not in names[0]


async def test_process_nonces_also_start_from_seconds_and_never_repeat() -> None:
    clock = [NOW]
    nonces = ProcessNonces(clock=lambda: clock[0])
    first, second = await nonces.next("k"), await nonces.next("k")
    clock[0] -= 10
    third = await nonces.next("k")
    assert (first, second, third) == (int(NOW), int(NOW) + 1, int(NOW) + 2)
