"""A sample WooCommerce order's lines (`samples.woocommerce`): a coupon spread over them pro
rata, their tax before and after it, the order's totals, and the line item, tax line and
shipping line objects that carry them, every amount written as WooCommerce writes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoicebridge.samples.allocation import allocate
from worker.domain.money import parse_amount, quantize

#: Writes an amount as WooCommerce does (see `formatter`).
MoneyFormat = Callable[[Decimal], str]
_RATE_ID = 1  #: the one tax rate's id, as `taxes[].id` and `tax_lines[].rate_id`


@dataclass(frozen=True)
class Row:
    """One line item: before-coupon subtotal and after-coupon total, each with its tax."""

    name: str
    quantity: int
    subtotal: Decimal
    total: Decimal
    subtotal_tax: Decimal
    total_tax: Decimal


def formatter(currency: str) -> MoneyFormat:
    """Amounts as WooCommerce writes them: a string with the currency's decimals."""
    return lambda amount: str(quantize(amount, currency))


def order_rows(
    lines: Sequence[tuple[str, str, int]], coupon: str | None, rate: Decimal, currency: str
) -> list[Row]:
    prices = [quantize(parse_amount(price), currency) for _, price, _ in lines]
    quantities = [quantity for _, _, quantity in lines]
    if not lines or min(prices) < 0 or min(quantities) < 1:
        raise ValueError("an order needs lines with prices >= 0 and quantities >= 1")
    subtotals = [price * qty for price, qty in zip(prices, quantities, strict=True)]
    gross = sum(subtotals, Decimal(0))
    shares = allocate(
        _coupon_amount(coupon, gross, currency),
        subtotals,
        currency,
        out_of_range="a coupon must be between zero and the lines' subtotal",
    )
    rows = []
    for (name, _, qty), subtotal, share in zip(lines, subtotals, shares, strict=True):
        total = subtotal - share
        rows.append(
            Row(
                name,
                qty,
                subtotal,
                total,
                quantize(subtotal * rate, currency),
                quantize(total * rate, currency),
            )
        )
    return rows


def _coupon_amount(coupon: str | None, gross: Decimal, currency: str) -> Decimal:
    """A fixed coupon as is; a percentage of the lines' subtotal, rounded half-up."""
    if coupon is None:
        return Decimal(0)
    if coupon.endswith("%"):
        return quantize(gross * parse_amount(coupon.removesuffix("%")) / 100, currency)
    return quantize(parse_amount(coupon), currency)


def order_totals(
    rows: Sequence[Row], ship: Decimal, ship_tax: Decimal, money: MoneyFormat
) -> dict[str, str]:
    """The order-level totals: every tax is the sum of the lines' rounded taxes."""
    discount = sum((row.subtotal - row.total for row in rows), Decimal(0))
    discount_tax = sum((row.subtotal_tax - row.total_tax for row in rows), Decimal(0))
    cart_tax = sum((row.total_tax for row in rows), Decimal(0))
    items = sum((row.total for row in rows), Decimal(0))
    return {
        "discount_total": money(discount),
        "discount_tax": money(discount_tax),
        "shipping_total": money(ship),
        "shipping_tax": money(ship_tax),
        "cart_tax": money(cart_tax),
        "total": money(items + ship + cart_tax + ship_tax),
        "total_tax": money(cart_tax + ship_tax),
    }


def _taxes(total: Decimal, subtotal: Decimal | None, money: MoneyFormat) -> list[dict[str, Any]]:
    if not total and not subtotal:
        return []
    return [
        {
            "id": _RATE_ID,
            "total": money(total),
            "subtotal": "" if subtotal is None else money(subtotal),
        }
    ]


def line_item(order_id: int, index: int, row: Row, money: MoneyFormat) -> dict[str, Any]:
    sku = "SKU-" + hashlib.sha256(row.name.encode()).hexdigest()[:6].upper()
    return {
        "id": order_id * 100 + index + 1,
        "name": row.name,
        "product_id": 900 + index,
        "variation_id": 0,
        "quantity": row.quantity,
        "tax_class": "",
        "subtotal": money(row.subtotal),
        "subtotal_tax": money(row.subtotal_tax),
        "total": money(row.total),
        "total_tax": money(row.total_tax),
        "taxes": _taxes(row.total_tax, row.subtotal_tax, money),
        "meta_data": [],
        "sku": sku,
        "price": float(row.subtotal / row.quantity),  # a JSON number on the wire; never read
        "image": {"id": "", "src": ""},
        "parent_name": None,
    }


def tax_lines(order_id: int, totals: dict[str, Any], rate: Decimal) -> list[dict[str, Any]]:
    """The one VAT rate's line; its totals are the order's (one rate, so the same sums)."""
    percent = rate * 100
    return (
        [
            {
                "id": order_id * 100 + 98,
                "rate_code": "IL-VAT-1",
                "rate_id": _RATE_ID,
                "label": "VAT",
                "compound": False,
                "tax_total": totals["cart_tax"],
                "meta_data": [],
                "shipping_tax_total": totals["shipping_tax"],
                "rate_percent": int(percent) if percent == int(percent) else float(percent),
            }
        ]
        if rate
        else []
    )


def shipping_line(
    order_id: int, ship: Decimal, ship_tax: Decimal, money: MoneyFormat
) -> dict[str, Any]:
    return {
        "id": order_id * 100 + 99,
        "method_title": "Flat rate",
        "method_id": "flat_rate",
        "instance_id": "1",
        "total": money(ship),
        "total_tax": money(ship_tax),
        "taxes": _taxes(ship_tax, None, money),
        "meta_data": [],
    }
