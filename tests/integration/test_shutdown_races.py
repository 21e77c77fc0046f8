"""Background loops end when asked, however busy they are with Redis.

On Python 3.11, `asyncio.wait_for`, which redis-py wraps every command in, can swallow a cancel
that lands just as a command completes. A loop stopped by `task.cancel()` then runs on, and
whoever awaits it waits for ever: the receiver's shutdown (its sweeper) and a worker thread
(the order-lock keeper). This was the test suite's rare hang. Both loops are now stopped by a
flag; these tests run them at full tilt and stop them many times.
"""

from __future__ import annotations

import asyncio
import random

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

import handlers.app
from invoicebridge.serve import build_receiver
from tests.integration.test_receiver import settings_for
from tests.receiver_server import ReceiverTestServer
from worker.jobs import process as jobs

TRIALS = 40
#: each stop must be over within this; a swallowed cancel used to make it never
STOP_WITHIN_S = 3.0


async def _finish(task: asyncio.Task[None], what: str) -> None:
    done, _ = await asyncio.wait({task}, timeout=STOP_WITHIN_S)
    if not done:
        while not task.done():  # end it, so the test fails rather than hangs
            task.cancel()
            await asyncio.sleep(0.05)
        pytest.fail(f"{what} did not stop within {STOP_WITHIN_S} s")


async def test_the_receiver_shuts_down_while_its_sweeper_is_busy(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers.app, "SWEEP_INTERVAL_S", 0.001)  # sweeping back to back
    for trial in range(TRIALS):
        client = TestClient(ReceiverTestServer(await build_receiver(settings_for(redis_url))))
        await client.start_server()
        assert (await client.get("/healthz")).status == 200
        await asyncio.sleep(random.uniform(0, 0.03))
        await _finish(asyncio.create_task(client.close()), f"shutdown {trial}")


async def test_the_order_lock_keeper_stops_when_its_job_ends(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for trial in range(TRIALS * 5):
            lock = client.lock(f"ib:test-lock:{trial}", timeout=5, blocking=False)
            assert await lock.acquire()
            done = asyncio.Event()
            keeper = asyncio.create_task(jobs._keep(lock, 1e-6, done))  # renewing back to back
            for _ in range(random.randint(1, 4)):  # the job's last Redis calls
                await client.get("x")
            done.set()
            await _finish(keeper, f"keeper {trial}")
            assert await lock.owned(), "the keeper kept the lock until it was told to stop"
            await lock.release()
    finally:
        await client.aclose()
