"""How the iCount sandbox totals a `doc/create` body, under a switchable rounding rule.

iCount documents the fields (seed000) but publishes no rounding rule (providers.md
D-12), so the sandbox offers each plausible one (DESIGN: "each plausible behaviour is
a switch"). The default is `per_line` + `half_up`. This module shares nothing with the
client's builder (`worker.providers.icount.totals`): the tests hold the two apart.

Field semantics, as documented:

- an item is VAT-inclusive (`unitprice_incvat`: "the system will extract VAT and
  calculate unitprice"), VAT-exclusive (`unitprice`) or exempt (`unitprice_exempt`, an
  item `tax_exempt`, or a `tax_exempt` document); its amount is quantity × price;
- a taxable item's rate is the sum of its `taxes` ({tax type id: rate}), else the
  document's `vat_percent`, else 18 (a guess, D-22);
- document `discount` is a VAT-exclusive amount off the document rate's net, and
  `discount_incvat` a VAT-inclusive one whose VAT is extracted (guesses: the docs say
  only "Discount"); `roundup` is added to the net as is, untaxed ("afterdiscount: total
  excluding VAT, after discount and roundup").

Per rate r and kind, over the amounts a (`round` half-up or half-even to the unit):

- exact_sum: the exact sum rounded once: gross round(Σa), VAT extracted
  round(Σa × r / (100 + r)); net round(Σa), VAT added round(Σa × r / 100);
- per_line: each amount rounded, and each line's VAT: extracted round(g × r / (100 + r)),
  the net g − VAT (the gross is kept); added round(n × r / 100);
- per_rate: each amount rounded; nets rounded per line and VAT once per rate: extracted
  Σg − Σ round(g × 100 / (100 + r)); added round(Σn × r / 100).

A VAT-inclusive item keeps its gross under every rule; only the split into net and
VAT moves. Exempt amounts are summed exactly and rounded once (exact_sum) or rounded
each (the others).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal
from typing import Any, Literal, get_args

from worker.domain.money import parse_amount, quantum

RoundingRule = Literal["exact_sum", "per_line", "per_rate"]
Rounding = Literal["half_up", "half_even"]
RULES: tuple[RoundingRule, ...] = get_args(RoundingRule)
ROUNDINGS: tuple[Rounding, ...] = get_args(Rounding)
DEFAULT_RULE: RoundingRule = "per_line"
DEFAULT_ROUNDING: Rounding = "half_up"
#: the rate of a taxable item when neither it nor the document names one (a guess)
DEFAULT_VAT_PERCENT = Decimal(18)
#: price fields in the order they are read; the first is VAT-inclusive
PRICE_KEYS = ("unitprice_incvat", "unitprice", "unitprice_exempt")

_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}
_TRUE = frozenset({"1", "true", "yes", "on"})
_HUNDRED = Decimal(100)
_WIDE = Context(prec=60)  #: a share is rounded once, to the unit, never on the way
_ZERO = Decimal(0)

Kind = Literal["gross", "net"]
#: the document's discount fields and the kind of amount each is
_DISCOUNTS: tuple[tuple[Kind, str], ...] = (("net", "discount"), ("gross", "discount_incvat"))


@dataclass(frozen=True)
class DocumentTotals:
    """A document's money as the sandbox shows it."""

    total: Decimal  #: what the customer pays (`totalwithvat`)
    net: Decimal  #: the total less VAT (taxable, 0 % and exempt amounts)
    vat_by_rate: Mapping[Decimal, Decimal] = field(default_factory=dict)  #: rates above 0
    vat_percent: Decimal = DEFAULT_VAT_PERCENT  #: the document's rate (0 when exempt)

    @property
    def vat(self) -> Decimal:
        return sum(self.vat_by_rate.values(), _ZERO)


def _truthy(value: object) -> bool:
    return value.strip().lower() in _TRUE if isinstance(value, str) else bool(value)


def _number(value: object, default: Decimal = _ZERO) -> Decimal:
    return default if value in (None, "") else parse_amount(value)


def _percent(value: Decimal) -> Decimal:
    if not 0 <= value <= 100:
        raise ValueError("a VAT rate must be between 0 and 100")
    return value


def item_rate(item: Mapping[str, Any], document_rate: Decimal) -> Decimal:
    """The sum of the item's `taxes` rates, else `document_rate`.

    Raises:
        ValueError: `taxes` is not an object of tax type id → rate (0–100 each).
    """
    taxes = item.get("taxes")
    if taxes in (None, {}, []):
        return document_rate
    if not isinstance(taxes, Mapping) or not all(str(key).isdigit() for key in taxes):
        raise ValueError("taxes must be an object of tax type id → rate")
    return _percent(sum((_percent(parse_amount(rate)) for rate in taxes.values()), _ZERO))


class _Rounder:
    """One rule and one rounding, applied to groups of amounts."""

    def __init__(self, currency: str, rule: RoundingRule, rounding: Rounding) -> None:
        self.unit, self.mode, self.rule = quantum(currency), _MODES[rounding], rule

    def round(self, amount: Decimal) -> Decimal:
        return amount.quantize(self.unit, rounding=self.mode)

    def share(self, amount: Decimal, numerator: Decimal, denominator: Decimal) -> Decimal:
        return self.round(_WIDE.divide(_WIDE.multiply(amount, numerator), denominator))

    def amount(self, amounts: list[Decimal]) -> Decimal:
        if self.rule == "exact_sum":
            return self.round(sum(amounts, _ZERO))
        return sum((self.round(amount) for amount in amounts), _ZERO)

    def extracted(self, amounts: list[Decimal], rate: Decimal) -> Decimal:
        """The VAT inside VAT-inclusive amounts."""
        if self.rule == "exact_sum":
            return self.share(sum(amounts, _ZERO), rate, _HUNDRED + rate)
        grosses = [self.round(amount) for amount in amounts]
        if self.rule == "per_line":
            return sum((self.share(gross, rate, _HUNDRED + rate) for gross in grosses), _ZERO)
        nets = sum((self.share(gross, _HUNDRED, _HUNDRED + rate) for gross in grosses), _ZERO)
        return sum(grosses, _ZERO) - nets

    def added(self, amounts: list[Decimal], rate: Decimal) -> Decimal:
        """The VAT on VAT-exclusive amounts."""
        if self.rule == "exact_sum":
            return self.share(sum(amounts, _ZERO), rate, _HUNDRED)
        nets = [self.round(amount) for amount in amounts]
        if self.rule == "per_line":
            return sum((self.share(net, rate, _HUNDRED) for net in nets), _ZERO)
        return self.share(sum(nets, _ZERO), rate, _HUNDRED)


@dataclass
class _Parts:
    """A body's amounts: exempt ones, and taxable ones by (kind, rate)."""

    exempt: list[Decimal] = field(default_factory=list)
    taxed: dict[tuple[Kind, Decimal], list[Decimal]] = field(default_factory=dict)

    def add(self, kind: Kind, rate: Decimal | None, amount: Decimal) -> None:
        if rate is None:
            self.exempt.append(amount)
        else:
            self.taxed.setdefault((kind, rate), []).append(amount)


def _items(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = body.get("items")
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise ValueError("items must be a list of objects")
    return items


def _document_rate(body: Mapping[str, Any]) -> Decimal | None:
    """The document's `vat_percent` (18 when absent); None for a `tax_exempt` document."""
    if _truthy(body.get("tax_exempt")):
        return None
    return _percent(_number(body.get("vat_percent"), DEFAULT_VAT_PERCENT))


def _parts(body: Mapping[str, Any], document_rate: Decimal | None) -> _Parts:
    parts = _Parts()
    for item in _items(body):
        key = next((key for key in PRICE_KEYS if item.get(key) not in (None, "")), None)
        if key is None:
            raise ValueError("an item has no unitprice, unitprice_incvat or unitprice_exempt")
        amount = _number(item.get("quantity")) * parse_amount(item[key])
        rate = None
        if not (document_rate is None or key == "unitprice_exempt"):
            rate = None if _truthy(item.get("tax_exempt")) else item_rate(item, document_rate)
        parts.add("gross" if key == PRICE_KEYS[0] else "net", rate, amount)
    for kind, key in _DISCOUNTS:
        if discount := _number(body.get(key)):
            parts.add(kind, document_rate, -discount)
    return parts


def document_totals(
    body: Mapping[str, Any],
    currency: str,
    rule: RoundingRule = DEFAULT_RULE,
    rounding: Rounding = DEFAULT_ROUNDING,
) -> DocumentTotals:
    """Total, net and VAT per rate of a `doc/create` body under `rule` and `rounding`.

    Raises:
        ValueError: an amount is missing or not a number, or a rate is outside 0–100.
    """
    rate = _document_rate(body)
    parts, rounder = _parts(body, rate), _Rounder(currency, rule, rounding)
    total = rounder.amount(parts.exempt) + rounder.round(_number(body.get("roundup")))
    vat_by_rate: dict[Decimal, Decimal] = {}
    for (kind, group_rate), amounts in parts.taxed.items():
        if kind == "gross":  # the gross is kept; the VAT is inside it
            vat = rounder.extracted(amounts, group_rate)
            total += rounder.amount(amounts)
        else:
            vat = rounder.added(amounts, group_rate)
            total += rounder.amount(amounts) + vat
        if group_rate:
            vat_by_rate[group_rate] = vat_by_rate.get(group_rate, _ZERO) + vat
    vat_total = sum(vat_by_rate.values(), _ZERO)
    return DocumentTotals(total, total - vat_total, vat_by_rate, rate or _ZERO)
