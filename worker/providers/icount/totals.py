"""iCount's totals rule, pure: one function shared by the request builder and the sandbox.

`wire` re-exports everything here; the builder sets `roundup` with it, and the
sandbox computes each document's total with it, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from worker.domain.money import parse_amount, quantize

#: VAT percent iCount applies when a body names none (Israel's standard rate)
DEFAULT_VAT_PERCENT = Decimal(18)
#: item price fields, in the order iCount reads them; the first is VAT-inclusive
PRICE_KEYS = ("unitprice_incvat", "unitprice", "unitprice_exempt")
_TRUE_TEXT = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True)
class DocumentTotals:
    """A document's totals under the one rule shared by the builder and the sandbox."""

    gross: Decimal  #: Σ VAT-inclusive item amounts
    net: Decimal  #: Σ VAT-exclusive item amounts (taxable and exempt)
    vat: Decimal  #: VAT added on the taxable net after `discount`
    vat_included: Decimal  #: VAT contained in the taxable gross after `discount_incvat`
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


def document_totals(body: Mapping[str, object], currency: str) -> DocumentTotals:
    """Apply the totals rule to a `doc/create` body; see `expected_total`.

    Raises:
        ValueError: an amount is missing or not a decimal number.
    """
    exempt_doc = is_truthy(body.get("tax_exempt"))
    sums = {(gross, exempt): Decimal(0) for gross in (True, False) for exempt in (True, False)}
    for item in _items(body):
        key, part = _item_part(item, currency)
        exempt = exempt_doc or key == "unitprice_exempt" or is_truthy(item.get("tax_exempt"))
        sums[(key == "unitprice_incvat", exempt)] += part
    discount, discount_incvat = _amount(body, "discount"), _amount(body, "discount_incvat")
    rate = Decimal(0) if exempt_doc else _amount(body, "vat_percent", DEFAULT_VAT_PERCENT)
    vat = quantize((sums[(False, False)] - discount) * rate / 100, currency)
    taxable_gross = sums[(True, False)] - discount_incvat
    vat_included = quantize(taxable_gross * rate / (100 + rate), currency)
    gross, net = (
        sums[(True, False)] + sums[(True, True)],
        sums[(False, False)] + sums[(False, True)],
    )
    total = gross + net - discount + vat - discount_incvat + _amount(body, "roundup")
    return DocumentTotals(gross, net, vat, vat_included, quantize(total, currency))


def expected_total(body: Mapping[str, object], currency: str) -> Decimal:
    """The total iCount arrives at for `body`, quantised to the currency's unit.

    Each item is q×unitprice_incvat (gross) or q×unitprice (net; taxable unless the
    item or the document is `tax_exempt`), rounded. VAT = round((Σ taxable net −
    `discount`) × `vat_percent` / 100), with `vat_percent` 18 when absent and 0 for
    a `tax_exempt` document. Total = Σ gross + Σ net − `discount` + VAT −
    `discount_incvat` + `roundup`.

    Raises:
        ValueError: an amount is missing or not a decimal number.
    """
    return document_totals(body, currency).total
