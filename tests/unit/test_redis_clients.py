"""Clients from the settings: the timeouts and credentials reach the connections they make
(no server is needed to see what a pool will connect with)."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from worker.redis_clients import async_client, sync_client
from worker.settings import RedisSettings


def test_a_url_client_times_out_instead_of_hanging() -> None:
    settings = RedisSettings(url="redis://db.internal:6380/2", socket_timeout_s=1.5)
    for client in (async_client(settings), sync_client(settings)):
        kwargs = client.connection_pool.connection_kwargs
        assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("db.internal", 6380, 2)
        assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 1.5
    assert async_client(settings).connection_pool.connection_kwargs["decode_responses"] is True


def test_a_sentinel_client_asks_the_sentinels_with_their_own_password() -> None:
    settings = RedisSettings(
        sentinels=("s1:26379", "s2:26380"),
        service="ledger",
        db=3,
        password=SecretStr("data-pass"),
        sentinel_password=SecretStr("watch-pass"),
    )
    for client in (async_client(settings), sync_client(settings)):
        pool: Any = client.connection_pool  # a SentinelConnectionPool, either kind
        assert pool.service_name == "ledger"
        assert pool.connection_kwargs["password"] == "data-pass"
        assert pool.connection_kwargs["db"] == 3
        sentinels = pool.sentinel_manager.sentinels
        assert [
            (
                s.connection_pool.connection_kwargs["host"],
                s.connection_pool.connection_kwargs["port"],
            )
            for s in sentinels
        ] == [("s1", 26379), ("s2", 26380)]
        assert {s.connection_pool.connection_kwargs["password"] for s in sentinels} == {
            "watch-pass"
        }
