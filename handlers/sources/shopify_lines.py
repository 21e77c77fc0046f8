"""Shopify's lines, pure: order items and shipping as canonical `Line`s (with a discount no
line carries absorbed by the first item that can take it), and a refund's items and
adjustments as VAT-inclusive lines. Split from `handlers.sources.shopify`, which uses them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from handlers.errors import InvalidPayload
from handlers.sources.shopify_wire import (
    ZERO,
    LineItem,
    OrderAdjustment,
    Priced,
    RefundedItem,
    RefundLineItem,
    ShippingLine,
    ShopifyRefund,
)
from worker.domain.events import Line
from worker.domain.money import exponent


def refund_lines(wire: ShopifyRefund, currency: str) -> tuple[Line, ...]:
    """Refunded items and adjustments as VAT-inclusive lines (read them with `gross(True)`);
    () when an adjustment lowers the refund, since no line can be negative."""
    lines = [_refunded_item(item, currency) for item in wire.refund_line_items]
    for adjustment in wire.order_adjustments:
        line = _adjustment_line(adjustment)
        if line is None:
            return ()
        lines.append(line)
    return tuple(line for line in lines if line.unit_price > 0)


def _refunded_item(item: RefundLineItem, currency: str) -> Line:
    """One line per refund line item; a gross that does not divide into whole minor units
    per unit becomes one line of quantity 1 described as "name × q"."""
    gross, described = item.subtotal + item.total_tax, item.line_item or RefundedItem()
    description, quantity = described.description(), max(item.quantity, 1)
    units = gross.scaleb(exponent(currency))  # the gross in minor units: 1234 for 12.34 ILS
    if units == units.to_integral_value() and int(units) % quantity == 0:
        unit_price = gross / quantity
    else:
        description, quantity, unit_price = f"{description} × {quantity}", 1, gross
    rate = sum((tax_line.rate or ZERO for tax_line in described.tax_lines), ZERO) * 100
    taxed = item.total_tax > 0
    return Line(
        kind="item",
        description=description,
        sku=described.sku,
        quantity=Decimal(quantity),
        unit_price=unit_price,
        tax=item.total_tax,
        tax_rate=rate if taxed and rate else None,
        taxable=described.taxable and taxed,
    )


def _adjustment_line(adjustment: OrderAdjustment) -> Line | None:
    """A shipping refund gives back abs(amount + tax_amount). Other adjustments are signed
    from the shop's side [I]: a negative one adds to the refund (a line), a positive one
    lowers it (None: it cannot be a line)."""
    gross, tax = adjustment.amount + adjustment.tax_amount, adjustment.tax_amount
    if adjustment.kind == "shipping_refund":
        kind: Literal["shipping", "fee"] = "shipping"
        description, gross, tax = "Shipping refund", abs(gross), abs(tax)
    else:
        kind, description = "fee", adjustment.reason or "Refund adjustment"
        gross, tax = -gross, -tax
    if gross < 0 or tax < 0:
        return None
    return Line(
        kind=kind,
        description=description,
        quantity=Decimal(1),
        unit_price=gross,
        tax=tax,
        taxable=tax > 0,
    )


def item_line(index: int, item: LineItem, taxed: bool) -> Line:
    description = item.name or " - ".join(filter(None, (item.title, item.variant_title)))
    if not description:
        raise InvalidPayload(f"line_items.{index}.name: missing (and no title)")
    return _line(
        "item",
        description,
        item,
        item.quantity,
        item.discount(item.total_discount),
        item.sku,
        item.taxable,
        taxed,
    )


def shipping_line(shipping: ShippingLine, taxed: bool) -> Line:
    discounted = shipping.price if shipping.discounted_price is None else shipping.discounted_price
    discount = shipping.discount(max(ZERO, shipping.price - discounted))
    description = shipping.title or shipping.code or "Shipping"
    return _line("shipping", description, shipping, 1, discount, None, True, taxed)


def _line(
    kind: Literal["item", "shipping"],
    description: str,
    priced: Priced,
    quantity: int,
    discount: Decimal,
    sku: str | None,
    taxable: bool,
    taxed: bool,
) -> Line:
    """A canonical line: rates of several tax lines add up (state + city). Only a line whose
    `tax_lines` key is missing (minimal payloads) is taxable if the order has tax; an empty
    list is a line Shopify charged no tax on (untaxed shipping), so it is untaxed (#18)."""
    tax_lines = priced.tax_lines or ()
    tax = sum((tax_line.price for tax_line in tax_lines), ZERO)
    rate = sum((tax_line.rate or ZERO for tax_line in tax_lines), ZERO) * 100
    has_tax = taxed if priced.tax_lines is None else tax > 0
    return Line(
        kind=kind,
        description=description,
        sku=sku,
        quantity=Decimal(quantity),
        unit_price=priced.price,
        discount=discount,
        tax=tax,
        tax_rate=rate if tax else None,
        taxable=taxable and has_tax,
    )


def absorb_discount(lines: list[Line], remainder: Decimal) -> tuple[Line, ...]:
    """Put an order discount that no line carries on the first item line that can absorb it.

    Current API versions allocate every discount; in old payloads the place is ambiguous."""
    result: list[Line] = []
    for line in lines:
        room = line.unit_price * line.quantity - line.discount
        take = min(room, remainder) if line.kind == "item" else ZERO
        if take > 0:
            line = line.model_copy(update={"discount": line.discount + take})
            remainder -= take
        result.append(line)
    if remainder > 0:
        raise InvalidPayload("total_discounts: more than the line items' prices")
    return tuple(result)
