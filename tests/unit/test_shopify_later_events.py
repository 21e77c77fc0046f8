"""Shopify source, later events: orders/updated and orders/cancelled snapshots, and refunds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from handlers.errors import InvalidPayload
from invoicebridge.samples import shopify as samples
from invoicebridge.samples.shopify_refunds import shopify_refund
from tests.parsed_events import event_of
from tests.unit.test_shopify import (
    encode,
    fixture,
    gross_sum,
    minimal,
    parse,
    parse_order,
    parse_refund,
)
from worker.domain.events import EventKind, Line

# --- later events: updates, cancellations, refunds ----------------------------------------


def refund_document(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(fixture("refunds_create_partial.json"))
    return payload | changes


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
    event = event_of(parsed, "shopify", "acme")
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
