"""Hostile input at every source endpoint, over real sockets against a real Redis (issue #15).

Hypothesis throws at the receiver, served as `invoicebridge serve` serves it: arbitrary
bytes; header values that are not UTF-8 or longer than any server takes; every
Content-Encoding, on bodies compressed or not; generated JSON; and real orders of all four
sources with one field broken, a lone surrogate or a card number in a text field, or a huge
number in an amount; signed and unsigned. Whatever comes, the receiver:

- answers below 500, and every refusal is a problem+json body;
- records nothing, and queues nothing, for a request without a valid signature (a
  WooCommerce set-up ping is answered 200 "ping"; of it the ledger keeps at most when the
  tenant's platform last pinged: no event, nothing per ping id);
- refuses any Content-Encoding but identity with 415, before reading the body;
- keeps no card number: after each signed delivery, no value in Redis holds one.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from handlers.sources import shopify, standard, stripe, woocommerce
from tests.card_scan import find_card_numbers
from tests.card_scan_redis import scan_redis
from tests.hostile_inputs import (
    RAW,
    amount_paths,
    any_bodies,
    content_types,
    encode,
    encodings,
    header_sets,
    header_values,
    mutate,
    realistic,
    realistic_bodies,
    to_json,
    with_encoding,
)
from tests.raw_http import Answer
from tests.receiver_process import ReceiverProcess, post

SECRET = "fuzz-secret"
WHSEC = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TENANTS = {"shop": "shopify", "woo": "woocommerce", "pay": "stripe", "any": "standard"}
#: what a request without a valid signature may get (431: a head too large)
UNSIGNED_ANSWERS = {200, 400, 401, 404, 413, 415, 431}
#: a Content-Encoding under which the body is as sent
IDENTITY = {None, "", "identity", "IDENTITY"}
#: stored amounts are bounded far below 10^20 (docs/limits.md); an amount with this many
#: digits before the point in the ledger is one of the hostile numbers got through
HUGE_DIGITS = 20
#: the canonical event's money and quantity fields (worker/domain/events.py)
MONEY_FIELDS = frozenset(
    {
        "quantity",
        "unit_price",
        "discount",
        "tax",
        "tax_rate",
        "amount",
        "first_payment",
        "total",
        "total_tax",
        "exchange_rate",
    }
)


def fuzz_config(redis_url: str) -> str:
    """The receiver's TOML settings: one tenant per source, rate limits out of the way."""
    head = f'[redis]\nurl = "{redis_url}"\n[receiver]\nmax_body_bytes = 65536\n'
    tables = [
        f'[tenants.{tenant}]\nsource = "{source}"\n'
        f'secret = "{WHSEC if source == "standard" else SECRET}"\nprovider = "icount"\n'
        "rate_limit_per_s = 1e6\nrate_limit_burst = 1e6\n"
        f'[tenants.{tenant}.icount]\ncid = "c"\nuser = "u"\npass = "p"\n'
        'base_url = "http://127.0.0.1:9"\n'
        for tenant, source in TENANTS.items()
    ]
    return head + "".join(tables)


@pytest.fixture(scope="module")
def receiver(
    redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReceiverProcess]:
    process = ReceiverProcess(
        tmp_path_factory.mktemp("hostile-receiver"), fuzz_config(redis_server)
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def ledger_client(redis_server: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server, decode_responses=True)
    client.flushall()
    yield client
    client.close()


def traces(client: redis.Redis) -> list[str]:
    """What the receiver left in Redis: ledger keys and queued messages."""
    return sorted(str(key) for key in [*client.keys("ib:*"), *client.keys("invoicebridge:*")])


def events(client: redis.Redis) -> dict[str, dict[str, str]]:
    ids = [str(member) for member in client.zrange("ib:events", 0, -1)]
    stored = {event_id: client.hgetall(f"ib:event:{event_id}") for event_id in ids}
    return {key: {str(k): str(v) for k, v in fields.items()} for key, fields in stored.items()}


def assert_answer_is_proper(answer: Answer) -> None:
    """Below 500; a refusal is a problem body naming its status. (The statuses seen are
    counted: pytest --hypothesis-show-statistics.)"""
    event(f"status {answer.status}")
    assert answer.status < 500, answer
    if answer.status >= 400:
        assert answer.headers.get("content-type", "").startswith("application/problem+json"), answer
        assert answer.json()["status"] == answer.status, answer


def assert_no_card_in_redis(client: redis.Redis) -> None:
    where = client.connection_pool.connection_kwargs
    found = scan_redis(where["host"], where["port"])
    assert not found, "\n".join(found)


#: no shrinking: a failing example that stalls the receiver costs seconds each time it is
#: tried, and shrinking tries it hundreds of times; the first failing example is reported
FUZZ = settings(
    max_examples=120,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# -- unsigned ---------------------------------------------------------------------------


@FUZZ
@given(
    tenant=st.sampled_from([*TENANTS, "nobody"]),
    body=any_bodies(),
    headers=header_sets,
    content_type=content_types,
    encoding=encodings,
    compress=st.booleans(),
)
def test_unsigned_anything_is_refused_and_changes_nothing(
    receiver: ReceiverProcess,
    ledger_client: redis.Redis,
    tenant: str,
    body: bytes,
    headers: dict[str, str | bytes],
    content_type: str,
    encoding: str | None,
    compress: bool,
) -> None:
    """Any bytes, headers and encoding without a valid signature: a 4xx problem (or a
    WooCommerce ping's 200 "ping"), never 5xx; nothing recorded, nothing queued."""
    ledger_client.flushall()
    source = TENANTS.get(tenant, "shopify")
    sent = {**headers, "Content-Type": content_type}
    raw = encode(body, encoding, compress)
    answer = post(receiver, f"/webhooks/{source}/{tenant}", with_encoding(sent, encoding), raw)
    assert_answer_is_proper(answer)
    assert answer.status in UNSIGNED_ANSWERS, answer
    left = traces(ledger_client)
    if encoding not in IDENTITY and raw:  # an empty body has nothing to inflate
        assert answer.status in {400, 415, 431}, answer  # refused unread (400, 431: the head)
    if answer.status == 200:
        assert source == "woocommerce" and raw.startswith(b"webhook_id="), answer
        # the one trace a ping may leave: when the tenant's platform last pinged (a field
        # per tenant, not per ping; nothing of the request itself)
        if "ib:pings" in left:
            left.remove("ib:pings")
            assert set(ledger_client.hgetall("ib:pings")) == {tenant}
        assert answer.json()["status"] == "ping"
    assert left == [], "recorded without a valid signature"


# -- signed -----------------------------------------------------------------------------


def signed_headers(source: str, body: bytes, topic: str) -> dict[str, str | bytes]:
    """A valid signature for `body`, and fresh delivery ids (never a duplicate)."""
    now, delivery = int(time.time()), uuid.uuid4().hex
    if source == "shopify":
        return {
            "X-Shopify-Hmac-Sha256": shopify.sign(body, SECRET),
            "X-Shopify-Topic": topic,
            "X-Shopify-Event-Id": delivery,
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
    msg = f"msg_{delivery}"
    return {
        "webhook-id": msg,
        "webhook-timestamp": str(now),
        "webhook-signature": standard.sign(body, WHSEC, msg, now),
    }


#: headers a platform sends beside its signature, which the signature does not cover
UNSIGNED_HEADERS = {
    "shopify": ["X-Shopify-Topic", "X-Shopify-Event-Id", "X-Shopify-Shop-Domain"],
    "woocommerce": [
        "X-WC-Webhook-Topic",
        "X-WC-Webhook-ID",
        "X-WC-Webhook-Source",
        "X-WC-Webhook-Resource",
    ],
    "stripe": ["X-Anything"],
    "standard": ["X-Anything"],
}


def deliver_signed(
    receiver: ReceiverProcess, tenant: str, body: bytes, topic: str, **extra: Any
) -> tuple[Answer, bytes]:
    """POST `body` signed as the tenant's source signs, with `extra` headers (a header
    given as None is left out) and an optional Content-Encoding (compressed or not)."""
    source = TENANTS[tenant]
    encoding, compress = extra.pop("encoding", None), extra.pop("compress", False)
    raw = encode(body, encoding, compress)
    headers = {**signed_headers(source, raw, topic), "Content-Type": "application/json"}
    headers |= {name: value for name, value in extra.items() if value is not None}
    answer = post(receiver, f"/webhooks/{source}/{tenant}", with_encoding(headers, encoding), raw)
    return answer, raw


@FUZZ
@given(
    tenant=st.sampled_from(list(TENANTS)),
    data=st.data(),
    encoding=encodings,
    compress=st.booleans(),
    topic=st.sampled_from(
        ["orders/create", "orders/paid", "refunds/create", "order.updated", "order.created", "x"]
    ),
)
def test_signed_anything_never_breaks_the_receiver(
    receiver: ReceiverProcess,
    ledger_client: redis.Redis,
    tenant: str,
    data: st.DataObject,
    encoding: str | None,
    compress: bool,
    topic: str,
) -> None:
    """Validly signed nonsense, maybe with a platform header broken (bytes that are not
    UTF-8, or far too long), and any encoding: 200, 400 or 422 (415 for an encoding),
    never 5xx; a refusal records nothing; no card number is stored."""
    ledger_client.flushall()
    source = TENANTS[tenant]
    body = data.draw(any_bodies())
    broken = {}
    if data.draw(st.booleans()):
        broken[data.draw(st.sampled_from(UNSIGNED_HEADERS[source]))] = data.draw(header_values)
    answer, raw = deliver_signed(
        receiver, tenant, body, topic, encoding=encoding, compress=compress, **broken
    )
    assert_answer_is_proper(answer)
    if encoding not in IDENTITY and raw:  # an empty body has nothing to inflate
        assert answer.status in {400, 415, 431}, answer
    else:
        assert answer.status in {200, 400, 422, 431}, answer
    if answer.status != 200:
        assert events(ledger_client) == {}
    assert_no_card_in_redis(ledger_client)


@FUZZ
@given(tenant=st.sampled_from(list(TENANTS)), data=st.data())
def test_signed_realistic_payloads_with_one_field_broken(
    receiver: ReceiverProcess, ledger_client: redis.Redis, tenant: str, data: st.DataObject
) -> None:
    """A real order with any one field replaced (by anything: a lone surrogate, a huge
    number, nested junk) or removed: 200, 400 or 422, never 5xx; no card number stored."""
    ledger_client.flushall()
    body, topic = data.draw(realistic_bodies(TENANTS[tenant], "broken"))
    answer, _ = deliver_signed(receiver, tenant, body, topic)
    assert_answer_is_proper(answer)
    assert answer.status in {200, 400, 422}, answer
    assert_no_card_in_redis(ledger_client)


@FUZZ
@given(tenant=st.sampled_from(list(TENANTS)), data=st.data())
def test_signed_orders_with_a_lone_surrogate_in_a_text_field_are_taken(
    receiver: ReceiverProcess, ledger_client: redis.Redis, tenant: str, data: st.DataObject
) -> None:
    """JSON "\\ud800" in a name, note or description (valid JSON, text Python cannot encode):
    the order is taken on every source, the text cleaned (U+FFFD in its place)."""
    ledger_client.flushall()
    source = TENANTS[tenant]
    body, topic = data.draw(realistic_bodies(source, "surrogate"))
    answer, _ = deliver_signed(receiver, tenant, body, topic)
    assert_answer_is_proper(answer)
    assert answer.status == 200, answer


@FUZZ
@given(tenant=st.sampled_from(list(TENANTS)), data=st.data())
def test_a_card_number_in_a_signed_text_field_is_never_stored(
    receiver: ReceiverProcess, ledger_client: redis.Redis, tenant: str, data: st.DataObject
) -> None:
    """A card number typed into a note, a line's name, a customer's name or address: the
    order is taken and recorded, and nothing in Redis (event, queue) holds the number."""
    ledger_client.flushall()
    body, topic = data.draw(realistic_bodies(TENANTS[tenant], "card"))
    (planted,) = find_card_numbers(body)
    answer, _ = deliver_signed(receiver, tenant, body, topic)
    assert_answer_is_proper(answer)
    assert answer.status == 200, answer
    # the event as read on arrival (Standard), or the body as received (the platforms')
    kept = [
        stored.get("payload", stored.get("body", "")) for stored in events(ledger_client).values()
    ]
    assert any(planted.last4 in text for text in kept), "the text was not kept"
    assert_no_card_in_redis(ledger_client)


def too_big(payload: Any) -> list[tuple[str, Any]]:
    """The canonical event's money fields (events.py) holding a huge or non-finite number."""
    found: list[tuple[str, Any]] = []
    items = payload.items() if isinstance(payload, dict) else enumerate(payload)
    for key, value in items if isinstance(payload, dict | list) else ():
        if isinstance(value, dict | list):
            found += too_big(value)
        elif key in MONEY_FIELDS and value is not None:
            try:
                amount = Decimal(str(value))
            except InvalidOperation:
                continue
            if not amount.is_finite() or amount.adjusted() >= HUGE_DIGITS:
                found.append((str(key), value))
    return found


@FUZZ
@given(tenant=st.sampled_from(list(TENANTS)), data=st.data())
def test_a_huge_number_in_an_amount_is_never_taken_as_money(
    receiver: ReceiverProcess, ledger_client: redis.Redis, tenant: str, data: st.DataObject
) -> None:
    """1e999999999, 10^25, 10^22 and the like in a total, price, quantity or rate: the
    merchant's own Standard sender gets 422; no source gets a 5xx, and no recorded event
    carries the number as money."""
    ledger_client.flushall()
    source = TENANTS[tenant]
    body, topic = data.draw(realistic_bodies(source, "huge"))
    answer, _ = deliver_signed(receiver, tenant, body, topic)
    assert_answer_is_proper(answer)
    assert answer.status in ({400, 422} if source == "standard" else {200, 400, 422}), answer
    for stored in events(ledger_client).values():
        assert too_big(json.loads(stored.get("payload") or "{}")) == [], stored


@pytest.mark.parametrize("tenant", list(TENANTS))
def test_1e999999999_in_any_number_of_an_order_is_answered_at_once(
    receiver: ReceiverProcess, ledger_client: redis.Redis, tenant: str
) -> None:
    """Every number of a real order in turn (amounts, quantities, rates; for Stripe also
    of a refund) as the bare JSON number 1e999999999, which a parser may turn into a
    billion-digit int: each delivery answered in time and below 500. Exhaustive, where
    the property above samples; it stops after three stalls (each costs seconds)."""
    source = TENANTS[tenant]
    failures: list[str] = []
    for refund in (False, True) if source == "stripe" else (False,):
        document, topic = realistic(source, refund)
        for path in amount_paths(document):
            body = to_json(mutate(document, path, RAW + "1e999999999", False))
            try:
                answer, _ = deliver_signed(receiver, tenant, body, topic)
            except AssertionError as stalled:  # no answer in time
                failures.append(f"{'.'.join(map(str, path))}: {stalled}")
                if len(failures) == 3:
                    break
                continue
            if answer.status >= 500:
                failures.append(f"{'.'.join(map(str, path))}: {answer.status}")
    assert not failures, "\n".join(failures)
