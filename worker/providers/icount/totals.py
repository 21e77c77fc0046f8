"""iCount money, pure: a body's items and VAT fields, and the totals rule the sandbox shares.

`wire` re-exports the rule; the builder sets `roundup` with it, and the sandbox
computes each document's total with it, so the two always agree.

Rates (`money_fields`). A taxable line's rate is its `tax_rate`; a line without
one takes the order's rate when the taxable lines that name one agree on it, else
`default_vat_percent`. Lines without `taxable` are `tax_exempt` items.

- One rate: the document-level `vat_percent`, and the lines' discounts summed into
  `discount_incvat` (VAT-inclusive) or `discount` (VAT-exclusive). A VAT-inclusive
  order whose lines name no rate sends no `vat_percent` (iCount applies its own).
- Several rates, or a VAT-exclusive discount on a tax-exempt line (which the
  document-level `discount` would take off the VAT base): *itemised*. Every
  taxable item carries its own `vat_percent`, and each discount is a negative item
  "Discount: <line>" at its line's rate (or `tax_exempt`); no document discount.

Sandbox-defined where providers.md is silent: the per-item `vat_percent` (iCount
documents a document-level rate and per-item `taxes`; the sandbox honours an
item's `vat_percent`, 0–100, and uses the document's for items without one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from worker.domain import vat
from worker.domain.events import Line, Order
from worker.domain.money import parse_amount, quantize
from worker.settings import DocumentSettings

#: VAT percent iCount applies when a body names none (Israel's standard rate)
DEFAULT_VAT_PERCENT = Decimal(18)
#: item price fields, in the order iCount reads them; the first is VAT-inclusive
PRICE_KEYS = ("unitprice_incvat", "unitprice", "unitprice_exempt")
DISCOUNT_PREFIX = "Discount: "  #: description of an itemised discount
_TRUE_TEXT = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class DocumentTotals:
    """A document's totals under the one rule shared by the builder and the sandbox."""

    gross: Decimal  #: Σ VAT-inclusive item amounts
    net: Decimal  #: Σ VAT-exclusive item amounts (taxable and exempt)
    vat: Decimal  #: VAT added on the taxable net after `discount`, rounded per rate
    vat_included: Decimal  #: VAT in the taxable gross after `discount_incvat`, per rate
    total: Decimal  #: what the customer pays: the document's `totalwithvat`


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


# --- the totals rule ------------------------------------------------------------------


def _amount(source: Mapping[str, object], key: str, default: Decimal = Decimal(0)) -> Decimal:
    value = source.get(key)
    return default if value in (None, "") else parse_amount(value)


def _items(body: Mapping[str, object]) -> list[Mapping[str, object]]:
    items = body.get("items")
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise ValueError("items must be a list of objects")
    return items


def _item_part(item: Mapping[str, object], currency: str) -> tuple[str, Decimal]:
    key = next((key for key in PRICE_KEYS if item.get(key) not in (None, "")), None)
    if key is None:
        raise ValueError("an item has no unitprice, unitprice_incvat or unitprice_exempt")
    return key, quantize(_amount(item, "quantity") * _amount(item, key), currency)


def _item_rate(item: Mapping[str, object], document_rate: Decimal) -> Decimal:
    rate = _amount(item, "vat_percent", document_rate)
    if not 0 <= rate <= 100:
        raise ValueError("an item's vat_percent must be between 0 and 100")
    return rate


def document_totals(body: Mapping[str, object], currency: str) -> DocumentTotals:
    """Apply the totals rule to a `doc/create` body; see `expected_total`.

    Raises:
        ValueError: an amount is missing or not a decimal number.
    """
    exempt_doc = is_truthy(body.get("tax_exempt"))
    rate = Decimal(0) if exempt_doc else _amount(body, "vat_percent", DEFAULT_VAT_PERCENT)
    discount, discount_incvat = _amount(body, "discount"), _amount(body, "discount_incvat")
    taxed: dict[bool, list[tuple[Decimal, Decimal]]] = {
        False: [(rate, -discount)],
        True: [(rate, -discount_incvat)],
    }
    sums = {False: Decimal(0), True: Decimal(0)}
    for item in _items(body):
        key, part = _item_part(item, currency)
        included = key == "unitprice_incvat"
        sums[included] += part
        if not (exempt_doc or key == "unitprice_exempt" or is_truthy(item.get("tax_exempt"))):
            taxed[included].append((_item_rate(item, rate), part))
    added = sum(vat.vat_by_rate(taxed[False], currency, included=False).values(), Decimal(0))
    inside = sum(vat.vat_by_rate(taxed[True], currency, included=True).values(), Decimal(0))
    total = sums[True] + sums[False] - discount + added - discount_incvat
    total += _amount(body, "roundup")
    return DocumentTotals(sums[True], sums[False], added, inside, quantize(total, currency))


def expected_total(body: Mapping[str, object], currency: str) -> Decimal:
    """The total iCount arrives at for `body`, quantised to the currency's unit.

    Each item is q×unitprice_incvat (gross) or q×unitprice (net; taxable unless the
    item or the document is `tax_exempt`), rounded. A taxable item's rate is its own
    `vat_percent`, else the document's (18 when absent, 0 for a `tax_exempt`
    document). VAT is rounded once per rate: round((Σ taxable net at r − `discount`
    if r is the document's rate) × r / 100). Total = Σ gross + Σ net − `discount`
    + VAT − `discount_incvat` + `roundup`.

    Raises:
        ValueError: an amount is missing or not a decimal number.
    """
    return document_totals(body, currency).total


# --- the money fields of a body ------------------------------------------------------


def order_rate(order: Order, documents: DocumentSettings) -> Decimal:
    """The rate of taxable lines without one: the lines' single named rate, else the default."""
    named = {line.tax_rate for line in order.lines if line.taxable and line.tax_rate is not None}
    return named.pop() if len(named) == 1 else documents.default_vat_percent


def _quantity(value: Decimal) -> int | str:
    return int(value) if value == value.to_integral_value() else plain(value)


def _price_key(order: Order) -> str:
    return "unitprice_incvat" if order.prices_include_tax else "unitprice"


def _item(line: Line, order: Order, rate: Decimal | None, itemised: bool) -> dict[str, object]:
    item: dict[str, object] = {"description": line.description}
    if line.sku:
        item["sku"] = line.sku
    item["quantity"] = _quantity(line.quantity)
    item[_price_key(order)] = format_amount(line.unit_price, order.currency)
    if rate is None:
        item["tax_exempt"] = True
    elif itemised:
        item["vat_percent"] = plain(rate)
    return item


def _discount_item(line: Line, order: Order, rate: Decimal | None) -> dict[str, object]:
    item = _item(line, order, rate, True)
    item.pop("sku", None)
    item.update(description=f"{DISCOUNT_PREFIX}{line.description}", quantity=1)
    item[_price_key(order)] = format_amount(-line.discount, order.currency)
    return item


def _itemised(order: Order, rates: list[Decimal | None]) -> bool:
    if len({rate for rate in rates if rate is not None}) > 1:
        return True
    exclusive = not order.prices_include_tax
    return exclusive and any(line.discount and not line.taxable for line in order.lines)


def _document_rate(
    order: Order, rates: list[Decimal | None], documents: DocumentSettings
) -> Decimal | None:
    named = any(line.tax_rate is not None for line in order.lines if line.taxable)
    if order.prices_include_tax and not named:
        return None  # iCount extracts VAT at its own rate; the total is right either way
    return next((rate for rate in rates if rate is not None), documents.default_vat_percent)


def money_fields(order: Order, documents: DocumentSettings) -> dict[str, object]:
    """`items`, the discount, `vat_percent` and the exchange `rate` of `order`'s body."""
    default = order_rate(order, documents)
    rates = [vat.line_rate(line, default) for line in order.lines]
    itemised = _itemised(order, rates)
    items: list[dict[str, object]] = []
    for line, rate in zip(order.lines, rates, strict=True):
        items.append(_item(line, order, rate, itemised))
        if itemised and line.discount:
            items.append(_discount_item(line, order, rate))
    fields: dict[str, object] = {"items": items}
    discount = sum((line.discount for line in order.lines), Decimal(0))
    if discount and not itemised:
        key = "discount_incvat" if order.prices_include_tax else "discount"
        fields[key] = format_amount(discount, order.currency)
    rate = None if itemised else _document_rate(order, rates, documents)
    if rate is not None:
        fields["vat_percent"] = plain(rate)
    exchange = vat.exchange_rate(order)
    if exchange is not None:
        fields["rate"] = plain(exchange)
    return fields


def carry_residual(body: dict[str, object], order: Order, documents: DocumentSettings) -> None:
    """Set `roundup` so the body totals to the shop's total (`vat.reconcile`).

    Raises:
        TotalMismatch: the shop's total is more than `max_rounding` from its lines, or
            the document is further from them than rounding explains.
    """
    residual = vat.reconcile(
        order,
        expected_total(body, order.currency),
        max_rounding=documents.max_rounding,
        default_rate=order_rate(order, documents),
    )
    if residual:
        body["roundup"] = format_amount(residual, order.currency)
