"""Shopify `order_transactions/create`: a successful sale or capture is the order's payment
details (PAYMENT_DETAILS); any other transaction, or one that cannot be tied to an order, is an
ignored delivery; no value of any field costs the delivery or lets a card number through.

Fields as the REST Transaction resource documents them
(shopify.dev/docs/api/admin-rest/latest/resources/transaction)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.deliveries import to_item
from handlers.errors import MalformedBody
from handlers.sources import Parsed, shopify
from invoicebridge.samples import shopify as samples
from tests.card_scan import find_card_numbers
from worker.domain.events import EventKind, IgnoredDelivery, OrderEvent, Payment

TOPIC = "order_transactions/create"
VISA = "4111111111111111"  #: a published test card number
ORDER = samples.shopify_order(6_300_000_000_011)


def transaction(**changes: Any) -> dict[str, Any]:
    """The sample card sale of ORDER with `changes` on top."""
    return samples.shopify_transaction(ORDER) | changes


def parse(payload: Any) -> Parsed:
    body = json.dumps(payload).encode()  # ASCII: a lone surrogate travels as its escape
    return shopify.parse(body, samples.headers_for(body, topic=TOPIC, secret="s", event_id="t-1"))


def recorded(payload: Any) -> OrderEvent | IgnoredDelivery:
    """What the receiver records for the delivery (the canonical models' checks included)."""
    return to_item(parse(payload), "acme", "shopify")


def details(payload: Any) -> Payment:
    event = recorded(payload)
    assert isinstance(event, OrderEvent) and event.kind is EventKind.PAYMENT_DETAILS
    assert event.order is None and event.payment is not None
    return event.payment


def test_a_card_sale_is_the_orders_payment_details() -> None:
    """A successful sale: PAYMENT_DETAILS for its `order_id`, with the card's brand and last
    four, the `authorization` as the transaction id, the holder and the time."""
    body = transaction()
    event = recorded(body)
    assert isinstance(event, OrderEvent)
    assert (event.kind, event.order_id, event.topic) == (
        EventKind.PAYMENT_DETAILS,
        str(ORDER["id"]),
        TOPIC,
    )
    assert event.payment == Payment(
        gateway="shopify_payments",
        kind="card",
        card_brand="Visa",
        card_last4="4242",
        transaction_id=samples.SAMPLE_AUTHORIZATION,
        payer_name="Dana Levi",
        paid_at=datetime.fromisoformat(body["processed_at"]),
    )


def test_a_capture_and_a_paypal_sale_count_too() -> None:
    """A capture of an earlier authorisation took the money as a sale does; PayPal's id is
    its transaction id."""
    assert details(transaction(kind="capture")).transaction_id == samples.SAMPLE_AUTHORIZATION
    paypal = samples.shopify_transaction(samples.shopify_order(7, payment="paypal"))
    payment = details(paypal)
    assert (payment.kind, payment.card_last4) == ("paypal", None)
    assert payment.transaction_id == paypal["authorization"]


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("authorization", "success"),
        ("sale", "failure"),
        ("sale", "pending"),
        ("sale", "error"),
        ("capture", "failure"),
        ("refund", "success"),
        ("void", "success"),
        ("change", "success"),
    ],
)
def test_other_transactions_are_ignored(kind: str, status: str) -> None:
    """An authorisation alone, a void, a refund, a failed or pending one took no money: the
    delivery is recorded as ignored."""
    parsed = parse(transaction(kind=kind, status=status))
    assert (parsed.kind, parsed.payment) == (None, None)
    assert isinstance(recorded(transaction(kind=kind, status=status)), IgnoredDelivery)


def test_kind_and_status_are_read_whatever_their_case() -> None:
    """ "Sale" / "SUCCESS" read as sale / success."""
    assert details(transaction(kind="Sale", status="SUCCESS")).card_last4 == "4242"


@pytest.mark.parametrize("order_id", [None, "", "   ", {"id": 1}, [1], True, "x" * 300], ids=repr)
def test_a_sale_that_names_no_usable_order_is_ignored(order_id: object) -> None:
    """Without an order id it can be tied to (missing, not an id, too long) it is kept as an
    ignored delivery, never refused."""
    assert isinstance(recorded(transaction(order_id=order_id)), IgnoredDelivery)


def test_a_gift_cards_part_of_a_split_payment_is_ignored() -> None:
    """A gift card's sale would otherwise stand as the order's card payment (its id as the
    cc block's confirmation code); only the card's own sale counts."""
    gift = transaction(gateway="gift_card", authorization="gc-1", payment_details=None)
    assert isinstance(recorded(gift), IgnoredDelivery)


def test_a_sale_that_says_nothing_of_the_payment_is_ignored() -> None:
    """No gateway, no card, no authorisation: nothing to keep."""
    bare = transaction(gateway=None, authorization=None, payment_details=None)
    assert isinstance(recorded(bare), IgnoredDelivery)


@pytest.mark.parametrize(
    ("odd", "expected"),
    [
        ({"authorization": {"id": "53433"}}, {"transaction_id": None, "card_last4": "4242"}),
        ({"authorization": "a" * 300}, {"transaction_id": None, "card_last4": "4242"}),
        ({"authorization": 53433}, {"transaction_id": "53433"}),
        ({"payment_details": "•••• 4242"}, {"kind": "card", "card_last4": None}),
        (
            {"payment_details": {"credit_card_number": ["4242"], "credit_card_company": "Visa"}},
            {"card_brand": "Visa", "card_last4": None},
        ),
        ({"gateway": ["shopify_payments"]}, {"gateway": None, "kind": "card"}),
        ({"processed_at": "yesterday", "created_at": None}, {"paid_at": None}),
        ({"processed_at": 1_741_000_000}, {"paid_at": datetime.fromtimestamp(1_741_000_000, UTC)}),
        ({"amount": "lots", "currency": 7, "id": None}, {"transaction_id": "53433"}),
    ],
    ids=repr,
)
def test_odd_values_read_as_missing(odd: dict[str, Any], expected: dict[str, Any]) -> None:
    """Each odd value reads as missing (or a refused one is dropped); the rest is kept."""
    payment = details(transaction(**odd))
    assert {name: getattr(payment, name) for name in expected} == expected


def test_card_numbers_keep_only_their_last_four() -> None:
    """A whole card number where Shopify puts the masked one, or as the authorisation: only
    its last four digits reach the event."""
    card = {"credit_card_number": f"{VISA[:4]} {VISA[4:8]} {VISA[8:12]} {VISA[12:]}"}
    payment = details(transaction(authorization=VISA, payment_details=card))
    assert payment.card_last4 == "1111" and payment.transaction_id == "[card …1111]"
    assert find_card_numbers(recorded(transaction(authorization=VISA)).model_dump_json()) == []


@pytest.mark.parametrize("body", [b"[]", b"not json", b'"sale"'])
def test_a_body_that_is_no_object_is_malformed(body: bytes) -> None:
    """As for every topic: a body that is not a JSON object is a 400."""
    with pytest.raises(MalformedBody):
        shopify.parse(body, samples.headers_for(body, topic=TOPIC, secret="s", event_id="t"))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_FIELDS = (
    "order_id",
    "kind",
    "status",
    "gateway",
    "authorization",
    "processed_at",
    "payment_details",
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=4))
def test_any_values_are_recorded(odd: dict[str, Any]) -> None:
    """Whatever JSON the fields hold, the delivery is recorded: an event or an ignored one."""
    assert isinstance(recorded(transaction(**odd)), OrderEvent | IgnoredDelivery)


def test_the_sample_is_a_masked_card_sale() -> None:
    """The sample transaction carries no card number and the documented field set; an order
    relayed with it (`with_sale`) names the transaction id itself."""
    body = samples.shopify_transaction(ORDER)
    assert find_card_numbers(json.dumps(body, ensure_ascii=False)) == []
    assert {
        "id",
        "order_id",
        "kind",
        "status",
        "gateway",
        "authorization",
        "amount",
        "currency",
        "processed_at",
        "payment_details",
    } <= body.keys()
    assert body["payment_details"]["credit_card_number"] == "•••• •••• •••• 4242"
    relayed = samples.with_sale(ORDER)
    raw = json.dumps(relayed).encode()
    headers = samples.headers_for(raw, topic="orders/paid", secret="s", event_id="o")
    order = shopify.parse(raw, headers).order
    assert order is not None and order.payment is not None
    assert order.payment.transaction_id == samples.SAMPLE_AUTHORIZATION
    assert "transactions" not in ORDER
