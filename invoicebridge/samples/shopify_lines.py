"""A sample Shopify order's lines (`samples.shopify`): a discount spread over them pro rata,
their VAT, the order's totals, and the line item, shipping line, tax line and discount objects
that carry them, every amount formatted as Shopify does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoicebridge.samples.allocation import allocate
from worker.domain.money import parse_amount, quantize

_ZERO = Decimal(0)


@dataclass(frozen=True)
class Row:
    """One line item with its discount share and its VAT worked out exactly."""

    title: str
    price: Decimal
    quantity: int
    discount: Decimal
    tax: Decimal


class Money:
    """Formats amounts of one currency as Shopify does: a string with fixed minor units."""

    def __init__(self, currency: str) -> None:
        self.currency = currency

    def __call__(self, amount: Decimal | int) -> str:
        return str(quantize(Decimal(amount), self.currency))

    def twin(self, amount: Decimal | int) -> dict[str, dict[str, str]]:
        """The `*_set` twin: the same amount as shop and presentment money (one currency)."""
        money = {"amount": self(amount), "currency_code": self.currency}
        return {"shop_money": money, "presentment_money": dict(money)}


def order_rows(
    lines: Sequence[tuple[str, str, int]],
    discount: str | None,
    rate: Decimal,
    taxes_included: bool,
    currency: str,
) -> list[Row]:
    prices = [quantize(parse_amount(price), currency) for _, price, _ in lines]
    quantities = [quantity for _, _, quantity in lines]
    if not lines or min(prices) < 0 or min(quantities) < 1:
        raise ValueError("an order needs lines with prices >= 0 and quantities >= 1")
    bases = [price * quantity for price, quantity in zip(prices, quantities, strict=True)]
    shares = allocate(
        quantize(parse_amount(discount or 0), currency),
        bases,
        currency,
        out_of_range="a discount must be between zero and the lines' total",
    )
    taxes = [
        vat(base - share, rate, taxes_included, currency)
        for base, share in zip(bases, shares, strict=True)
    ]
    titles = [title for title, _, _ in lines]
    return list(map(Row, titles, prices, quantities, shares, taxes))


def vat(amount: Decimal, rate: Decimal, taxes_included: bool, currency: str) -> Decimal:
    """The VAT in a line: extracted from a gross amount, or added to a net one; half-up."""
    return quantize(amount * rate / (1 + rate) if taxes_included else amount * rate, currency)


def order_totals(
    rows: Sequence[Row],
    ship: Decimal,
    ship_tax: Decimal,
    taxes_included: bool,
    paid: bool,
    money: Money,
) -> dict[str, Any]:
    """The order's totals, each with its `_set` and `current_` twins."""
    gross = sum((row.price * row.quantity for row in rows), _ZERO)
    discounts = sum((row.discount for row in rows), _ZERO)
    tax = sum((row.tax for row in rows), ship_tax)
    total = gross - discounts + ship + (0 if taxes_included else tax)
    totals: dict[str, Any] = {
        "total_line_items_price": money(gross),
        "total_line_items_price_set": money.twin(gross),
        "total_shipping_price_set": money.twin(ship),
        "total_outstanding": money(0 if paid else total),
    }
    for field, amount in (
        ("total_discounts", discounts),
        ("subtotal_price", gross - discounts),
        ("total_tax", tax),
        ("total_price", total),
    ):
        for name in (field, f"current_{field}"):  # no edits yet: current_* equal the originals
            totals |= {name: money(amount), f"{name}_set": money.twin(amount)}
    return totals


def tax_lines(tax: Decimal, rate: Decimal, money: Money) -> list[dict[str, Any]]:
    """Shopify sends `rate` as a JSON number (0.18); the parser reads it back as a Decimal."""
    if rate == 0:
        return []
    return [
        {"title": "VAT", "price": money(tax), "price_set": money.twin(tax), "rate": float(rate)}
    ]


def line_item(order_id: int, index: int, row: Row, rate: Decimal, money: Money) -> dict[str, Any]:
    line_id = order_id * 100 + index + 1
    allocations = (
        [
            {
                "amount": money(row.discount),
                "amount_set": money.twin(row.discount),
                "discount_application_index": 0,
            }
        ]
        if row.discount
        else []
    )
    return {
        "id": line_id,
        "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
        "title": row.title,
        "name": row.title,
        "variant_title": None,
        "sku": f"SKU-{hashlib.sha256(row.title.encode()).hexdigest()[:6].upper()}",
        "product_id": 7_000_000 + index,
        "variant_id": 8_000_000 + index,
        "quantity": row.quantity,
        "fulfillable_quantity": row.quantity,
        "price": money(row.price),
        "price_set": money.twin(row.price),
        "taxable": rate > 0,
        "gift_card": False,
        "requires_shipping": True,
        "total_discount": money(0),
        "total_discount_set": money.twin(0),
        "tax_lines": tax_lines(row.tax, rate, money),
        "discount_allocations": allocations,
    }


def shipping_line(
    order_id: int, price: Decimal, tax: Decimal, rate: Decimal, money: Money
) -> dict[str, Any]:
    return {
        "id": order_id * 100 + 99,
        "title": "Standard shipping",
        "code": "Standard",
        "source": "shopify",
        "price": money(price),
        "price_set": money.twin(price),
        "discounted_price": money(price),
        "discounted_price_set": money.twin(price),
        "tax_lines": tax_lines(tax, rate, money),
        "discount_allocations": [],
    }


def discount_fields(amount: Decimal, money: Money) -> dict[str, Any]:
    code = f"SAVE{money(amount).split('.')[0]}"
    return {
        "discount_codes": [{"code": code, "amount": money(amount), "type": "fixed_amount"}],
        "discount_applications": [
            {
                "type": "discount_code",
                "code": code,
                "value": money(amount),
                "value_type": "fixed_amount",
                "allocation_method": "across",
                "target_selection": "all",
                "target_type": "line_item",
            }
        ],
    }
