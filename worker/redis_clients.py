"""Redis clients from the settings, in one place: a plain server by URL, or the primary that
Redis Sentinel names. Every process (receiver, workers, the jobs CLI, dramatiq's broker) gets
its clients here, so a fail-over is followed the same way everywhere.

Under Sentinel, redis-py asks the sentinels for the primary whenever it opens a connection,
and drops a connection that finds itself talking to a demoted primary (READONLY); so after a
fail-over the next command reaches the new primary, with no restart.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import redis
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

from worker.settings import RedisSettings


def _timeouts(settings: RedisSettings) -> dict[str, Any]:
    """A dead or cut-off server is an error after this long, never a hang."""
    return {
        "socket_timeout": settings.socket_timeout_s,
        "socket_connect_timeout": settings.socket_timeout_s,
    }


def _sentinel_args(
    settings: RedisSettings,
) -> tuple[list[tuple[str, int]], dict[str, Any], dict[str, Any]]:
    """(sentinel addresses, how to talk to the sentinels, how to talk to the primary)."""
    nodes = [(host, int(port)) for host, _, port in (s.rpartition(":") for s in settings.sentinels)]
    to_sentinels = _timeouts(settings)
    if settings.sentinel_password is not None:
        to_sentinels["password"] = settings.sentinel_password.get_secret_value()
    to_primary = _timeouts(settings) | {"db": settings.db}
    if settings.password is not None:
        to_primary["password"] = settings.password.get_secret_value()
    return nodes, to_sentinels, to_primary


def async_client(settings: RedisSettings, **options: Any) -> aioredis.Redis:
    """An asyncio client of the primary (the ledger's), answering `str`; `options` (redis-py
    connection arguments) override the settings' timeouts."""
    options = {"decode_responses": True, **options}
    if not settings.sentinels:
        return aioredis.Redis.from_url(settings.url, **(_timeouts(settings) | options))
    nodes, to_sentinels, to_primary = _sentinel_args(settings)
    sentinel = AsyncSentinel(nodes, sentinel_kwargs=to_sentinels, **(to_primary | options))
    client: aioredis.Redis = sentinel.master_for(settings.service)
    return client


def _sentinel(settings: RedisSettings) -> Sentinel:
    """The blocking client of the settings' sentinels."""
    nodes, to_sentinels, to_primary = _sentinel_args(settings)
    return Sentinel(nodes, sentinel_kwargs=to_sentinels, **to_primary)


def sync_client(settings: RedisSettings) -> redis.Redis:
    """A blocking client of the primary, for dramatiq's Redis broker (bytes, as it expects)."""
    if not settings.sentinels:
        return redis.Redis.from_url(settings.url, **_timeouts(settings))
    client: redis.Redis = _sentinel(settings).master_for(settings.service)
    return client


async def close_async(client: aioredis.Redis) -> None:
    """Close a client made by `async_client`, and under Sentinel its links to the sentinels."""
    await client.aclose()
    sentinels = getattr(client.connection_pool, "sentinel_manager", None)
    if isinstance(sentinels, AsyncSentinel):
        await sentinels.aclose()


def primary_url(settings: RedisSettings) -> str:
    """A `redis://` URL of the primary as of now: `url`, or the address the sentinels give
    (for tools that take a URL; it does not follow a later fail-over)."""
    if not settings.sentinels:
        return settings.url
    host, port = _sentinel(settings).discover_master(settings.service)
    password = settings.password.get_secret_value() if settings.password else None
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{settings.db}"
