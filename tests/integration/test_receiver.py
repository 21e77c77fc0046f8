"""The receiver against a real Redis: verify, record once, queue once, answer; refuse bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from handlers.app import sweep_once
from handlers.deliveries import to_item
from handlers.sources import shopify
from handlers.webhooks import DEPS
from invoicebridge.samples import shopify as samples
from invoicebridge.serve import build_receiver
from tests.received import read_now
from tests.receiver_server import Client, ReceiverTestServer, receiver_client
from tests.redis_writes import count_writes
from worker.domain.events import OrderEvent
from worker.settings import Settings

SECRET = "shpss_test_secret"
URL = "/webhooks/shopify/acme"


def settings_for(redis_url: str, **tenant: Any) -> Settings:
    return Settings.model_validate(
        {
            "redis": {"url": redis_url},
            "receiver": {"max_body_bytes": 64 * 1024, "requeue_after_s": 0.01},
            "tenants": {
                "acme": {
                    "source": "shopify",
                    "secrets": ["old-secret", SECRET],
                    "provider": "icount",
                    "icount": {
                        "cid": "c",
                        "user": "u",
                        "pass": "p",
                        "base_url": "http://127.0.0.1:9",
                    },
                    **tenant,
                }
            },
        }
    )


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Client]:
    async with receiver_client(settings_for(redis_url)) as test_client:
        yield test_client


def signed(
    order_id: int = 1001,
    *,
    topic: str = "orders/create",
    secret: str = SECRET,
    event_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload or samples.shopify_order(order_id), ensure_ascii=False).encode()
    headers = samples.headers_for(
        body, topic=topic, secret=secret, event_id=event_id or f"evt-{order_id}-{topic}"
    )
    return body, headers


async def queued_messages(raw: aioredis.Redis) -> int:
    return int(await raw.hlen("invoicebridge:events.msgs"))


async def event_ids(raw: aioredis.Redis) -> list[str]:
    return [str(member) for member in await raw.zrange("ib:events", 0, -1)]


async def event_count(raw: aioredis.Redis) -> int:
    return int(await raw.zcard("ib:events"))


async def test_signed_order_is_recorded_queued_and_acknowledged(
    client: Client, raw: aioredis.Redis, redis_url: str
) -> None:
    """A valid orders/create gets 200 only with the event in the ledger and one message queued:
    recorded as it came (DESIGN step 5), its body and the headers its parser reads; the
    worker's first step reads it into the order event."""
    body, headers = signed()
    response = await client.post(URL, data=body, headers=headers)
    assert response.status == 200
    answer = await response.json()
    assert answer["status"] == "accepted"
    event = await raw.hgetall(f"ib:event:{answer['event_id']}")
    assert event["state"] == "queued" and "order_id" not in event
    assert json.loads(event["body"])["id"] == 1001
    assert json.loads(event["headers"])["x-shopify-topic"] == "orders/create"
    assert await queued_messages(raw) == 1
    read = await read_now(redis_url, answer["event_id"])
    assert read is not None and read.order_id == "1001"
    event = await raw.hgetall(f"ib:event:{answer['event_id']}")
    assert event["order_id"] == "1001" and "body" not in event and "headers" not in event
    assert OrderEvent.model_validate_json(event["payload"]) == read


async def test_the_receiver_records_and_queues_a_webhook_in_one_write(
    client: Client, raw: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`invoicebridge serve`'s receiver records, queues and marks a new event queued with one
    command: the one write that names the event is a single EVALSHA."""
    warm_body, warm_headers = signed(order_id=1100)
    assert (await client.post(URL, data=warm_body, headers=warm_headers)).status == 200
    sent = count_writes(monkeypatch)
    body, headers = signed(order_id=1101)
    answer = await (await client.post(URL, data=body, headers=headers)).json()
    naming = [write for write in sent if answer["event_id"].encode() in write]
    assert len(naming) == 1 and naming[0].count(b"EVALSHA") == 1
    assert (await raw.hgetall(f"ib:event:{answer['event_id']}"))["state"] == "queued"
    assert await queued_messages(raw) == 2


async def test_five_concurrent_duplicates_record_and_queue_once(
    client: Client, raw: aioredis.Redis
) -> None:
    """The same delivery posted 5 times at once: one event, one message, 5 deliveries counted."""
    body, headers = signed()
    responses = await asyncio.gather(
        *(client.post(URL, data=body, headers=headers) for _ in range(5))
    )
    assert [r.status for r in responses] == [200] * 5
    statuses = sorted([(await r.json())["status"] for r in responses])
    assert statuses == ["accepted"] + ["duplicate"] * 4
    [event_id] = await event_ids(raw)
    assert await raw.hget(f"ib:event:{event_id}", "deliveries") == "5"
    assert await queued_messages(raw) == 1


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
async def test_a_signed_body_the_parser_cannot_read_is_kept_not_queued(
    client: Client, raw: aioredis.Redis, body: bytes
) -> None:
    """Not JSON, or not a JSON object: signed, so kept `unreadable` (issue #18) and answered
    200; nothing is queued, and a re-delivery is the same event."""
    answers = [await client.post(URL, data=b, headers=h) for b, h in [samples_signed(body)] * 2]
    assert [a.status for a in answers] == [200, 200]
    first, again = [await a.json() for a in answers]
    assert first["status"] == "unreadable" and first["event_id"] == again["event_id"]
    assert await raw.hget(f"ib:event:{first['event_id']}", "state") == "unreadable"
    assert await event_count(raw) == 1
    assert await queued_messages(raw) == 0


async def test_a_signed_object_that_is_no_order_is_queued_and_read_unreadable(
    client: Client, raw: aioredis.Redis, redis_url: str
) -> None:
    """JSON the receiver records by its headers but the parser refuses in full: answered 200
    and queued (the receiver reads no further), then kept `unreadable` by the worker's read,
    the reason naming the field; a re-delivery is a duplicate of that one event."""
    body, headers = samples_signed(b'{"id": 1, "line_items": "x"}')
    answers = [await client.post(URL, data=body, headers=headers) for _ in range(2)]
    first, again = [await answer.json() for answer in answers]
    assert (first["status"], again["status"]) == ("accepted", "duplicate")
    assert first["event_id"] == again["event_id"] and await queued_messages(raw) == 1
    assert await read_now(redis_url, first["event_id"]) is None
    event = await raw.hgetall(f"ib:event:{first['event_id']}")
    assert event["state"] == "unreadable" and "total_price: missing" in event["last_error"]
    assert json.loads(event["body"]) == {"id": 1, "line_items": "x"}  # kept for a replay


async def test_rotated_secret_is_accepted(client: Client) -> None:
    """Either of a tenant's secrets verifies a delivery."""
    body, headers = signed(secret="old-secret")
    assert (await client.post(URL, data=body, headers=headers)).status == 200


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda b, h: (b, {**h, "X-Shopify-Hmac-Sha256": "bm9wZQ=="}), 401),
        (lambda b, h: (b.replace(b"1001", b"1002", 1), h), 401),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "X-Shopify-Hmac-Sha256"}), 401),
        (lambda b, h: (b, {**h, "Content-Type": "text/plain"}), 415),
        (lambda b, h: samples_signed(b'{"pad": "' + b"x" * 70_000 + b'"}'), 413),
    ],
)
async def test_bad_input_gets_a_problem_and_changes_nothing(
    client: Client,
    raw: aioredis.Redis,
    mutate: Any,
    status: int,
) -> None:
    """Wrong signature, content type or size: the status, a problem body, no trace."""
    body, headers = mutate(*signed())
    response = await client.post(URL, data=body, headers=headers)
    assert response.status == status
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert SECRET not in json.dumps(problem)
    assert await event_count(raw) == 0
    assert await queued_messages(raw) == 0


def samples_signed(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, samples.headers_for(body, topic="orders/create", secret=SECRET, event_id="e-1")


async def test_unknown_tenant_or_source_is_404(client: Client, raw: aioredis.Redis) -> None:
    """A tenant or source that is not configured is a 404 problem and nothing is recorded."""
    body, headers = signed()
    for url in ("/webhooks/shopify/nobody", "/webhooks/woocommerce/acme"):
        response = await client.post(url, data=body, headers=headers)
        assert response.status == 404
        assert (await response.json())["title"] == "Unknown tenant"
    assert await event_count(raw) == 0


async def test_other_topics_are_recorded_as_ignored(client: Client, raw: aioredis.Redis) -> None:
    """A verified topic we do not act on is answered 200, recorded as ignored, never queued."""
    body, headers = signed(topic="customers/update", payload={"id": 5, "email": "a@b.c"})
    response = await client.post(URL, data=body, headers=headers)
    assert (response.status, (await response.json())["status"]) == (200, "ignored")
    [event_id] = await event_ids(raw)
    assert await raw.hget(f"ib:event:{event_id}", "state") == "ignored"
    assert await queued_messages(raw) == 0


async def record_without_queueing(
    client: Client, body: bytes, headers: dict[str, str]
) -> OrderEvent:
    """What a receiver that crashed between recording and queueing leaves behind."""
    item = to_item(shopify.parse(body, headers), "acme", "shopify")
    assert isinstance(item, OrderEvent)
    assert await client.app[DEPS].store.record(item) == "new"
    return item


async def test_recorded_but_unqueued_events_are_queued_again(
    client: Client, raw: aioredis.Redis
) -> None:
    """A receiver that died between record and enqueue: a re-delivery or the sweeper queues it."""
    deps = client.app[DEPS]
    body, headers = signed()
    item = await record_without_queueing(client, body, headers)
    assert await queued_messages(raw) == 0
    await asyncio.sleep(0.05)
    assert await sweep_once(deps) == 1
    assert await raw.hget(f"ib:event:{item.event_id}", "state") == "queued"
    assert await queued_messages(raw) == 1
    assert await sweep_once(deps) == 0


async def test_redelivery_queues_an_event_that_never_reached_the_queue(
    client: Client, raw: aioredis.Redis
) -> None:
    """The shop's retry of an unqueued event queues it, and says so as accepted."""
    body, headers = signed()
    item = await record_without_queueing(client, body, headers)
    response = await client.post(URL, data=body, headers=headers)
    assert (await response.json())["status"] == "duplicate"  # within the first one's claim
    assert await queued_messages(raw) == 0
    await raw.delete(f"ib:enqueue-claim:{item.event_id}")  # the claim expires
    response = await client.post(URL, data=body, headers=headers)
    assert (await response.json())["status"] == "accepted"
    assert await queued_messages(raw) == 1


async def test_health_and_readiness(client: Client) -> None:
    """/healthz says the process is up; /readyz that Redis answers."""
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    missing = await client.get("/nope")
    assert missing.status == 404 and missing.content_type == "application/problem+json"


async def test_a_tenant_over_its_rate_limit_gets_429_with_retry_after(redis_url: str) -> None:
    """Past its burst a tenant is told to come back later; nothing of those is recorded."""
    settings = settings_for(redis_url, rate_limit_per_s=0.5, rate_limit_burst=2)
    async with receiver_client(settings) as limited:
        answers = []
        for order_id in range(4):
            body, headers = signed(order_id + 1)
            answers.append(await limited.post(URL, data=body, headers=headers))
        assert [r.status for r in answers] == [200, 200, 429, 429]
        assert answers[2].headers["Retry-After"] == "2"
        assert (await answers[2].json())["title"] == "Too many requests"
        raw = aioredis.Redis.from_url(redis_url)
        assert await raw.zcard("ib:events") == 2
        await raw.aclose()


async def test_the_rate_limit_holds_across_receivers_and_ignores_forgeries(
    redis_url: str,
) -> None:
    """Two receivers on one Redis share a tenant's allowance (burst 3 at 0.2/s: three
    accepted in all, whichever receiver they reach); unsigned requests are refused before
    they count, so a forger cannot use up a shop's allowance."""
    settings = settings_for(redis_url, rate_limit_per_s=0.2, rate_limit_burst=3)
    apps = [await build_receiver(settings) for _ in range(2)]
    async with (
        TestClient(ReceiverTestServer(apps[0])) as one,
        TestClient(ReceiverTestServer(apps[1])) as two,
    ):
        for order_id in range(900, 905):
            body, headers = signed(order_id, secret="not-the-secret")
            assert (await one.post(URL, data=body, headers=headers)).status == 401
        answers = []
        for order_id in range(6):
            body, headers = signed(order_id + 1)
            answers.append(await (one, two)[order_id % 2].post(URL, data=body, headers=headers))
        assert [r.status for r in answers] == [200, 200, 200, 429, 429, 429]
        assert int(answers[3].headers["Retry-After"]) == 5  # one delivery every 5 s
        raw = aioredis.Redis.from_url(redis_url)
        assert await raw.zcard("ib:events") == 3
        await raw.aclose()


async def test_standard_webhook_schema_is_published(client: Client) -> None:
    """GET /schemas/standard-webhook.json serves the schema committed in docs/."""
    import pathlib

    response = await client.get("/schemas/standard-webhook.json")
    assert response.status == 200
    committed = pathlib.Path(__file__).parents[2] / "docs" / "standard-webhook.schema.json"
    assert await response.json() == json.loads(committed.read_text())
