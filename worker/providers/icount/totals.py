"""iCount money, pure: a `doc/create` body's items and VAT fields, whose total needs no rounding.

iCount publishes no rounding rule (facts register D-12), so the body is built so that
no rule can move its total:

- Every taxable line goes out as `unitprice_incvat`: the shop's own VAT-inclusive amount
  for the line after its discount (`worker.domain.vat.line_gross`; a VAT-exclusive
  shop's net less the discount plus the line's `tax`). iCount only extracts the VAT
  (seed000), so the gross is what the customer pays whatever rule it extracts by.
- quantity × unit price is exact at the currency's exponent (`arrange`): a whole
  quantity whose gross divides evenly goes as is; any other line (a fractional
  quantity, a gross the pieces do not divide) is one item of quantity 1 at the line's
  gross, with the quantity written in the description: "Cheese (1.5 × 12.00)". Not two
  items (q − 1 and 1): under a per-item VAT rule their VAT could differ from the
  shop's for the line by a unit.
- Exempt lines (`taxable` false, or a 0 % rate) are `tax_exempt` items priced with
  `unitprice` (= their gross).
- A line's discount is already in its gross; `long_description` says so ("discount
  5.00"). No negative items, no document `discount` / `discount_incvat`, no `roundup`.
- Rates: one taxable rate is the document's `vat_percent`; several are per-item `taxes`
  {iCount tax type id: rate} from `DocumentSettings.icount_tax_types` (a rate it does
  not map: `NeedsAttention`, reason `vat_rate_unmapped`).
- What the shop's total differs from the items by (its own rounding, within
  `max_rounding`, `vat.reconcile`) is a `tax_exempt` item "Rounding", of either sign.

The VAT iCount shows still depends on its rule; `vat_check` predicts it per rule.
"""

from __future__ import annotations

from decimal import Decimal

from worker.domain import vat
from worker.domain.events import Line, Order
from worker.domain.money import from_minor_units, minor_units, quantize
from worker.errors import NeedsAttention
from worker.settings import DocumentSettings

#: VAT percent iCount applies when a body names none (Israel's standard rate; a guess, D-22)
DEFAULT_VAT_PERCENT = Decimal(18)
#: description of the item that carries the shop's own rounding
ROUNDING_DESCRIPTION = "Rounding"
_TRUE_TEXT = frozenset({"1", "true", "yes", "on"})

#: how one line goes out: (whole quantity, unit price) pairs
Arrangement = tuple[tuple[int, Decimal], ...]


def format_amount(amount: Decimal, currency: str) -> str:
    """A money string with the currency's exponent ("117.00"), keeping any extra precision."""
    rounded = quantize(amount, currency)
    return f"{rounded:f}" if rounded == amount else f"{amount.normalize():f}"


def is_truthy(value: object) -> bool:
    """iCount flags arrive as bools, 0/1 or (form bodies) strings."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_TEXT
    return bool(value)


def plain(value: Decimal) -> str:
    """A number as plain text without trailing zeros ("18", "1.5")."""
    return f"{value.normalize():f}"


def order_rate(order: Order, documents: DocumentSettings) -> Decimal:
    """The rate of taxable lines without one: the lines' single named rate, else the default."""
    named = {line.tax_rate for line in order.lines if line.taxable and line.tax_rate is not None}
    return named.pop() if len(named) == 1 else documents.default_vat_percent


def taxed_rate(line: Line, default_rate: Decimal) -> Decimal | None:
    """The line's VAT percent when it carries VAT; None when exempt or at 0 %."""
    rate = vat.line_rate(line, default_rate)
    return rate if rate else None


# --- quantities -----------------------------------------------------------------------


def arrange(gross: Decimal, quantity: Decimal, currency: str) -> Arrangement | None:
    """The (quantity, unit price) pair whose product is exactly `gross`, when there is one.

    `gross` is at the currency's exponent and not negative. None: send one item of
    quantity 1 at `gross`, the quantity written in its description (a fractional
    quantity, or a gross that whole pieces do not divide). Splitting such a line into
    q−1 pieces and one more would keep the total exact too, but under a per-item VAT
    rule the two items' VAT can differ by a unit from the shop's VAT for the line.
    """
    if quantity != quantity.to_integral_value():
        return None
    count, units = int(quantity), int(minor_units(gross, currency))
    base, rest = divmod(units, count)
    return None if rest else ((count, from_minor_units(base, currency)),)


def line_gross(line: Line, order: Order, rate: Decimal | None) -> Decimal:
    """The line's VAT-inclusive amount after its discount, at the currency's exponent.

    Raises:
        NeedsAttention: the discount exceeds the line (reason `negative_line`); iCount
            would need a negative item, which we do not send.
    """
    gross = vat.line_gross(line, order.prices_include_tax, rate, order.currency)
    if gross < 0:
        raise NeedsAttention(
            f"a line's discount exceeds its amount ({gross} {order.currency})",
            reason="negative_line",
        )
    return quantize(gross, order.currency)


# --- items ------------------------------------------------------------------------------


def _priced(
    description: str, quantity: int, price: Decimal, currency: str, tax: dict[str, object]
) -> dict[str, object]:
    key = "unitprice" if tax.get("tax_exempt") else "unitprice_incvat"
    return {
        "description": description,
        "quantity": quantity,
        key: format_amount(price, currency),
        **tax,
    }


def _tax_fields(rate: Decimal | None, tax_types: dict[Decimal, int] | None) -> dict[str, object]:
    if rate is None:
        return {"tax_exempt": True}
    if tax_types is None:
        return {}
    return {"taxes": {str(tax_types[rate]): plain(rate)}}


def line_items(
    line: Line,
    gross: Decimal,
    rate: Decimal | None,
    tax_types: dict[Decimal, int] | None,
    currency: str,
) -> list[dict[str, object]]:
    """The item of `line` at its `gross` (`line_gross`); `rate` None: exempt."""
    tax = _tax_fields(rate, tax_types)
    arranged = arrange(gross, line.quantity, currency)
    if arranged is None:
        shown = f"{line.description} ({plain(line.quantity)} × "
        shown += f"{format_amount(line.unit_price, currency)})"
        items = [_priced(shown, 1, gross, currency, tax)]
    else:
        items = [_priced(line.description, n, price, currency, tax) for n, price in arranged]
    for item in items:
        if line.sku:
            item["sku"] = line.sku
        if line.discount:
            item["long_description"] = f"discount {format_amount(line.discount, currency)}"
    return items


def rounding_item(amount: Decimal, currency: str) -> dict[str, object]:
    """The `tax_exempt` item that carries the shop's own rounding (either sign)."""
    return {
        "description": ROUNDING_DESCRIPTION,
        "quantity": 1,
        "unitprice": format_amount(amount, currency),
        "tax_exempt": True,
    }


# --- rates ------------------------------------------------------------------------------


def tax_types(rates: set[Decimal], documents: DocumentSettings) -> dict[Decimal, int]:
    """The iCount tax type id of each rate, from `documents.icount_tax_types`.

    Raises:
        NeedsAttention: a rate has no tax type (reason `vat_rate_unmapped`).
    """
    mapped = {Decimal(key): value for key, value in documents.icount_tax_types.items()}
    missing = sorted(rate for rate in rates if rate not in mapped)
    if missing:
        named = ", ".join(f"{plain(rate)} %" for rate in missing)
        raise NeedsAttention(
            f"lines at several VAT rates, and no iCount tax type for {named} "
            "(documents.icount_tax_types)",
            reason="vat_rate_unmapped",
        )
    return {rate: mapped[rate] for rate in rates}


# --- the money fields of a body ------------------------------------------------------


def money_fields(order: Order, documents: DocumentSettings) -> dict[str, object]:
    """`items`, `vat_percent` (one taxable rate) and the exchange `rate` of `order`'s body.

    Raises:
        TotalMismatch: the shop's total is more than `max_rounding` from its lines.
        NeedsAttention: several rates and one not in `icount_tax_types`
            (`vat_rate_unmapped`), or a line discounted below zero (`negative_line`).
    """
    default = order_rate(order, documents)
    rates = [taxed_rate(line, default) for line in order.lines]
    taxed = {rate for rate in rates if rate is not None}
    types = tax_types(taxed, documents) if len(taxed) > 1 else None
    items: list[dict[str, object]] = []
    document = Decimal(0)
    for line, rate in zip(order.lines, rates, strict=True):
        gross = line_gross(line, order, rate)
        items += line_items(line, gross, rate, types, order.currency)
        document += gross
    residual = vat.reconcile(
        order, document, max_rounding=documents.max_rounding, default_rate=default
    )
    residual = quantize(residual, order.currency)
    if residual:
        items.append(rounding_item(residual, order.currency))
    fields: dict[str, object] = {"items": items}
    if len(taxed) == 1:
        fields["vat_percent"] = plain(taxed.pop())
    exchange = vat.exchange_rate(order)
    if exchange is not None:
        fields["rate"] = plain(exchange)
    return fields
