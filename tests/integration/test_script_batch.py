"""Group commit (`worker.ledger.batch.ScriptBatch`) against a real Redis: the script calls of
one event-loop turn share one write, each caller gets its own answer or error, and a lost
script cache or a dead connection is handled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from invoicebridge.stack.driving import free_port
from tests.redis_writes import count_writes
from worker.ledger.batch import ScriptBatch

#: adds ARGV[1] to the counter KEYS[1] and answers the new value; refuses "bad"
_INCR = """
if ARGV[1] == 'bad' then return redis.error_reply('refused: bad') end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    found = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield found
    await found.aclose()


async def test_calls_of_one_turn_share_one_write(
    client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch, script = ScriptBatch(client), client.register_script(_INCR)
    await batch.run(script, ["warm"], [1])  # loads the script
    sent = count_writes(monkeypatch)
    answers = await asyncio.gather(*(batch.run(script, [f"n{i % 3}"], [i]) for i in range(30)))
    assert len(sent) == 1 and sent[0].count(b"EVALSHA") == 30
    expected, totals = [], {0: 0, 1: 0, 2: 0}
    for i in range(30):
        totals[i % 3] += i
        expected.append(totals[i % 3])
    assert answers == expected  # each its own answer, in the order they ran


async def test_a_lone_call_is_not_held_back(client: aioredis.Redis) -> None:
    batch, script = ScriptBatch(client), client.register_script(_INCR)
    assert await asyncio.wait_for(batch.run(script, ["solo"], [5]), timeout=1) == 5


async def test_an_error_fails_only_its_own_caller(client: aioredis.Redis) -> None:
    batch, script = ScriptBatch(client), client.register_script(_INCR)
    found = await asyncio.gather(
        batch.run(script, ["a"], [1]),
        batch.run(script, ["b"], ["bad"]),
        batch.run(script, ["a"], [2]),
        return_exceptions=True,
    )
    good, bad, other = found
    assert (good, other) == (1, 3)
    assert isinstance(bad, ResponseError) and "refused: bad" in str(bad)


async def test_scripts_lost_by_redis_are_loaded_again(client: aioredis.Redis) -> None:
    batch, script = ScriptBatch(client), client.register_script(_INCR)
    await batch.run(script, ["c"], [1])
    await client.script_flush()  # as after a restart without the cache
    answers = await asyncio.gather(batch.run(script, ["c"], [1]), batch.run(script, ["c"], [1]))
    assert sorted(answers) == [2, 3]
    assert await client.get("c") == "3"


async def test_a_dead_connection_fails_every_caller_of_the_batch() -> None:
    dead = aioredis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0), socket_connect_timeout=1)
    batch, script = ScriptBatch(dead), dead.register_script(_INCR)
    try:
        outcomes = await asyncio.gather(
            *(batch.run(script, ["k"], [1]) for _ in range(3)), return_exceptions=True
        )
    finally:
        await dead.aclose()
    assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes)


async def test_a_cancelled_caller_leaves_the_others_their_answers(
    client: aioredis.Redis,
) -> None:
    batch, script = ScriptBatch(client), client.register_script(_INCR)
    first = asyncio.ensure_future(batch.run(script, ["d"], [1]))
    second = asyncio.ensure_future(batch.run(script, ["d"], [10]))
    await asyncio.sleep(0)  # both queued for the same write, not yet sent
    first.cancel()
    assert await second == 11  # the cancelled call was already in the write: it ran
    assert await client.get("d") == "11"
    assert first.cancelled()
