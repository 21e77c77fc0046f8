"""Shopify source: HMAC verification, parsing into canonical Orders, and the sample payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from handlers.errors import InvalidPayload, InvalidSignature, MalformedBody
from handlers.sources import Parsed, shopify
from invoicebridge.samples import shopify as samples
from invoicebridge.samples.shopify_refunds import cancelled, shopify_refund, updated
from worker.domain.events import EventKind, Line, Order, OrderEvent, Refund
from worker.domain.money import quantize

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


# --- later events: updates, cancellations, refunds ----------------------------------------


def refund_document(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(fixture("refunds_create_partial.json"))
    return payload | changes


def parse_refund(body: bytes) -> Refund:
    parsed = parse(body, "refunds/create")
    assert parsed.kind is EventKind.REFUND_ISSUED and parsed.refund is not None
    return parsed.refund


def gross_sum(refund: Refund) -> Decimal:
    """Refund lines are VAT-inclusive, whatever the order's basis."""
    return sum((line.gross(True) for line in refund.lines), Decimal(0))


def test_orders_updated_carries_the_snapshot_and_its_refunds() -> None:
    """orders/updated after a partial refund: updated_at, the money refund, not the restock."""
    parsed = parse(fixture("orders_updated_paid.json"), "orders/updated")
    assert parsed.kind is EventKind.ORDER_UPDATED
    order = parsed.order
    assert order is not None
    assert (order.order_id, order.paid, order.cancelled) == ("6012345678901", True, False)
    assert order.updated_at == datetime(2025, 5, 21, 13, 40, 5, tzinfo=UTC)
    (refund,) = order.refunds  # the restock-only refund 951234567902 moved no money
    assert (refund.refund_id, refund.amount, refund.currency) == (
        "951234567890",
        Decimal("81.57"),
        "ILS",
    )
    assert gross_sum(refund) == refund.amount


def test_orders_cancelled_marks_the_order_cancelled() -> None:
    """orders/cancelled of an unpaid bank-transfer order: cancelled, voided, so not paid."""
    parsed = parse(fixture("orders_cancelled.json"), "orders/cancelled")
    assert parsed.kind is EventKind.ORDER_CANCELLED
    order = parsed.order
    assert order is not None
    assert (order.order_id, order.number, order.cancelled, order.paid) == (
        "6012345678955",
        "#1043",
        True,
        False,
    )
    assert order.updated_at == datetime(2025, 5, 18, 5, 30, 12, tzinfo=UTC)
    assert order.refunds == ()


def test_cancelled_snapshot_under_orders_updated_stays_an_update() -> None:
    """cancelled_at set in an orders/updated body: still ORDER_UPDATED, with cancelled=True."""
    parsed = parse(fixture("orders_cancelled.json"), "orders/updated")
    assert parsed.kind is EventKind.ORDER_UPDATED
    assert parsed.order is not None and parsed.order.cancelled


def test_cancelled_follows_the_topic_or_cancelled_at() -> None:
    """The orders/cancelled topic says cancelled; other topics read cancelled_at."""
    body = encode(minimal())
    assert parse_order(body, "orders/cancelled").cancelled
    assert not parse_order(body, "orders/updated").cancelled
    assert parse_order(body, "orders/updated").updated_at is None
    assert parse_order(encode(minimal(cancelled_at="2020-01-02T00:00:00Z"))).cancelled


def test_partial_refund_with_one_line_and_shipping() -> None:
    """refunds/create: no order, its order_id, the amount, and lines that sum to it exactly."""
    parsed = parse(fixture("refunds_create_partial.json"), "refunds/create")
    assert (parsed.kind, parsed.order, parsed.order_id) == (
        EventKind.REFUND_ISSUED,
        None,
        "6012345678901",
    )
    assert parsed.dedupe_key == "acme-store.myshopify.com:refunds/create:98765"
    refund = parsed.refund
    assert refund is not None
    assert (refund.refund_id, refund.amount, refund.currency) == (
        "951234567890",
        Decimal("81.57"),
        "ILS",
    )
    assert (refund.reason, refund.created_at) == (
        "הספל הגיע שבור",
        datetime(2025, 5, 20, 8, 4, 31, tzinfo=UTC),
    )
    mug, shipping = refund.lines
    assert mug == Line(
        kind="item",
        description="ספל קרמיקה - כחול",
        sku="MUG-BLU",
        quantity=Decimal(1),
        unit_price=Decimal("56.57"),
        tax=Decimal("8.63"),
        tax_rate=Decimal(18),
    )
    assert shipping == Line(
        kind="shipping",
        description="Shipping refund",
        quantity=Decimal(1),
        unit_price=Decimal("25.00"),
        tax=Decimal("3.81"),
    )
    assert gross_sum(refund) == refund.amount


def test_parsed_refund_makes_a_valid_refund_event() -> None:
    """A refund.issued event needs no order snapshot, only the order id and the refund."""
    parsed = parse(fixture("refunds_create_partial.json"), "refunds/create")
    assert parsed.kind is not None and parsed.order_id is not None
    event = OrderEvent(
        event_id="e",
        tenant="acme",
        source="shopify",
        topic=parsed.topic,
        kind=parsed.kind,
        delivery_id=parsed.dedupe_key,
        order_id=parsed.order_id,
        refund=parsed.refund,
    )
    assert event.refund == parsed.refund


def test_restock_only_refund_is_recorded_and_ignored() -> None:
    """A refund that moved no money is kind None (acknowledged, never queued), no Refund."""
    parsed = parse(fixture("refunds_create_restock_only.json"), "refunds/create")
    assert (parsed.kind, parsed.refund, parsed.order) == (None, None, None)
    assert parsed.order_id == "6012345678901"


_SUCCESS = {"kind": "refund", "status": "success", "amount": "81.57", "currency": "ILS"}


@pytest.mark.parametrize(
    ("transactions", "amount"),
    [
        ([_SUCCESS | {"status": "failure"}, _SUCCESS], "81.57"),
        ([_SUCCESS | {"status": "pending"}], None),
        ([_SUCCESS | {"status": "failure"}], None),
        ([_SUCCESS | {"kind": "sale"}, _SUCCESS], "81.57"),
        ([_SUCCESS | {"amount": "60.00"}, _SUCCESS | {"amount": "21.57"}], "81.57"),
        ([_SUCCESS | {"amount": "0.00"}], None),
        ([], None),
    ],
)
def test_amount_counts_only_successful_refund_transactions(
    transactions: list[dict[str, Any]], amount: str | None
) -> None:
    """Failed, pending and non-refund transactions move no money; none at all: kind None."""
    parsed = parse(encode(refund_document(transactions=transactions)), "refunds/create")
    if amount is None:
        assert (parsed.kind, parsed.refund) == (None, None)
    else:
        assert parsed.refund is not None and parsed.refund.amount == Decimal(amount)


@pytest.mark.parametrize(
    ("changes", "kept"),
    [
        ({}, True),
        ({"order_adjustments": []}, False),  # lines 56.57, refunded 81.57
        ({"transactions": [_SUCCESS | {"amount": "91.57"}]}, False),
    ],
)
def test_lines_are_kept_only_when_they_sum_to_the_amount(
    changes: dict[str, Any], kept: bool
) -> None:
    """Lines that do not add up exactly are dropped: the credit note has one line instead."""
    refund = parse_refund(encode(refund_document(**changes)))
    assert bool(refund.lines) is kept
    if kept:
        assert gross_sum(refund) == refund.amount


def test_refund_discrepancy_lowering_the_refund_drops_the_lines() -> None:
    """A positive refund_discrepancy (less given back than calculated) cannot be a line."""
    order = samples.shopify_order(11, lines=[("Mug", "59.90", 2)], shipping=None)
    less = parse_refund(samples.encode_body(shopify_refund(4, order, amount="50.00")))
    assert (less.amount, less.lines) == (Decimal("50.00"), ())
    more = parse_refund(samples.encode_body(shopify_refund(5, order, amount="130.00")))
    assert [line.description for line in more.lines] == ["Mug", "Refund discrepancy"]
    assert gross_sum(more) == more.amount == Decimal("130.00")


def test_quantity_that_does_not_divide_the_gross_becomes_one_line() -> None:
    """89.99 for 3 towels has no exact unit price: one line "Tea towel × 3"; 2 mugs at
    119.80 keep their quantity."""
    order = samples.shopify_order(
        12, lines=[("Tea towel", "33.33", 3)], discount="10.00", shipping=None
    )
    refund = parse_refund(samples.encode_body(shopify_refund(6, order)))
    (towels,) = refund.lines
    assert (towels.description, towels.quantity) == ("Tea towel × 3", Decimal(1))
    assert towels.unit_price == refund.amount == Decimal("89.99")
    mugs = samples.shopify_order(13, lines=[("Mug", "59.90", 4)], shipping=None)
    (two,) = parse_refund(samples.encode_body(shopify_refund(7, mugs, lines=[(0, 2)]))).lines
    assert (two.description, two.quantity, two.unit_price) == ("Mug", Decimal(2), Decimal("59.90"))


def test_snapshot_refund_without_a_currency_takes_the_orders() -> None:
    """Inside an order, a refund whose transactions name no currency is in the order's."""
    order = json.loads(fixture("orders_updated_paid.json"))
    for transaction in order["refunds"][0]["transactions"]:
        del transaction["currency"]
    (refund,) = parse_order(encode(order), "orders/updated").refunds
    assert (refund.currency, refund.amount) == ("ILS", Decimal("81.57"))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"order_id": None}, "order_id: missing"),
        ({"id": None}, "id: missing"),
        ({"transactions": [_SUCCESS | {"currency": "USD"}, _SUCCESS]}, "transactions: refunded in"),
        (
            {"transactions": [{k: v for k, v in _SUCCESS.items() if k != "currency"}]},
            "transactions.currency: missing",
        ),
        ({"transactions": [_SUCCESS | {"amount": "eighty"}]}, "transactions.0.amount: not an"),
        ({"refund_line_items": [{"quantity": 1}]}, "refund_line_items.0.subtotal: missing"),
    ],
)
def test_invalid_refund_names_the_field(changes: dict[str, Any], field: str) -> None:
    """A refunds/create body that cannot be read is a 422 naming the field, not its value."""
    payload = refund_document(**changes)
    for key in [key for key, value in changes.items() if value is None]:
        del payload[key]
    with pytest.raises(InvalidPayload) as caught:
        parse(encode(payload), "refunds/create")
    assert caught.value.detail.startswith(field)
    assert "eighty" not in caught.value.detail


def test_invalid_refund_inside_an_order_names_its_path() -> None:
    """A bad refund in an order snapshot is a 422 whose detail starts at refunds.N."""
    order = json.loads(fixture("orders_updated_paid.json"))
    order["refunds"][0]["transactions"][0]["amount"] = "lots"
    with pytest.raises(InvalidPayload, match=r"^refunds\.0\.transactions\.0\.amount"):
        parse(encode(order), "orders/updated")


def test_absurd_amounts_are_a_422_naming_the_field() -> None:
    """Amounts beyond the domain's bounds (10^15) are refused as they are read, before any
    arithmetic could overflow: a 422 naming the field, nothing else raises."""
    item = {"quantity": 3, "subtotal": "1E+40", "total_tax": "0", "line_item": {"name": "X"}}
    payload = refund_document(
        refund_line_items=[item],
        order_adjustments=[],
        transactions=[_SUCCESS | {"amount": "1E+40"}],
    )
    with pytest.raises(InvalidPayload, match=r"refund_line_items\.0\.subtotal: more than"):
        parse_refund(encode(payload))


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b'{"id": 1',
        b"[1, 2]",
        b'"order"',
        b"null",
        b"\xff\xfe{}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
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
    payload = minimal()
    target: Any = payload
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
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


# --- samples -----------------------------------------------------------------------------


def test_sample_headers_are_the_full_signed_set() -> None:
    """headers_for gives every Shopify header, and the signature verifies."""
    body = samples.encode_body(samples.shopify_order(1))
    sent = samples.headers_for(body, topic="orders/paid", secret=SECRET, event_id="e-1")
    assert set(sent) == {
        "Content-Type",
        "X-Shopify-Topic",
        "X-Shopify-Hmac-Sha256",
        "X-Shopify-Shop-Domain",
        "X-Shopify-API-Version",
        "X-Shopify-Webhook-Id",
        "X-Shopify-Event-Id",
        "X-Shopify-Triggered-At",
    }
    assert sent["X-Shopify-API-Version"] == "2025-07"
    shopify.verify(body, sent, [SECRET], NOW)
    assert shopify.parse(body, sent).occurred_at is not None


def test_demo_orders_parse_and_add_up() -> None:
    """Each demo order parses and its lines reproduce total_price exactly."""
    orders = [parse_order(samples.encode_body(payload)) for payload in samples.demo_orders()]
    assert len(orders) == 6
    assert [order.number for order in orders] == [f"#{n}" for n in range(1001, 1007)]
    for order in orders:
        assert order.lines_total() == order.total
    names = {order.customer.name for order in orders}
    assert {"דנה לוי", "Zoë Ångström"} <= names
    assert [order.paid for order in orders].count(False) == 1
    assert [order.prices_include_tax for order in orders].count(False) == 1
    assert any(line.discount for order in orders for line in order.lines)


def test_sample_discount_is_split_exactly() -> None:
    """A fixed discount is allocated in whole agorot that add up to the code's amount."""
    payload = samples.shopify_order(
        7, lines=[("A", "33.33", 3), ("B", "19.90", 1), ("C", "10.00", 1)], discount="10.00"
    )
    shares = [
        Decimal(a["amount"]) for line in payload["line_items"] for a in line["discount_allocations"]
    ]
    assert sum(shares) == Decimal(payload["total_discounts"]) == Decimal("10.00")
    assert all(share == share.quantize(Decimal("0.01")) for share in shares)


@pytest.mark.parametrize(
    ("included", "price", "total"), [(True, "118.00", "118.00"), (False, "100.00", "118.00")]
)
def test_sample_vat_is_extracted_or_added(included: bool, price: str, total: str) -> None:
    """18% VAT is taken out of a VAT-inclusive price and added on top of a VAT-exclusive one."""
    payload = samples.shopify_order(
        1, lines=[("A", price, 1)], shipping=None, taxes_included=included
    )
    assert (payload["total_tax"], payload["total_price"]) == ("18.00", total)
    assert payload["line_items"][0]["tax_lines"][0]["price"] == "18.00"


def test_sample_rejects_a_discount_above_the_lines() -> None:
    """A discount larger than what the lines cost cannot be allocated."""
    with pytest.raises(ValueError, match="discount"):
        samples.shopify_order(1, lines=[("A", "5.00", 1)], discount="5.01")


_PRICES = st.decimals(min_value=0, max_value=2500, places=2).map(str)


@st.composite
def sample_orders(draw: st.DrawFn) -> dict[str, Any]:
    """Inputs to samples.shopify_order across currencies, rates, discounts and shipping."""
    currency = draw(st.sampled_from(["ILS", "USD", "EUR", "JPY", "KWD"]))
    titles = st.sampled_from(["Mug", "ספל", "Crème brûlée set", "Board", "T-shirt - M"])
    lines = draw(st.lists(st.tuples(titles, _PRICES, st.integers(1, 12)), min_size=1, max_size=5))
    gross = sum(quantize(Decimal(price), currency) * qty for _, price, qty in lines)
    discount = draw(st.none() | st.decimals(min_value=0, max_value=gross, places=2).map(str))
    return {
        "order_id": draw(st.integers(1, 2**53)),
        "lines": lines,
        "discount": discount,
        "currency": currency,
        "shipping": draw(st.none() | _PRICES),
        "taxes_included": draw(st.booleans()),
        "vat_rate": draw(st.sampled_from(["0", "0.17", "0.18", "0.075", "0.0875", "0.25"])),
        "financial_status": draw(st.sampled_from(["paid", "pending", "refunded"])),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample_orders())
def test_any_sample_order_adds_up_exactly(arguments: dict[str, Any]) -> None:
    """Property: parsed lines reproduce total_price and total_tax of any sample exactly."""
    order_id = arguments.pop("order_id")
    payload = samples.shopify_order(order_id, **arguments)
    order = parse_order(samples.encode_body(payload))
    assert order.lines_total() == Decimal(payload["total_price"])
    assert sum(line.tax for line in order.lines) == Decimal(payload["total_tax"])
    assert sum(line.discount for line in order.lines) == Decimal(payload["total_discounts"])


def test_sample_refund_rejects_impossible_lines_and_amounts() -> None:
    """An unknown line, more units than the line has, or a negative amount is a ValueError."""
    order = samples.shopify_order(14, lines=[("Mug", "59.90", 2)])
    for lines, amount in [([(1, 1)], None), ([(0, 3)], None), ([(0, 0)], None), (None, "-1")]:
        with pytest.raises(ValueError):
            shopify_refund(8, order, lines=lines, amount=amount)


def test_sample_restock_only_refund_has_no_transaction() -> None:
    """amount "0" is a restock: line items, no transaction, nothing parsed as a refund."""
    order = samples.shopify_order(15)
    payload = shopify_refund(9, order, amount="0")
    assert (payload["restock"], payload["transactions"]) == (True, [])
    assert len(payload["refund_line_items"]) == 2
    assert parse(samples.encode_body(payload), "refunds/create").kind is None


def test_sample_full_refund_gives_back_the_order_total() -> None:
    """Every line in full plus shipping is the order's total_price, VAT-exclusive or not."""
    for included in (True, False):
        order = samples.shopify_order(16, discount="7.77", taxes_included=included)
        refund = parse_refund(samples.encode_body(shopify_refund(10, order, shipping=True)))
        assert refund.amount == Decimal(order["total_price"]) == gross_sum(refund)
        assert sum(line.tax for line in refund.lines) == Decimal(order["total_tax"])


def test_sample_updated_and_cancelled_snapshots() -> None:
    """updated() moves updated_at on and applies changes; cancelled() voids an unpaid order."""
    order = samples.shopify_order(17, financial_status="pending")
    later = updated(order, note="gift")
    assert (later["note"], order["note"]) == ("gift", None)
    assert datetime.fromisoformat(later["updated_at"]) > datetime.fromisoformat(order["updated_at"])
    gone = cancelled(later)
    assert (gone["financial_status"], gone["cancel_reason"]) == ("voided", "customer")
    assert gone["cancelled_at"] == gone["updated_at"] > later["updated_at"]
    parsed = parse_order(samples.encode_body(gone), "orders/cancelled")
    assert (parsed.cancelled, parsed.paid) == (True, False)
    assert cancelled(samples.shopify_order(18))["financial_status"] == "paid"


def test_sample_refund_in_an_updated_snapshot() -> None:
    """An orders/updated sample listing refunds parses them into Order.refunds."""
    order = samples.shopify_order(19)
    money = shopify_refund(20, order, lines=[(0, 1)], shipping=True)
    snapshot = updated(
        order,
        refunds=[money, shopify_refund(21, order, amount="0")],
        financial_status="partially_refunded",
    )
    (refund,) = parse_order(samples.encode_body(snapshot), "orders/updated").refunds
    assert refund.refund_id == "20" and refund.amount == gross_sum(refund) > 0


@st.composite
def sample_refunds(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A sample order and a random partial refund of it: some units of some lines, maybe the
    shipping, and sometimes an amount other than the calculated one."""
    arguments = draw(sample_orders())
    order = samples.shopify_order(arguments.pop("order_id"), **arguments)
    count = len(order["line_items"])
    picked = draw(st.lists(st.integers(0, count - 1), unique=True, max_size=count))
    lines = [(n, draw(st.integers(1, order["line_items"][n]["quantity"]))) for n in picked]
    amount = draw(st.none() | st.decimals(min_value=0, max_value=5000, places=2).map(str))
    refund = shopify_refund(
        draw(st.integers(1, 2**53)), order, lines=lines, amount=amount, shipping=draw(st.booleans())
    )
    return order, refund


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample_refunds())
def test_any_sample_refund_parses_to_its_transactions(
    sample: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Property: the amount is the successful transactions' sum; kept lines add up to it."""
    order, payload = sample
    moved = sum(
        (
            Decimal(t["amount"])
            for t in payload["transactions"]
            if (t["kind"], t["status"]) == ("refund", "success")
        ),
        Decimal(0),
    )
    parsed = parse(samples.encode_body(payload), "refunds/create")
    assert parsed.order_id == str(order["id"])
    if moved == 0:
        assert (parsed.kind, parsed.refund) == (None, None)
        return
    refund = parsed.refund
    assert refund is not None and parsed.kind is EventKind.REFUND_ISSUED
    assert (refund.amount, refund.currency) == (moved, order["currency"])
    kinds = {adjustment["kind"] for adjustment in payload["order_adjustments"]}
    if refund.lines or "refund_discrepancy" not in kinds:  # the calculated amount keeps them
        assert gross_sum(refund) == refund.amount


@pytest.mark.parametrize("quantity", ["1_0", " 5 ", "٣", "3.5"])
def test_a_quantity_not_written_in_ascii_digits_is_refused_by_name(quantity: str) -> None:
    """pydantic's lax int reads "1_0" as 10; a line's quantity must be an int or ASCII digits."""
    payload = minimal()
    payload["line_items"][0]["quantity"] = quantity
    with pytest.raises(InvalidPayload, match=r"line_items\.0\.quantity"):
        parse(encode(payload))


def test_a_quantity_as_ascii_digit_text_is_read_as_the_number() -> None:
    as_text, as_number = minimal(), minimal()
    as_text["line_items"][0]["quantity"], as_number["line_items"][0]["quantity"] = "2", 2
    line = parse_order(encode(as_text)).lines[0]
    assert line.quantity == Decimal(2) and line == parse_order(encode(as_number)).lines[0]
