"""Hostile input at every source endpoint, over real HTTP against a real Redis.

Hypothesis throws arbitrary bytes, headers and JSON at the receiver: it never
answers 5xx, and nothing is ever recorded without a valid signature (the one
exception is WooCommerce's unsigned set-up ping, which is recorded as a ping).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.sources import shopify, standard, stripe, woocommerce
from invoicebridge.serve import build_receiver
from worker.settings import Settings

SECRET = "fuzz-secret"
WHSEC = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TENANTS = {"shop": "shopify", "woo": "woocommerce", "pay": "stripe", "any": "standard"}
ALLOWED = {200, 400, 401, 404, 413, 415, 422}


def fuzz_settings(redis_url: str) -> Settings:
    icount = {"cid": "c", "user": "u", "pass": "p", "base_url": "http://127.0.0.1:9"}
    tenants = {
        tid: {"source": source, "secret": WHSEC if source == "standard" else SECRET,
              "provider": "icount", "icount": icount, "rate_limit_per_s": 1e6,
              "rate_limit_burst": 1e6}
        for tid, source in TENANTS.items()
    }  # fmt: skip
    return Settings.model_validate(
        {"redis": {"url": redis_url}, "receiver": {"max_body_bytes": 65536}, "tenants": tenants}
    )


@pytest.fixture(scope="module")
def receiver(redis_server: str) -> Iterator[str]:
    """A real receiver on a real port, in a thread with its own event loop."""
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}

    async def start() -> web.AppRunner:
        runner = web.AppRunner(await build_receiver(fuzz_settings(redis_server)))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        started["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return runner

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    yield started["url"]
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
def ledger_client(redis_server: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server, decode_responses=True)
    client.flushall()
    yield client
    client.close()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def recorded_topics(client: redis.Redis) -> set[str]:
    ids = [str(member) for member in client.zrange("ib:events", 0, -1)]
    return {str(client.hget(f"ib:event:{event_id}", "topic")) for event_id in ids}


header_names = st.sampled_from([
    "X-Shopify-Hmac-Sha256", "X-Shopify-Topic", "X-Shopify-Event-Id", "X-Shopify-Shop-Domain",
    "X-WC-Webhook-Signature", "X-WC-Webhook-Topic", "X-WC-Webhook-ID", "X-WC-Webhook-Source",
    "Stripe-Signature", "webhook-id", "webhook-timestamp", "webhook-signature", "svix-signature",
    "Content-Type", "X-Anything",
])  # fmt: skip
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=20,
)  # fmt: skip
bodies = st.binary(max_size=600) | json_values.map(lambda v: json.dumps(v).encode())
content_types = st.sampled_from([
    "application/json", "application/json; charset=utf-8", "text/plain",
    "application/x-www-form-urlencoded", "",
])  # fmt: skip
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(tenant=st.sampled_from([*TENANTS, "nobody"]), body=bodies,
       headers=st.dictionaries(header_names, header_values, max_size=8),
       content_type=content_types)  # fmt: skip
def test_unsigned_garbage_is_refused_and_never_recorded(
    receiver: str,
    ledger_client: redis.Redis,
    tenant: str,
    body: bytes,
    headers: dict[str, str],
    content_type: str,
) -> None:
    """Arbitrary bytes and headers: a 4xx (or a WooCommerce ping's 200), never 5xx, no record."""
    source = TENANTS.get(tenant, "shopify")
    status = post(
        f"{receiver}/webhooks/{source}/{tenant}", body, {**headers, "Content-Type": content_type}
    )
    assert status in ALLOWED
    assert recorded_topics(ledger_client) <= {"ping"}
    if status == 200:
        assert source == "woocommerce" and b"webhook_id=" in body


def signed_headers(source: str, body: bytes, topic: str) -> dict[str, str]:
    now = int(time.time())
    if source == "shopify":
        return {
            "X-Shopify-Hmac-Sha256": shopify.sign(body, SECRET),
            "X-Shopify-Topic": topic,
            "X-Shopify-Event-Id": "1",
            "X-Shopify-Shop-Domain": "f.myshopify.com",
        }
    if source == "woocommerce":
        return {
            "X-WC-Webhook-Signature": woocommerce.sign(body, SECRET),
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-ID": "3",
            "X-WC-Webhook-Source": "https://shop.example/",
            "X-WC-Webhook-Resource": "order",
        }
    if source == "stripe":
        return {"Stripe-Signature": stripe.sign(body, SECRET, now)}
    return {"webhook-id": "msg_1", "webhook-timestamp": str(now),
            "webhook-signature": standard.sign(body, WHSEC, "msg_1", now)}  # fmt: skip


@FUZZ
@given(tenant=st.sampled_from(list(TENANTS)), body=bodies,
       topic=st.sampled_from(["orders/create", "orders/paid", "refunds/create", "order.updated",
                              "order.created", "x"]))  # fmt: skip
def test_signed_garbage_never_breaks_the_receiver(
    receiver: str, ledger_client: redis.Redis, tenant: str, body: bytes, topic: str
) -> None:
    """Validly signed nonsense is a 200 (recorded, maybe ignored), 400 or 422 -- never 5xx."""
    source = TENANTS[tenant]
    headers = {**signed_headers(source, body, topic), "Content-Type": "application/json"}
    status = post(f"{receiver}/webhooks/{source}/{tenant}", body, headers)
    assert status in {200, 400, 422}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON document, so a mutation can reach any field."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _mutate(document: Any, path: tuple[Any, ...], replacement: Any, delete: bool) -> Any:
    copy = json.loads(json.dumps(document))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return copy


def _realistic(source: str) -> tuple[dict[str, Any], str]:
    from invoicebridge import samples, samples_standard, samples_stripe, samples_woocommerce

    if source == "shopify":
        return samples.shopify_order(41, discount="5.00"), "orders/paid"
    if source == "woocommerce":
        return samples_woocommerce.woo_order(42, refunds=[(1, "3.00", "r")]), "order.updated"
    if source == "stripe":
        return samples_stripe.charge_refunded("ch_1", "pi_1", 9000, 2000), ""
    return samples_standard.envelope("order.paid", samples_standard.order_data("44")), ""


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes, str]:
    tenant = draw(st.sampled_from(list(TENANTS)))
    document, topic = _realistic(TENANTS[tenant])
    path = draw(st.sampled_from(_paths(document)))
    changed = _mutate(document, path, draw(json_values), draw(st.booleans()))
    return tenant, json.dumps(changed).encode(), topic


@FUZZ
@given(case=mutated())
def test_signed_realistic_payloads_with_one_field_broken(
    receiver: str, ledger_client: redis.Redis, case: tuple[str, bytes, str]
) -> None:
    """A real order with any one field replaced or removed: 200, 400 or 422, never 5xx."""
    tenant, body, topic = case
    source = TENANTS[tenant]
    headers = {**signed_headers(source, body, topic), "Content-Type": "application/json"}
    assert post(f"{receiver}/webhooks/{source}/{tenant}", body, headers) in {200, 400, 422}
