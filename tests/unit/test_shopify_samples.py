"""Shopify sample payloads (invoicebridge.samples.shopify): signed headers, demo orders, refunds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.errors import InvalidPayload
from handlers.sources import shopify
from invoicebridge.samples import shopify as samples
from invoicebridge.samples.shopify_refunds import cancelled, shopify_refund, updated
from tests.sample_lines import PRICES, draw_lines
from tests.unit.test_shopify import (
    NOW,
    SECRET,
    encode,
    gross_sum,
    minimal,
    parse,
    parse_order,
    parse_refund,
)
from worker.domain.events import EventKind

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


@st.composite
def sample_orders(draw: st.DrawFn) -> dict[str, Any]:
    """Inputs to samples.shopify_order across currencies, rates, discounts and shipping."""
    titles = ["Mug", "ספל", "Crème brûlée set", "Board", "T-shirt - M"]
    currency, lines, gross = draw_lines(draw, titles)
    discount = draw(st.none() | st.decimals(min_value=0, max_value=gross, places=2).map(str))
    return {
        "order_id": draw(st.integers(1, 2**53)),
        "lines": lines,
        "discount": discount,
        "currency": currency,
        "shipping": draw(st.none() | PRICES),
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
