"""Integration fixtures: the iCount sandbox on port 0, served in the test's own event loop, an
aiohttp client session, a dramatiq broker on the test's Redis, and a plain client of that
Redis (`raw`, answers as str)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import dramatiq
import pytest
import redis.asyncio as aioredis

from sandboxes.icount.app import RunningSandbox, serve_sandbox
from worker.runtime.actors import declare_actors
from worker.runtime.broker import setup_broker
from worker.settings import Settings


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandbox() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def _no_deps() -> object:
    raise RuntimeError("tests only send")


@pytest.fixture
def broker(redis_url: str) -> Iterator[dramatiq.Broker]:
    """A real dramatiq RedisBroker on the test's Redis, its actor declared (for sending)."""
    tenant = {
        "source": "shopify",
        "secret": "s",
        "provider": "icount",
        "icount": {"api_token": "t"},
    }
    settings = Settings.model_validate({"redis": {"url": redis_url}, "tenants": {"acme": tenant}})
    broker = setup_broker(settings)
    declare_actors(broker, settings, _no_deps)  # type: ignore[arg-type]
    yield broker
    broker.close()
