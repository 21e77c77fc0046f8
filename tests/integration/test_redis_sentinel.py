"""Redis under Sentinel, for real: a primary, two replicas and three sentinels (six
redis-server processes). The receiver, the ledger, dramatiq's broker and the jobs CLI follow a
fail-over without a restart, and a webhook is answered 200 only once a replica has it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient

from invoicebridge.serve import build_receiver
from invoicebridge.stack.local import LocalStack, StackOptions
from invoicebridge.stack.sentinel import SERVICE
from tests.integration.test_receiver import URL, settings_for, signed
from tests.receiver_server import ReceiverTestServer
from worker.ledger.ledger import Ledger
from worker.redis_clients import primary_url
from worker.settings import RedisSettings, Settings

Client = TestClient[web.Request, web.Application]
MESSAGES = "invoicebridge:events.msgs"


@pytest.fixture
def sentinel_set(tmp_path: Path) -> Iterator[LocalStack]:
    """Only the stack's Redis: a primary, two replicas, three sentinels that know them all."""
    stack = LocalStack(tmp_path, StackOptions(redis="sentinel"))
    try:
        stack.start_redis()
        yield stack
    finally:
        stack.down()


def sentinel_settings(stack: LocalStack, **redis_table: object) -> Settings:
    nodes = [f"127.0.0.1:{port}" for port in stack.sentinel_ports]
    base = settings_for("redis://unused").model_dump(by_alias=True)  # secrets stay SecretStr
    redis_table = {"sentinels": nodes, "service": SERVICE, "min_replicas": 1, **redis_table}
    return Settings.model_validate({**base, "redis": redis_table})


@pytest.fixture
async def receiver(sentinel_set: LocalStack) -> AsyncIterator[Client]:
    app = await build_receiver(sentinel_settings(sentinel_set, replica_timeout_ms=300))
    async with TestClient(ReceiverTestServer(app)) as client:
        yield client


def primary(stack: LocalStack) -> redis.Redis:
    return redis.Redis(port=stack.redis_port, decode_responses=True)


async def post_until_accepted(client: Client, order_id: int, within_s: float = 20) -> str:
    """Deliver as a shop does: again after any 5xx, until a 200 (the event id)."""
    body, headers = signed(order_id)
    deadline = time.monotonic() + within_s
    while True:
        response = await client.post(URL, data=body, headers=headers)
        if response.status == 200:
            return str((await response.json())["event_id"])
        assert response.status == 503, await response.text()
        assert time.monotonic() < deadline, "not accepted after the fail-over"
        await asyncio.sleep(0.2)


async def test_receiver_ledger_and_queue_follow_a_fail_over(
    sentinel_set: LocalStack, receiver: Client
) -> None:
    before = [await post_until_accepted(receiver, 1000 + n, within_s=1) for n in range(20)]
    old, new = await asyncio.to_thread(sentinel_set.fail_over)
    assert new != old and sentinel_set.redis_port == new
    after = [await post_until_accepted(receiver, 2000 + n) for n in range(20)]
    with primary(sentinel_set) as client:
        assert client.info("replication")["role"] == "master"
        # everything answered 200 before the old primary died is on the new one, queued once
        states = {i: client.hget(f"ib:event:{i}", "state") for i in before + after}
        assert set(states.values()) == {"queued"}, states
        assert client.hlen(MESSAGES) == 40


async def test_webhook_is_answered_only_once_a_replica_has_it(
    sentinel_set: LocalStack, receiver: Client
) -> None:
    """Replicas frozen (SIGSTOP): the record is made and queued, but the shop hears 503 and
    sends again; once a replica caught up the same delivery is a duplicate with a 200."""
    replicas = [proc for name, proc in sentinel_set.procs.items() if name in ("redis-1", "redis-2")]
    for proc in replicas:
        os.kill(proc.pid, signal.SIGSTOP)
    try:
        body, headers = signed(77)
        response = await receiver.post(URL, data=body, headers=headers)
        assert response.status == 503 and response.headers["Retry-After"] == "1"
        problem = await response.json()
        assert "replicas" in problem["detail"]
    finally:
        for proc in replicas:
            os.kill(proc.pid, signal.SIGCONT)
    with primary(sentinel_set) as client:
        [event_id] = client.zrange("ib:events", 0, -1)
        assert client.hget(f"ib:event:{event_id}", "state") == "queued"  # the work goes on
    again = await receiver.post(URL, data=body, headers=headers)
    assert again.status == 200 and (await again.json())["status"] == "duplicate"
    with primary(sentinel_set) as client:
        assert client.hlen(MESSAGES) == 1


async def test_ledger_needs_the_replicas_it_asks_for(sentinel_set: LocalStack) -> None:
    settings = sentinel_settings(sentinel_set, replica_timeout_ms=100).redis
    two, three = (
        Ledger.from_settings(settings.model_copy(update={"min_replicas": n})) for n in (2, 3)
    )
    try:
        await two.redis.set("k", "v")
        assert await two.replicated()
        assert not await three.replicated()  # only two replicas exist
    finally:
        await two.close()
        await three.close()


def test_jobs_cli_finds_the_primary_through_the_sentinels(
    sentinel_set: LocalStack, tmp_path: Path
) -> None:
    _, new = sentinel_set.fail_over()
    # tools that take a URL (loadgen --reconcile) are given the promoted primary's
    assert primary_url(sentinel_settings(sentinel_set).redis) == f"redis://127.0.0.1:{new}/0"
    with primary(sentinel_set) as client:
        client.hset(
            "ib:event:e1",
            mapping={
                "id": "e1",
                "tenant": "acme",
                "state": "failed",
                "received_at": "1",
                "updated_at": "1",
            },
        )
        client.zadd("ib:events", {"e1": 1})
        client.zadd("ib:state:failed", {"e1": 1})
    nodes = ", ".join(f'"127.0.0.1:{port}"' for port in sentinel_set.sentinel_ports)
    config = tmp_path / "cli.toml"
    config.write_text(
        f'[redis]\nsentinels = [{nodes}]\nservice = "{SERVICE}"\n'
        '[tenants.acme]\nsource = "shopify"\nsecret = "s"\nprovider = "icount"\n'
        '[tenants.acme.icount]\napi_token = "t"\n'
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoicebridge.cli",
            "jobs",
            "list",
            "--config",
            str(config),
            "--state",
            "failed",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [event["event_id"] for event in json.loads(done.stdout)] == ["e1"]


def test_settings_refuse_url_and_sentinels_together() -> None:
    with pytest.raises(ValueError, match="either url or sentinels"):
        RedisSettings(url="redis://h:6379/0", sentinels=("h:26379",))
