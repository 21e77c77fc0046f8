"""Hostile headers, queries and bodies at the receiver and the admin API, over real sockets
against a real Redis (issue #15): bytes that are not UTF-8 in any header are a 4xx problem
naming it (defects 3b, 3c, 4b); bad admin queries and bodies are a 400 (7); WooCommerce's
set-up pings spend no allowance and leave no event (2); and the answers carry the security
headers (9d). Nothing refused leaves a trace in Redis."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping

import pytest

from invoicebridge.samples import standard as samples_standard
from invoicebridge.samples import woocommerce as samples_woocommerce
from tests.integration.test_transport import (
    ADMIN,
    SECRET,
    VIEWER,
    WHSEC,
    Receiver,
    assert_problem,
    running_receiver,
    signed_shopify,
)
from tests.raw_http import Answer, request_bytes

NOT_UTF8 = b"evt-\xff\xfe-1"  #: what aiohttp hands on as "evt-\udcff\udcfe-1"


@pytest.fixture
async def receiver(redis_url: str) -> AsyncIterator[Receiver]:
    async with running_receiver(redis_url) as served:
        yield served


def signed_woo(order_id: int = 8, **headers: str | bytes) -> tuple[bytes, dict[str, str | bytes]]:
    body = json.dumps(samples_woocommerce.woo_order(order_id)).encode()
    signed = samples_woocommerce.headers_for(body, topic="order.created", secret=SECRET)
    return body, {**signed, "Content-Type": "application/json", **headers}


def signed_standard(**headers: str | bytes) -> tuple[bytes, dict[str, str | bytes]]:
    body = json.dumps(samples_standard.envelope("order.paid", samples_standard.order_data("9")))
    signed = samples_standard.headers_for(body.encode(), WHSEC, msg_id="msg_9")
    return body.encode(), {**signed, "Content-Type": "application/json", **headers}


async def post(
    receiver: Receiver, path: str, body: bytes, headers: Mapping[str, str | bytes]
) -> Answer:
    return await receiver.send(request_bytes("POST", path, headers, body))


# --- 3b, 4b: headers that are not UTF-8 ------------------------------------------------

UNSIGNED = {  # (path, a signature header or a header it signs)
    "standard webhook-id": ("/webhooks/standard/any", "webhook-id"),
    "standard webhook-signature": ("/webhooks/standard/any", "webhook-signature"),
    "shopify hmac": ("/webhooks/shopify/shop", "X-Shopify-Hmac-Sha256"),
    "woocommerce signature": ("/webhooks/woocommerce/woo", "X-WC-Webhook-Signature"),
    "stripe signature": ("/webhooks/stripe/pay", "Stripe-Signature"),
}


@pytest.mark.parametrize(("path", "name"), UNSIGNED.values(), ids=UNSIGNED.keys())
async def test_a_signature_header_that_is_not_utf8_is_a_401_naming_it(
    receiver: Receiver, path: str, name: str
) -> None:
    """3b: a credential or signed header with a byte that is not UTF-8: 401, not 500."""
    body, headers = signed_standard() if "standard" in path else signed_shopify()
    answer = await post(receiver, path, body, {**headers, name: NOT_UTF8})
    assert name in str(assert_problem(answer, 401)["detail"])
    assert await receiver.ledger_keys() == []


SIGNED = {  # a validly signed delivery, one unsigned header not UTF-8 (4b)
    "shopify event id": ("shopify", "X-Shopify-Event-Id"),
    "shopify topic": ("shopify", "X-Shopify-Topic"),
    "shopify shop domain": ("shopify", "X-Shopify-Shop-Domain"),
    "woocommerce id": ("woocommerce", "X-WC-Webhook-ID"),
    "woocommerce source": ("woocommerce", "X-WC-Webhook-Source"),
    "woocommerce topic": ("woocommerce", "X-WC-Webhook-Topic"),
}


@pytest.mark.parametrize(("source", "name"), SIGNED.values(), ids=SIGNED.keys())
async def test_a_signed_delivery_with_a_header_not_utf8_is_kept_unreadable_naming_it(
    receiver: Receiver, source: str, name: str
) -> None:
    """4b, and #18: the signature holds, the header cannot be read. Not the 500 a sender
    retries for ever, and not a 4xx its platform gives up on: it is kept `unreadable`, the
    reason naming the header, its value stored with U+FFFD for the bytes that are not
    UTF-8, and answered 200; no order event is made of it."""
    if source == "shopify":
        body, headers = signed_shopify()
        path = "/webhooks/shopify/shop"
    else:
        body, headers = signed_woo()
        path = "/webhooks/woocommerce/woo"
    answer = await post(receiver, path, body, {**headers, name: NOT_UTF8})
    assert answer.status == 200, answer
    kept = answer.json()
    assert kept["status"] == "unreadable"
    event = await receiver.redis.hgetall(f"ib:event:{kept['event_id']}")
    assert event["state"] == "unreadable" and name in event["last_error"]
    assert "payload" not in event


async def test_a_content_type_that_is_not_utf8_is_a_415(receiver: Receiver) -> None:
    body, headers = signed_shopify()
    headers["Content-Type"] = b"application/json; charset=\xff"
    assert_problem(await post(receiver, "/webhooks/shopify/shop", body, headers), 415)
    assert await receiver.ledger_keys() == []


async def test_an_admin_authorization_not_utf8_is_a_401(receiver: Receiver) -> None:
    """3c: `Authorization: Bearer <token>\\xff`: 401 with the Bearer challenge, not 500."""
    token = ADMIN.encode() + b"\xff"
    raw = request_bytes("GET", "/admin/api/whoami", {"Authorization": b"Bearer " + token})
    answer = await receiver.send(raw)
    assert "Authorization" in str(assert_problem(answer, 401)["detail"])
    assert answer.headers["www-authenticate"].startswith("Bearer")


# --- 7: the admin API's queries and bodies ------------------------------------------------

AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
QUERIES = [
    "/overview?hours=%C2%B2",
    "/overview?hours=" + "9" * 5000,
    "/actions?limit=%C2%B2",
    "/events?limit=%C2%B2",
    "/actions?limit=" + "1" * 5000,
    "/overview?hours=%D9%A5",
    "/events?limit=-1",
    "/overview?hours=1.5",
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q[:30])
async def test_a_number_in_a_query_that_is_not_ascii_digits_is_a_400(
    receiver: Receiver, query: str
) -> None:
    """7: "²" passes str.isdigit and fails int(); 5,000 digits; Arabic-Indic "٥": 400."""
    answer = await receiver.send(request_bytes("GET", "/admin/api" + query, AS_ADMIN))
    assert assert_problem(answer, 400)["title"] == "Malformed query"


BODIES = {
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "an object nested 100,000 deep": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "a list": b"[1]",
    "a string": b'"failed"',
    "a number of 5,000 digits": b'{"failed": ' + b"7" * 5000 + b"}",
    "a lone surrogate": b'{"failed": true, "tenant": "\\ud800"}',
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
async def test_an_admin_body_that_is_no_json_object_is_a_400(
    receiver: Receiver, body: bytes
) -> None:
    headers: dict[str, str | bytes] = {**AS_ADMIN, "Content-Type": "application/json"}
    answer = await post(receiver, "/admin/api/retry", body, headers)
    assert assert_problem(answer, 400)["title"] == "Malformed body"
    assert await receiver.ledger_keys() == []


# --- 2: WooCommerce's set-up pings ----------------------------------------------------------


async def test_pings_spend_no_allowance_and_leave_no_event(receiver: Receiver) -> None:
    """Ten unsigned pings with ten ids to a tenant allowed two deliveries: each 200 "ping";
    no event key, nothing queued, one field of the tenant's last ping; then the two signed
    deliveries the allowance holds are still accepted."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for webhook_id in range(1, 11):
        body = samples_woocommerce.ping_body(webhook_id)
        answer = await post(receiver, "/webhooks/woocommerce/woo", body, form)
        assert (answer.status, answer.json()) == (200, {"status": "ping"})
    assert await receiver.ledger_keys() == ["ib:pings"]
    assert float(await receiver.redis.hget("ib:pings", "woo") or 0) > time.time() - 60
    for order_id in (1, 2):
        body, headers = signed_woo(order_id)
        answer = await post(receiver, "/webhooks/woocommerce/woo", body, headers)
        assert answer.status == 200, answer
    tenants = await receiver.send(request_bytes("GET", "/admin/api/tenants", AS_ADMIN))
    [woo] = [t for t in tenants.json()["tenants"] if t["tenant"] == "woo"]
    assert woo["last_ping_at"] > time.time() - 60


# --- 9d: security headers -------------------------------------------------------------------


def assert_not_stored(answer: Answer) -> None:
    assert answer.headers["cache-control"] == "no-store", answer.headers
    assert answer.headers["referrer-policy"] == "no-referrer"


async def test_the_dashboard_sends_no_referrer_and_every_json_answer_is_no_store(
    receiver: Receiver,
) -> None:
    """/admin/ keeps its CSP and adds Referrer-Policy; the API's answers, a webhook's answer
    and a refusal all say Cache-Control: no-store."""
    page = await receiver.send(request_bytes("GET", "/admin/", {}))
    assert page.status == 200 and page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    as_viewer = {"Authorization": f"Bearer {VIEWER}"}
    for path, sent in [
        ("/admin/api/whoami", as_viewer),
        ("/admin/api/events", AS_ADMIN),
        ("/admin/api/whoami", {}),
        ("/healthz", {}),
    ]:
        assert_not_stored(await receiver.send(request_bytes("GET", path, sent)))
    body, headers = signed_shopify()
    accepted = await post(receiver, "/webhooks/shopify/shop", body, headers)
    assert accepted.status == 200
    assert_not_stored(accepted)
    refused = await post(receiver, "/webhooks/shopify/shop", body + b" ", headers)
    assert refused.status == 401
    assert_not_stored(refused)
