"""WooCommerce sample payloads (invoicebridge.samples.woocommerce) and their signed headers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.errors import InvalidPayload
from handlers.sources import woocommerce
from invoicebridge.samples import woocommerce as samples
from tests.sample_lines import PRICES, draw_lines
from tests.unit.test_woocommerce import NOW, SECRET, encode, headers, parse, parse_order
from worker.domain.money import quantize

# --- samples -----------------------------------------------------------------------------


def test_sample_headers_are_the_full_signed_set() -> None:
    """headers_for gives every WooCommerce header, and the signature verifies."""
    body = samples.encode_body(samples.woo_order(1))
    sent = headers(body, "order.created", delivered_at=NOW)
    assert sent == sent | {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": "order.created",
        "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "created",
        "X-WC-Webhook-ID": "7",
    }
    assert set(sent) == {
        "Content-Type",
        "User-Agent",
        "X-WC-Webhook-Source",
        "X-WC-Webhook-Topic",
        "X-WC-Webhook-Resource",
        "X-WC-Webhook-Event",
        "X-WC-Webhook-Signature",
        "X-WC-Webhook-ID",
        "X-WC-Webhook-Delivery-ID",
    }
    woocommerce.verify(body, sent, [SECRET], NOW)


def test_sample_delivery_id_is_shared_within_one_second() -> None:
    """Like WooCommerce's hash of (webhook id, second): two orders in one second share it."""
    one, two = (samples.encode_body(samples.woo_order(n)) for n in (1, 2))
    moment = NOW + timedelta(milliseconds=300)
    ids = {headers(body, delivered_at=moment)["X-WC-Webhook-Delivery-ID"] for body in (one, two)}
    assert len(ids) == 1
    assert headers(one, webhook_id=8, delivered_at=moment)["X-WC-Webhook-Delivery-ID"] not in ids


@pytest.mark.parametrize(
    ("kwargs", "total", "tax"),
    [
        ({"lines": [("A", "100.00", 1)], "shipping": None}, "117.00", "17.00"),
        ({"lines": [("A", "100.00", 1)], "shipping": None, "coupon": "10%"}, "105.30", "15.30"),
        ({"lines": [("A", "10.00", 3)], "shipping": "20.00", "coupon": "5.00"}, "52.65", "7.65"),
        ({"lines": [("A", "100.00", 1)], "shipping": None, "tax_rate": "0"}, "100.00", "0.00"),
    ],
)
def test_sample_vat_coupon_and_shipping_add_up(
    kwargs: dict[str, Any], total: str, tax: str
) -> None:
    """17% VAT on top of prices without tax, after a fixed or percentage coupon."""
    payload = samples.woo_order(1, **kwargs)
    assert (payload["total"], payload["total_tax"]) == (total, tax)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lines": []},
        {"lines": [("A", "-1.00", 1)]},
        {"lines": [("A", "1.00", 0)]},
        {"lines": [("A", "5.00", 1)], "coupon": "5.01"},
        {"lines": [("A", "5.00", 1)], "shipping": None, "refunds": [(1, "5.86", "too much")]},
        {"refunds": [(1, "0.00", "nothing")]},
    ],
)
def test_sample_rejects_impossible_orders(kwargs: dict[str, Any]) -> None:
    """No lines, bad prices or quantities, an oversized coupon or refund: ValueError."""
    with pytest.raises(ValueError, match=r"order|coupon|refund"):
        samples.woo_order(1, **kwargs)


def test_sample_paid_date_and_refunds_follow_status() -> None:
    """date_paid_gmt is set once paid; refunds are listed newest first with negative totals."""
    assert samples.woo_order(1, status="pending")["date_paid_gmt"] is None
    refunds = [(3, "10.00", "first"), (8, "5.50", "second")]
    refunded = samples.woo_order(1, status="refunded", refunds=refunds)
    assert refunded["date_paid_gmt"] is not None
    assert [(r["id"], r["total"]) for r in refunded["refunds"]] == [(8, "-5.50"), (3, "-10.00")]


@st.composite
def sample_orders(draw: st.DrawFn) -> dict[str, Any]:
    """Inputs to samples.woo_order across currencies, rates, coupons, shipping and statuses."""
    names = ["Mug", "ספל", "Crème brûlée set", "Board &amp; knife", "T-shirt"]
    currency, lines, gross = draw_lines(draw, names)
    coupon = draw(
        st.none()
        | st.decimals(min_value=0, max_value=gross, places=2).map(str)
        | st.integers(0, 100).map(lambda pct: f"{pct}%")
    )
    return {
        "order_id": draw(st.integers(1, 2**31)),
        "lines": lines,
        "coupon": coupon,
        "currency": currency,
        "shipping": draw(st.none() | PRICES),
        "tax_rate": draw(st.sampled_from(["0", "17", "18", "7.5", "8.875", "25"])),
        "status": draw(st.sampled_from(["processing", "completed", "pending", "on-hold"])),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample_orders())
def test_any_sample_order_adds_up_exactly(arguments: dict[str, Any]) -> None:
    """Property: parsed lines reproduce total and total_tax of any sample exactly."""
    payload = samples.woo_order(arguments.pop("order_id"), **arguments)
    order = parse_order(samples.encode_body(payload))
    assert order.lines_total() == Decimal(payload["total"])
    assert sum(line.tax for line in order.lines) == Decimal(payload["total_tax"])
    assert sum(line.discount for line in order.lines) == Decimal(payload["discount_total"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample_orders(), st.floats(0, 1), st.floats(0, 1))
def test_negative_fee_keeps_the_lines_adding_up(
    arguments: dict[str, Any], net_share: float, tax_share: float
) -> None:
    """Property: any discount fee up to the items' net and tax is absorbed to the cent."""
    payload = samples.woo_order(arguments.pop("order_id"), **arguments)
    currency = payload["currency"]
    items = sum(Decimal(item["total"]) for item in payload["line_items"])
    taxes = sum(Decimal(item["total_tax"]) for item in payload["line_items"])
    fee = quantize(items * Decimal(str(net_share)), currency).min(items)
    fee_tax = quantize(taxes * Decimal(str(tax_share)), currency).min(taxes)
    payload["fee_lines"] = [
        {"id": 1, "name": "Discount", "total": str(-fee), "total_tax": str(-fee_tax), "taxes": []}
    ]
    payload["total"] = str(Decimal(payload["total"]) - fee - fee_tax)
    payload["total_tax"] = str(Decimal(payload["total_tax"]) - fee_tax)
    order = parse_order(samples.encode_body(payload))
    assert order.lines_total() == Decimal(payload["total"])
    assert all(line.unit_price * line.quantity >= line.discount for line in order.lines)


@pytest.mark.parametrize("quantity", ["1_0", " 5 ", "٣"])
def test_a_quantity_not_written_in_ascii_digits_is_refused_by_name(quantity: str) -> None:
    """pydantic's lax int reads "1_0" as 10; a line's quantity must be an int or ASCII digits."""
    payload = samples.woo_order(1)
    payload["line_items"][0]["quantity"] = quantity
    with pytest.raises(InvalidPayload, match=r"line_items\.0\.quantity"):
        parse(encode(payload))
