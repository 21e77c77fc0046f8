"""Shopify source: HMAC verification, parsing into canonical Orders, and the sample payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from handlers.errors import InvalidPayload, InvalidSignature, MalformedBody
from handlers.sources import Parsed, shopify
from invoicebridge.samples import shopify as samples
from tests.hostile_inputs import NOT_JSON_OBJECTS, mutate
from worker.domain.events import EventKind, Line, Order, Refund

SECRET = "shpss_test_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OLD_SECRET = "shpss_test_retired_aaaaaaaaaaaaaaaaaaaaaaaa"
NOW = datetime(2025, 5, 14, 15, 22, 10, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"
#: Each order fixture with the topic it arrives under.
ORDER_FIXTURES = {
    "orders_create_ils_discount.json": "orders/create",
    "orders_create_usd_exclusive.json": "orders/create",
    "orders_paid_minimal.json": "orders/paid",
    "orders_updated_paid.json": "orders/updated",
    "orders_cancelled.json": "orders/cancelled",
}


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def headers(body: bytes, topic: str = "orders/create", event_id: str = "98765") -> dict[str, str]:
    return samples.headers_for(body, topic=topic, secret=SECRET, event_id=event_id)


def parse(body: bytes, topic: str = "orders/create") -> Parsed:
    return shopify.parse(body, headers(body, topic))


def parse_order(body: bytes, topic: str = "orders/create") -> Order:
    order = parse(body, topic).order
    assert order is not None
    return order


def minimal(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(fixture("orders_paid_minimal.json"))
    return payload | changes


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def parse_refund(body: bytes) -> Refund:
    parsed = parse(body, "refunds/create")
    assert parsed.kind is EventKind.REFUND_ISSUED and parsed.refund is not None
    return parsed.refund


def gross_sum(refund: Refund) -> Decimal:
    """Refund lines are VAT-inclusive, whatever the order's basis."""
    return sum((line.gross(True) for line in refund.lines), Decimal(0))


# --- signature ---------------------------------------------------------------------------


def test_sign_is_base64_hmac_sha256_of_the_raw_body() -> None:
    """sign() matches `openssl dgst -sha256 -hmac secret -binary | base64` of the body."""
    assert shopify.sign(b"{}", "secret") == "dzJZAsrKgS3CWXM6rNBGtzgXNyx3e42VtAJkdHRRbhM="


def test_valid_signature_passes() -> None:
    """A body signed with the configured secret verifies."""
    body = fixture("orders_create_ils_discount.json")
    shopify.verify(body, headers(body), [SECRET], NOW)


def test_wrong_secret_is_rejected() -> None:
    """A signature made with another secret is a 401."""
    body = fixture("orders_create_ils_discount.json")
    with pytest.raises(InvalidSignature):
        shopify.verify(body, headers(body), ["some-other-secret"], NOW)


def test_tampered_body_is_rejected() -> None:
    """Changing one byte of the body after signing breaks the signature."""
    body = fixture("orders_create_ils_discount.json")
    signed = headers(body)
    tampered = body.replace(b'"279.70"', b'"279.71"', 1)
    assert len(tampered) == len(body) and tampered != body
    with pytest.raises(InvalidSignature):
        shopify.verify(tampered, signed, [SECRET], NOW)


def test_missing_header_is_rejected() -> None:
    """No X-Shopify-Hmac-Sha256 header at all is a 401."""
    body = b"{}"
    unsigned = {k: v for k, v in headers(body).items() if "hmac" not in k.lower()}
    with pytest.raises(InvalidSignature, match="missing"):
        shopify.verify(body, unsigned, [SECRET], NOW)


@pytest.mark.parametrize("secrets", [[], [""]])
def test_no_configured_secret_fails_closed(secrets: list[str]) -> None:
    """Without a (non-empty) secret nothing verifies, not even an empty-key HMAC."""
    body = b"{}"
    with pytest.raises(InvalidSignature):
        shopify.verify(body, {"X-Shopify-Hmac-Sha256": shopify.sign(body, "")}, secrets, NOW)


@pytest.mark.parametrize("value", ["not base64!", "Zm9v", "", "שלום"])
def test_undecodable_or_short_signature_is_rejected(value: str) -> None:
    """Garbage, a digest of the wrong length, a blank or non-ASCII header are all 401s."""
    with pytest.raises(InvalidSignature):
        shopify.verify(b"{}", {"X-Shopify-Hmac-Sha256": value}, [SECRET], NOW)


def test_rotation_accepts_either_secret() -> None:
    """During a rotation a body signed with the second configured secret verifies."""
    body = fixture("orders_create_ils_discount.json")
    shopify.verify(body, headers(body), [OLD_SECRET, SECRET], NOW)
    shopify.verify(body, headers(body), [SECRET, OLD_SECRET], NOW)


@pytest.mark.parametrize(
    "name",
    [
        "X-Shopify-Hmac-Sha256",
        "X-Shopify-Hmac-SHA256",
        "x-shopify-hmac-sha256",
        "shopify-hmac-sha256",
        "Shopify-Hmac-Sha256",
    ],
)
def test_header_name_is_case_insensitive(name: str) -> None:
    """Every casing seen in the wild, and the unprefixed events-style name, is accepted."""
    body = b'{"id": 1}'
    shopify.verify(body, {name: shopify.sign(body, SECRET)}, [SECRET], NOW)


def test_verify_accepts_aiohttp_multidict_headers() -> None:
    """The receiver passes a CIMultiDict; verify and parse read it like a dict."""
    body = fixture("orders_paid_minimal.json")
    multi = CIMultiDict(headers(body, "orders/paid"))
    shopify.verify(body, multi, [SECRET], NOW)
    assert shopify.parse(body, multi).kind is EventKind.ORDER_PAID


def test_error_detail_never_leaks_secret_or_digests() -> None:
    """No rejection's detail or problem body holds the secret, the expected or the received MAC."""
    body = fixture("orders_create_ils_discount.json")
    received = shopify.sign(body, "attacker-guess")
    for secrets in ([SECRET], [OLD_SECRET, SECRET]):
        with pytest.raises(InvalidSignature) as caught:
            shopify.verify(body, {"X-Shopify-Hmac-Sha256": received}, secrets, NOW)
        text = f"{caught.value} {caught.value.detail} {caught.value.title}"
        for secret_value in (*secrets, shopify.sign(body, SECRET), received, received[:12]):
            assert secret_value not in text


# --- parsing fixtures --------------------------------------------------------------------


def test_ils_order_with_discount_shipping_and_hebrew_name() -> None:
    """VAT-inclusive ILS order: allocations, per-line VAT, shipping and the Hebrew buyer."""
    order = parse_order(fixture("orders_create_ils_discount.json"))
    assert (order.order_id, order.number, order.currency) == ("6012345678901", "#1042", "ILS")
    assert order.prices_include_tax and order.paid
    assert (order.total, order.total_tax) == (Decimal("279.70"), Decimal("42.66"))
    assert order.created_at == datetime(2025, 5, 14, 15, 22, 7, tzinfo=UTC)
    assert (order.payment_gateway, order.note) == ("shopify_payments", "נא להשאיר ליד הדלת")
    board, mug, shipping = order.lines
    assert board == Line(
        kind="item",
        description="Olive wood cutting board - Large",
        sku="OWB-L",
        quantity=Decimal(1),
        unit_price=Decimal("149.90"),
        discount=Decimal("8.34"),
        tax=Decimal("21.59"),
        tax_rate=Decimal(18),
    )
    assert (mug.description, mug.quantity) == ("ספל קרמיקה - כחול", Decimal(2))
    assert mug.discount == Decimal("6.66")
    assert shipping == Line(
        kind="shipping",
        description="דואר ישראל - רשום",
        quantity=Decimal(1),
        unit_price=Decimal("25.00"),
        tax=Decimal("3.81"),
        tax_rate=Decimal(18),
    )
    customer = order.customer
    assert (customer.name, customer.email) == ("דנה לוי", "dana.levi@example.co.il")
    assert (customer.phone, customer.company) == ("+972501234567", "לוי עיצובים")
    assert (customer.address, customer.city) == ("הרצל 12, דירה 4", "תל אביב-יפו")
    assert (customer.postcode, customer.country, customer.vat_id) == ("6801205", "IL", None)


def test_usd_order_with_tax_added_and_several_tax_lines() -> None:
    """VAT-exclusive order: state + city rates add up, a gift card is untaxed, unpaid."""
    order = parse_order(fixture("orders_create_usd_exclusive.json"))
    assert (order.number, order.currency, order.prices_include_tax) == ("NY-2207", "USD", False)
    assert not order.paid  # financial_status "authorized": not captured yet
    shoe, socks, gift_card, shipping = order.lines
    assert (shoe.tax, shoe.tax_rate, shoe.taxable) == (Decimal("10.65"), Decimal("8.875"), True)
    assert (socks.discount, socks.tax) == (Decimal("5.40"), Decimal("4.31"))
    assert (gift_card.description, gift_card.sku) == ("Gift Card - $25", None)
    assert (gift_card.tax, gift_card.tax_rate, gift_card.taxable) == (Decimal(0), None, False)
    assert shipping.kind == "shipping"
    assert (shipping.tax, shipping.tax_rate) == (Decimal("0.40"), Decimal(4))
    assert sum(line.tax for line in order.lines) == order.total_tax == Decimal("15.36")
    customer = order.customer  # no billing address: the customer record and contact_email
    assert (customer.name, customer.email) == ("Jordan Reyes", "jordan.reyes@example.com")
    assert (customer.phone, customer.address) == ("+12125550143", None)


def test_minimal_paid_order_from_an_old_api_version() -> None:
    """orders/paid without name, allocations or tax lines: number, discount and buyer fall back."""
    parsed = parse(fixture("orders_paid_minimal.json"), "orders/paid")
    assert (parsed.kind, parsed.topic) == (EventKind.ORDER_PAID, "orders/paid")
    order = parsed.order
    assert order is not None
    assert (order.number, order.paid, order.payment_gateway) == ("1003", True, "manual")
    (candle,) = order.lines  # the unallocated total_discounts lands on the first line
    assert (candle.discount, candle.tax, candle.taxable) == (Decimal("10.00"), Decimal(0), True)
    assert (order.customer.name, order.customer.email) == ("buyer@example.org",) * 2


def test_orders_paid_is_paid_whatever_the_financial_status() -> None:
    """The orders/paid topic itself says the order is paid."""
    body = encode(minimal(financial_status="pending"))
    assert parse_order(body, "orders/paid").paid
    assert not parse_order(body, "orders/create").paid


@pytest.mark.parametrize(
    ("status", "paid"),
    [
        ("paid", True),
        ("partially_refunded", True),
        ("refunded", True),
        ("pending", False),
        ("authorized", False),
        ("partially_paid", False),
        ("voided", False),
        (None, False),
    ],
)
def test_paid_follows_financial_status(status: str | None, paid: bool) -> None:
    """Money captured at some point (even if later refunded) counts as paid."""
    assert parse_order(encode(minimal(financial_status=status))).paid is paid


def test_other_topic_is_recorded_without_an_order() -> None:
    """customers/create is acknowledged as kind None, its body not validated as an order."""
    parsed = parse(fixture("customers_create.json"), "customers/create")
    assert (parsed.kind, parsed.order, parsed.topic) == (None, None, "customers/create")
    assert parse(b'{"anything": [1, 2]}', "orders/fulfilled").order is None


@pytest.mark.parametrize("name", sorted(ORDER_FIXTURES))
def test_fixture_lines_add_up_to_the_shop_total(name: str) -> None:
    """Every order fixture's lines reproduce total_price to the cent."""
    order = parse_order(fixture(name), ORDER_FIXTURES[name])
    assert order.lines_total() == order.total


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", NOT_JSON_OBJECTS)
def test_body_that_is_not_a_json_object_is_malformed(body: bytes) -> None:
    """Not JSON, not UTF-8, too deep or not an object: 400, whatever the topic."""
    for topic in ("orders/create", "customers/create"):
        with pytest.raises(MalformedBody):
            parse(body, topic)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("line_items", 0, "price"), None, "line_items.0.price: missing"),
        (("line_items", 0, "price"), "12,50", "line_items.0.price: not an amount"),
        (("line_items", 0, "price"), "NaN", "line_items.0.price: not an amount"),
        (("line_items", 0, "quantity"), -2, "line_items.0.quantity"),
        (("line_items", 0, "quantity"), 1.5, "line_items.0.quantity"),
        (("total_price",), "buyer@example.org", "total_price: not an amount"),
        (("currency",), "shekel", "currency"),
        (("created_at",), "yesterday", "created_at"),
        (("taxes_included",), None, "taxes_included: missing"),
        (("line_items",), [], "line_items"),
    ],
)
def test_invalid_order_names_the_field_not_the_value(
    path: tuple[str | int, ...], value: Any, field: str
) -> None:
    """A bad field is a 422 whose detail names the path and never echoes the value."""
    payload = mutate(minimal(), path, value, delete=value is None)
    with pytest.raises(InvalidPayload) as caught:
        parse(encode(payload))
    assert caught.value.detail.startswith(field)
    if isinstance(value, str):
        assert value not in caught.value.detail


def test_line_without_any_name_is_invalid() -> None:
    """A line item with neither name nor title cannot be described on a document."""
    payload = minimal(line_items=[{"quantity": 1, "price": "118.00"}], total_discounts="0")
    with pytest.raises(InvalidPayload, match=r"line_items\.0\.name"):
        parse(encode(payload))


def test_discount_larger_than_the_lines_is_invalid() -> None:
    """An unallocated total_discounts no item line can absorb is a 422."""
    with pytest.raises(InvalidPayload, match="total_discounts"):
        parse(encode(minimal(total_discounts="500.00")))


@pytest.mark.parametrize("drop", ["X-Shopify-Topic", "both-ids"])
def test_missing_topic_or_ids_is_invalid(drop: str) -> None:
    """Without a topic, or without both Event-Id and Webhook-Id, there is nothing to dedupe on."""
    body = fixture("orders_paid_minimal.json")
    gone = {"X-Shopify-Event-Id", "X-Shopify-Webhook-Id"} if drop == "both-ids" else {drop}
    partial = {k: v for k, v in headers(body).items() if k not in gone}
    with pytest.raises(InvalidPayload):
        shopify.parse(body, partial)


# --- dedupe key and timing ---------------------------------------------------------------


def test_dedupe_key_prefers_event_id_then_webhook_id() -> None:
    """Event-Id wins; without it the Webhook-Id is used; both are scoped by shop and topic."""
    body = fixture("orders_paid_minimal.json")
    full = headers(body, "orders/paid", event_id="5551")
    parsed = shopify.parse(body, full)
    assert parsed.dedupe_key == "acme-store.myshopify.com:orders/paid:5551"
    no_event = {k: v for k, v in full.items() if k != "X-Shopify-Event-Id"}
    webhook_id = full["X-Shopify-Webhook-Id"]
    expected = f"acme-store.myshopify.com:orders/paid:{webhook_id}"
    assert shopify.parse(body, no_event).dedupe_key == expected


def test_dedupe_key_differs_across_shops_and_topics() -> None:
    """The same Event-Id from another shop or under another topic is another event."""
    body = fixture("orders_paid_minimal.json")
    keys = {
        shopify.parse(
            body, samples.headers_for(body, topic=topic, secret=SECRET, event_id="1", shop=shop)
        ).dedupe_key
        for topic in ("orders/create", "orders/paid")
        for shop in ("a.myshopify.com", "b.myshopify.com")
    }
    assert len(keys) == 4


def test_occurred_at_comes_from_triggered_at() -> None:
    """X-Shopify-Triggered-At (nanoseconds and Z included) becomes occurred_at; junk is ignored."""
    body = fixture("orders_paid_minimal.json")
    sent = headers(body) | {"X-Shopify-Triggered-At": "2025-05-14T15:22:07.123456789Z"}
    assert shopify.parse(body, sent).occurred_at == datetime(2025, 5, 14, 15, 22, 7, 123456, UTC)
    junk = sent | {"X-Shopify-Triggered-At": "last tuesday"}
    assert shopify.parse(body, junk).occurred_at is None
