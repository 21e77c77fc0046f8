"""iDoklad's totals rule: how an item's and a document's money follow from its fields (see
the wire module's docstring). The client builds with it and the sandbox checks with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any, TypeVar, cast

from worker.domain import vat
from worker.domain.money import parse_amount, quantize

_Kind = TypeVar("_Kind", bound=IntEnum)


class PriceType(IntEnum):
    WITH_VAT = 0
    WITHOUT_VAT = 1
    ONLY_BASE = 2


class VatRateType(IntEnum):
    REDUCED1 = 0
    BASIC = 1
    ZERO = 2
    REDUCED2 = 3


#: rate (percent) of each type when an item names none: Czech rates from 2024, Reduced2 kept at 10
VAT_RATES = {
    VatRateType.REDUCED1: Decimal(12),
    VatRateType.BASIC: Decimal(21),
    VatRateType.ZERO: Decimal(0),
    VatRateType.REDUCED2: Decimal(10),
}


@dataclass(frozen=True)
class Amounts:
    """An item's or a document's money: base without VAT, VAT, and the total with VAT."""

    base: Decimal
    vat: Decimal
    total: Decimal


def _member(kind: type[_Kind], value: Any) -> _Kind:
    """`kind(int(value))`, found by value first: Enum's own call costs twice that, and the
    totals rule makes two per item of every document; unknown values still raise."""
    number = int(value)
    found = kind._value2member_map_.get(number)
    return kind(number) if found is None else cast(_Kind, found)


def item_rate(item: Mapping[str, Any]) -> Decimal:
    """The VAT percent an item is taxed at: `VatRate`, else its type's rate; Zero is 0."""
    kind = _member(VatRateType, item.get("VatRateType", VatRateType.BASIC))
    given = item.get("VatRate")
    if kind is VatRateType.ZERO:
        return Decimal(0)
    return VAT_RATES[kind] if given is None else parse_amount(given)


def item_amounts(item: Mapping[str, Any], currency: str) -> Amounts:
    """One item under the totals rule (module docstring). Raises ValueError on bad values."""
    gross = quantize(parse_amount(item["Amount"]) * parse_amount(item["UnitPrice"]), currency)
    price_type = _member(PriceType, item.get("PriceType", PriceType.WITH_VAT))
    rate = Decimal(0) if price_type is PriceType.ONLY_BASE else item_rate(item)
    if price_type is PriceType.WITH_VAT:
        return Amounts(*vat.split_vat(gross, rate, currency), gross)
    added = vat.add_vat(gross, rate, currency)
    return Amounts(gross, added, gross + added)


def document_amounts(items: Iterable[Mapping[str, Any]], currency: str) -> Amounts:
    """The sums of `item_amounts` over a document's items."""
    parts = [item_amounts(item, currency) for item in items]
    zero = Decimal(0)
    return Amounts(
        sum((p.base for p in parts), zero),
        sum((p.vat for p in parts), zero),
        sum((p.total for p in parts), zero),
    )
