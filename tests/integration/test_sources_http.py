"""Every source over real HTTP against a real Redis: a signed sample is recorded and queued
once; a wrong secret or a stale timestamp is a 401 that records nothing; rotation works;
WooCommerce's unsigned set-up ping gets exactly 200 and is not recorded as an event."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from invoicebridge.samples import shopify as samples
from invoicebridge.samples import standard as samples_standard
from invoicebridge.samples import stripe as samples_stripe
from invoicebridge.samples import woocommerce as samples_woocommerce
from tests.receiver_server import Client, receiver_client
from worker.settings import Settings

OLD, NEW = "old-secret", "new-secret"
WH_OLD, WH_NEW = samples_standard.new_secret(), samples_standard.new_secret()
SOURCES = {"shop": "shopify", "woo": "woocommerce", "pay": "stripe", "any": "standard"}


def sign_shopify(body: bytes, secret: str, age_s: int) -> dict[str, str]:
    return samples.headers_for(body, topic="orders/create", secret=secret, event_id="e-1")


def sign_woo(body: bytes, secret: str, age_s: int) -> dict[str, str]:
    return samples_woocommerce.headers_for(body, topic="order.created", secret=secret)


def sign_stripe(body: bytes, secret: str, age_s: int) -> dict[str, str]:
    return samples_stripe.headers_for(body, secret, timestamp=int(time.time()) - age_s)


def sign_standard(body: bytes, secret: str, age_s: int) -> dict[str, str]:
    return samples_standard.headers_for(
        body, secret, msg_id="msg_1", timestamp=int(time.time()) - age_s
    )


Signer = Callable[[bytes, str, int], dict[str, str]]
CASES: dict[str, tuple[Signer, Callable[[], dict[str, Any]], tuple[str, str]]] = {
    "shop": (sign_shopify, lambda: samples.shopify_order(31), (OLD, NEW)),
    "woo": (sign_woo, lambda: samples_woocommerce.woo_order(32), (OLD, NEW)),
    "pay": (
        sign_stripe,
        lambda: samples_stripe.payment_intent_succeeded("pi_33", 5000),
        (OLD, NEW),
    ),
    "any": (
        sign_standard,
        lambda: samples_standard.envelope("order.paid", samples_standard.order_data("34")),
        (WH_OLD, WH_NEW),
    ),
}


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Client]:
    icount = {"cid": "c", "user": "u", "pass": "p", "base_url": "http://127.0.0.1:9"}
    tenants = {
        tid: {"source": src, "secrets": list(CASES[tid][2]), "provider": "icount", "icount": icount}
        for tid, src in SOURCES.items()
    }
    settings = Settings.model_validate({"redis": {"url": redis_url}, "tenants": tenants})
    async with receiver_client(settings) as test_client:
        yield test_client


async def post(client: Client, tenant: str, secret: str, age_s: int = 0) -> tuple[int, Any]:
    signer, payload, _ = CASES[tenant]
    body = json.dumps(payload()).encode()
    response = await client.post(
        f"/webhooks/{SOURCES[tenant]}/{tenant}", data=body, headers=signer(body, secret, age_s)
    )
    return response.status, await response.json()


@pytest.mark.parametrize("tenant", list(SOURCES))
async def test_signed_sample_is_recorded_and_queued_once(
    client: Client, raw: aioredis.Redis, tenant: str
) -> None:
    """A valid delivery, signed with either of two secrets (rotation): accepted, then duplicate."""
    old, new = CASES[tenant][2]
    assert (await post(client, tenant, new))[1]["status"] == "accepted"
    assert (await post(client, tenant, old))[1]["status"] == "duplicate"
    assert await raw.zcard("ib:events") == 1
    assert await raw.hlen("invoicebridge:events.msgs") == 1


@pytest.mark.parametrize("tenant", list(SOURCES))
async def test_wrong_secret_is_401_and_records_nothing(
    client: Client, raw: aioredis.Redis, tenant: str
) -> None:
    """Signed with a secret the tenant does not have: 401 problem, no secret echoed."""
    status, problem = await post(client, tenant, samples_standard.new_secret())
    assert (status, problem["title"]) == (401, "Invalid signature")
    assert not {OLD, NEW, WH_OLD, WH_NEW} & set(json.dumps(problem).split('"'))
    assert await raw.zcard("ib:events") == 0


@pytest.mark.parametrize("tenant", ["pay", "any"])
async def test_stale_timestamp_is_401(client: Client, raw: aioredis.Redis, tenant: str) -> None:
    """Stripe and Standard Webhooks sign a timestamp; one older than 5 minutes is refused."""
    status, problem = await post(client, tenant, CASES[tenant][2][1], age_s=301)
    assert status == 401 and "tolerance" in problem["detail"]
    assert await raw.zcard("ib:events") == 0


async def test_woocommerce_ping_is_answered_200_and_kept_only_as_its_time(
    client: Client, raw: aioredis.Redis
) -> None:
    """The unsigned form-encoded `webhook_id=N` ping: exactly 200, no event, never queued;
    the tenant's last ping time is all that is kept."""
    body = samples_woocommerce.ping_body(7)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post("/webhooks/woocommerce/woo", data=body, headers=headers)
    assert response.status == 200 and (await response.json()) == {"status": "ping"}
    assert await raw.zcard("ib:events") == 0 and await raw.keys("ib:event:*") == []
    assert float(await raw.hget("ib:pings", "woo") or 0) > time.time() - 60
    assert await raw.hlen("invoicebridge:events.msgs") == 0
    forged = await client.post(
        "/webhooks/woocommerce/woo", data=body + b"&topic=order.created", headers=headers
    )
    assert forged.status == 415
