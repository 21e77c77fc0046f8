"""Later events in a sample Shopify order's life: refunds, updated and cancelled snapshots.

Shaped on the REST Refund resource (shared/webhooks.md 1.6); written for invoicebridge, not
copied. Every body is consistent with the `samples.shopify_order` payload it is made from:
refund amounts are the VAT-inclusive gross of what is given back, exact to the minor unit.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from invoicebridge.samples.shopify_lines import Money
from worker.domain.money import parse_amount, quantize

#: `financial_status` values a cancellation turns into "voided": nothing was captured.
_UNCAPTURED = frozenset({"pending", "authorized"})
_ZERO = Decimal(0)


def shopify_refund(
    refund_id: int,
    order: dict[str, Any],
    *,
    lines: list[tuple[int, int]] | None = None,
    amount: str | None = None,
    shipping: bool = False,
) -> dict[str, Any]:
    """A `refunds/create` body for `order` (a `samples.shopify_order` payload).

    `lines` are (line index, quantity) pairs, by default every line in full; `shipping` gives
    the order's shipping back (a `shipping_refund` adjustment). The amount is the gross of it
    all; part of a line gets its share of the line's gross and VAT, rounded half-up. `amount`
    refunds another sum (the gap becomes a `refund_discrepancy` adjustment); "0" is a
    restock-only refund with no transaction. Raises `ValueError` for an unknown line index,
    a quantity outside 1..the line's quantity, or a negative amount.
    """
    money = Money(order["currency"])
    items = _returned_items(refund_id, order, lines, money)
    adjustments = [_shipping_adjustment(refund_id, order, money)] if shipping else []
    calculated = sum((_gross(item) for item in items), _ZERO)
    calculated -= sum((_signed(adjustment) for adjustment in adjustments), _ZERO)
    refunded = calculated if amount is None else quantize(parse_amount(amount), money.currency)
    if refunded < 0:
        raise ValueError("a refund amount must not be negative")
    if 0 < refunded != calculated:  # from the shop's side: positive when less is given back
        adjustments.append(
            _adjustment(
                refund_id * 10 + 2, order, "refund_discrepancy", calculated - refunded, _ZERO, money
            )
        )
    at = _later(order["updated_at"], hours=26)
    transactions = [_transaction(refund_id, order, refunded, at, money)] if refunded else []
    return {
        "id": refund_id,
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "order_id": order["id"],
        "created_at": at,
        "processed_at": at,
        "note": "Returned by the customer" if items else None,
        "user_id": None,
        "restock": bool(items),
        "duties": [],
        "total_duties_set": money.twin(0),
        "additional_fees": [],
        "total_additional_fees_set": money.twin(0),
        "return": None,
        "refund_line_items": items,
        "transactions": transactions,
        "order_adjustments": adjustments,
    }


def updated(order: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`order` as a later `orders/updated` shows it: `updated_at` an hour after the order's,
    then `changes` (top-level fields, e.g. `refunds` or `financial_status`) on top."""
    return copy.deepcopy(order) | {"updated_at": _later(order["updated_at"], hours=1)} | changes


def cancelled(order: dict[str, Any], *, reason: str = "customer") -> dict[str, Any]:
    """`order` cancelled an hour after its last update, as `orders/cancelled` sends it; an
    order whose money was never captured becomes "voided"."""
    at = _later(order["updated_at"], hours=1)
    status = order["financial_status"]
    return updated(
        order,
        updated_at=at,
        cancelled_at=at,
        closed_at=at,
        cancel_reason=reason,
        financial_status="voided" if status in _UNCAPTURED else status,
    )


def _returned_items(
    refund_id: int, order: dict[str, Any], lines: list[tuple[int, int]] | None, money: Money
) -> list[dict[str, Any]]:
    every = [(n, line["quantity"]) for n, line in enumerate(order["line_items"])]
    chosen = every if lines is None else lines
    return [
        _refund_line_item(refund_id * 100 + k, order, index, quantity, money)
        for k, (index, quantity) in enumerate(chosen, 1)
    ]


def _later(moment: str, *, hours: int) -> str:
    return (datetime.fromisoformat(moment) + timedelta(hours=hours)).isoformat()


def _refund_line_item(
    item_id: int, order: dict[str, Any], index: int, quantity: int, money: Money
) -> dict[str, Any]:
    """`quantity` units of line `index`; the line's gross and VAT split pro rata, so that
    returning every unit gives back exactly what the line cost."""
    if not 0 <= index < len(order["line_items"]):
        raise ValueError(f"order has no line {index}")
    line = order["line_items"][index]
    if not 1 <= quantity <= line["quantity"]:
        raise ValueError(f"line {index} has {line['quantity']} units, not {quantity}")
    tax = _sum(tax_line["price"] for tax_line in line["tax_lines"])
    gross = parse_amount(line["price"]) * line["quantity"]
    gross -= _sum(allocation["amount"] for allocation in line["discount_allocations"])
    gross += _ZERO if order["taxes_included"] else tax
    if quantity < line["quantity"]:  # multiply first: exact wherever the share is
        tax = quantize(tax * quantity / line["quantity"], money.currency)
        gross = quantize(gross * quantity / line["quantity"], money.currency)
    return {
        "id": item_id,
        "line_item_id": line["id"],
        "quantity": quantity,
        "location_id": None,
        "restock_type": "return",
        # Shopify sends these two as JSON numbers; the `_set` twins carry strings
        "subtotal": float(gross - tax),
        "total_tax": float(tax),
        "subtotal_set": money.twin(gross - tax),
        "total_tax_set": money.twin(tax),
        "line_item": copy.deepcopy(line),
    }


def _shipping_adjustment(refund_id: int, order: dict[str, Any], money: Money) -> dict[str, Any]:
    """All of the order's shipping back: Shopify signs it negative, its VAT in `tax_amount`."""
    price = _sum(shipping["price"] for shipping in order["shipping_lines"])
    tax = _sum(
        tax_line["price"]
        for shipping in order["shipping_lines"]
        for tax_line in shipping["tax_lines"]
    )
    net = price - tax if order["taxes_included"] else price
    return _adjustment(
        refund_id * 10 + 1, order, "shipping_refund", _ZERO - net, _ZERO - tax, money
    )


def _adjustment(
    adjustment_id: int,
    order: dict[str, Any],
    kind: str,
    amount: Decimal,
    tax: Decimal,
    money: Money,
) -> dict[str, Any]:
    return {
        "id": adjustment_id,
        "order_id": order["id"],
        "refund_id": adjustment_id // 10,
        "kind": kind,
        "reason": kind.replace("_", " ").capitalize(),
        "amount": money(amount),
        "tax_amount": money(tax),
        "amount_set": money.twin(amount),
        "tax_amount_set": money.twin(tax),
    }


def _transaction(
    refund_id: int, order: dict[str, Any], amount: Decimal, at: str, money: Money
) -> dict[str, Any]:
    return {
        "id": refund_id * 10 + 7,
        "order_id": order["id"],
        "parent_id": order["id"] * 10 + 1,
        "kind": "refund",
        "status": "success",
        "gateway": order["gateway"],
        "amount": money(amount),
        "currency": money.currency,
        "created_at": at,
        "processed_at": at,
        "message": "Refunded",
        "test": False,
        "error_code": None,
        "source_name": "web",
        "receipt": {},
    }


def _sum(amounts: Iterable[object]) -> Decimal:
    return sum((parse_amount(amount) for amount in amounts), _ZERO)


def _gross(item: dict[str, Any]) -> Decimal:
    return _sum(item[name]["shop_money"]["amount"] for name in ("subtotal_set", "total_tax_set"))


def _signed(adjustment: dict[str, Any]) -> Decimal:
    return parse_amount(adjustment["amount"]) + parse_amount(adjustment["tax_amount"])
