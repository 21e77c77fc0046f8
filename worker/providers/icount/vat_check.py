"""iCount VAT, pure: the VAT a `doc/create` body shows under each plausible rounding rule,
and how it differs from the VAT the shop charged.

Why a check after the fact, not a refusal. iCount publishes no rounding rule (facts
register D-12). `totals` sends every line as its VAT-inclusive amount, so the document
*total* needs no rounding and holds under any rule. The *VAT* cannot be made safe the
same way: iCount extracts it from those amounts, and where it rounds (once on the
rate's exact sum, per line, or on per-line nets) decides the last unit. The VAT matches
the shop's under the rule the shop used, wherever that rule sees the shop's lines (not
for a line split in two items, nor for a VAT-exclusive shop that rounds once per rate),
and may be a unit off per rate (per item, at worst) under another. Refusing a body
because *some* rule would show another VAT would refuse orders iCount may well get
right; sending it unchecked would let a wrong VAT pass. So the builder sends, and its
caller compares the VAT iCount answers with `shop_vat` (`compare_vat`) and stops as
needs_attention on a mismatch. `predicted_vat` and `vat_differences` say beforehand
what each rule would show: for tests, for the sandbox's rule switches, and for
explaining a mismatch.

The rules, per VAT rate r, over the items' amounts a = quantity × unit price (`round`
is half-up or half-even to the currency's unit). VAT extracted from `unitprice_incvat`
items / added to `unitprice` items:

- exact_sum: round(Σa × r / (100 + r)) / round(Σa × r / 100);
- per_line: Σ round(round(a) × r / (100 + r)) / Σ round(round(a) × r / 100);
- per_rate (nets rounded per line, VAT once per rate): Σ round(a) − Σ round(round(a) ×
  100 / (100 + r)), the rest of the rate's gross / round(Σ round(a) × r / 100).

A taxable item's rate is the sum of its `taxes` rates, else the document's
`vat_percent` (18 when absent, a guess: D-22); `tax_exempt` items and documents, and
`unitprice_exempt` items, carry none. Rates of 0 % are left out of every result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal
from typing import Literal, get_args

from worker.domain import vat
from worker.domain.events import Order
from worker.domain.money import parse_amount, quantize, quantum
from worker.errors import DocumentNeedsAttention
from worker.providers.base import DocumentRef
from worker.providers.icount.totals import DEFAULT_VAT_PERCENT, is_truthy, order_rate
from worker.settings import DocumentSettings

RoundingRule = Literal["exact_sum", "per_line", "per_rate"]
Rounding = Literal["half_up", "half_even"]
#: every rule and every rounding, for tests and switches
ROUNDING_RULES: tuple[RoundingRule, ...] = get_args(RoundingRule)
ROUNDINGS: tuple[Rounding, ...] = get_args(Rounding)

_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}
_PRICE_KEYS = ("unitprice_incvat", "unitprice", "unitprice_exempt")
_HUNDRED = Decimal(100)
#: wide enough that a share of any bounded amount is rounded only once, by `_round`
_WIDE = Context(prec=60)


@dataclass(frozen=True)
class VatDifference:
    """The VAT at one rate as the shop charged it and as the document shows it."""

    rate: Decimal
    shop: Decimal
    document: Decimal

    @property
    def difference(self) -> Decimal:
        """How much more VAT the document shows than the shop charged (may be negative)."""
        return self.document - self.shop


def _round(amount: Decimal, currency: str, rounding: Rounding) -> Decimal:
    return amount.quantize(quantum(currency), rounding=_MODES[rounding])


def _share(amount: Decimal, numerator: Decimal, denominator: Decimal) -> Decimal:
    return _WIDE.divide(_WIDE.multiply(amount, numerator), denominator)


def extracted_vat(
    amounts: list[Decimal], rate: Decimal, currency: str, rule: RoundingRule, rounding: Rounding
) -> Decimal:
    """The VAT contained in VAT-inclusive `amounts` at `rate` under `rule`."""
    if rule == "exact_sum":
        return _round(_share(sum(amounts, Decimal(0)), rate, _HUNDRED + rate), currency, rounding)
    grosses = [_round(amount, currency, rounding) for amount in amounts]
    if rule == "per_line":
        shares = (_share(gross, rate, _HUNDRED + rate) for gross in grosses)
        return sum((_round(share, currency, rounding) for share in shares), Decimal(0))
    nets = (
        _round(_share(gross, _HUNDRED, _HUNDRED + rate), currency, rounding) for gross in grosses
    )
    return sum(grosses, Decimal(0)) - sum(nets, Decimal(0))


def added_vat(
    amounts: list[Decimal], rate: Decimal, currency: str, rule: RoundingRule, rounding: Rounding
) -> Decimal:
    """The VAT added to VAT-exclusive `amounts` at `rate` under `rule`."""
    if rule == "exact_sum":
        return _round(_share(sum(amounts, Decimal(0)), rate, _HUNDRED), currency, rounding)
    nets = [_round(amount, currency, rounding) for amount in amounts]
    if rule == "per_line":
        shares = (_round(_share(net, rate, _HUNDRED), currency, rounding) for net in nets)
        return sum(shares, Decimal(0))
    return _round(_share(sum(nets, Decimal(0)), rate, _HUNDRED), currency, rounding)


# --- the document's side ----------------------------------------------------------------


def _number(value: object, default: Decimal) -> Decimal:
    return default if value in (None, "") else parse_amount(value)


def _item_rate(item: Mapping[str, object], document_rate: Decimal) -> Decimal:
    taxes = item.get("taxes")
    if taxes in (None, {}):
        return document_rate
    if not isinstance(taxes, Mapping):
        raise ValueError("an item's taxes must be an object of tax type id → rate")
    return sum((parse_amount(rate) for rate in taxes.values()), Decimal(0))


def _taxed_parts(body: Mapping[str, object]) -> Iterable[tuple[bool, Decimal, Decimal]]:
    """(VAT-inclusive?, rate, quantity × price) of each taxable item at a rate above 0."""
    items = body.get("items")
    if not isinstance(items, list):
        raise ValueError("items must be a list")
    exempt = is_truthy(body.get("tax_exempt"))
    document_rate = _number(body.get("vat_percent"), DEFAULT_VAT_PERCENT)
    for item in items:
        if not isinstance(item, Mapping):
            raise ValueError("an item must be an object")
        key = next((key for key in _PRICE_KEYS if item.get(key) not in (None, "")), None)
        if key is None:
            raise ValueError("an item has no unitprice, unitprice_incvat or unitprice_exempt")
        if exempt or key == "unitprice_exempt" or is_truthy(item.get("tax_exempt")):
            continue
        rate = _item_rate(item, document_rate)
        if rate:
            amount = parse_amount(item["quantity"]) * parse_amount(item[key])
            yield key == "unitprice_incvat", rate, amount


def predicted_vat(
    body: Mapping[str, object], currency: str, rule: RoundingRule, rounding: Rounding = "half_up"
) -> dict[Decimal, Decimal]:
    """The VAT per rate a document built from `body` shows under `rule` (module docstring).

    Raises:
        ValueError: an amount is missing or not a number, or the body has a document
            `discount` / `discount_incvat` (which `totals` never sends; not modelled).
    """
    if any(_number(body.get(key), Decimal(0)) for key in ("discount", "discount_incvat")):
        raise ValueError("document discounts are not modelled")
    parts: dict[tuple[bool, Decimal], list[Decimal]] = {}
    for included, rate, amount in _taxed_parts(body):
        parts.setdefault((included, rate), []).append(amount)
    shown: dict[Decimal, Decimal] = {}
    for (included, rate), amounts in parts.items():
        compute = extracted_vat if included else added_vat
        shown[rate] = shown.get(rate, Decimal(0)) + compute(amounts, rate, currency, rule, rounding)
    return shown


# --- the shop's side --------------------------------------------------------------------


line_tax = vat.line_tax  #: the VAT the shop charged on one line (`worker.domain.vat`)


def shop_vat(order: Order, documents: DocumentSettings | None = None) -> dict[Decimal, Decimal]:
    """The VAT per rate the shop charged (`vat.vat_by_rate`), a line without a rate at
    `totals.order_rate`."""
    return vat.vat_by_rate(order, order_rate(order, documents or DocumentSettings()))


def compare_vat(
    shop: Mapping[Decimal, Decimal], document: Mapping[Decimal, Decimal]
) -> tuple[VatDifference, ...]:
    """The rates whose VAT differs (a rate missing on one side counts as 0), by rate."""
    zero = Decimal(0)
    rates = sorted(set(shop) | set(document))
    pairs = ((rate, shop.get(rate, zero), document.get(rate, zero)) for rate in rates)
    return tuple(VatDifference(rate, s, d) for rate, s, d in pairs if s != d)


def vat_differences(
    order: Order,
    body: Mapping[str, object],
    rule: RoundingRule,
    rounding: Rounding = "half_up",
    *,
    documents: DocumentSettings | None = None,
) -> tuple[VatDifference, ...]:
    """Where a document built from `body` would show other VAT than the shop charged,
    under `rule`; empty when every rate agrees. `documents` gives the default rate.

    Raises:
        ValueError: as `predicted_vat`.
    """
    document = predicted_vat(body, order.currency, rule, rounding)
    return compare_vat(shop_vat(order, documents), document)


def check_answer(order: Order, documents: DocumentSettings, ref: DocumentRef) -> None:
    """Stop for a human when the document iCount made does not show the shop's total, or
    the VAT the shop charged (summed over its rates: iCount answers one `totalvat`, and a
    document has one rate unless the tenant maps several to tax types). Totals iCount
    does not answer are not checked.

    Raises:
        DocumentNeedsAttention: `document_total_differs` or `document_vat_differs`, carrying
            the document, which the job records: it is not issued again.
    """
    name = f"iCount {ref.doctype} {ref.docnum}"
    if ref.total is not None and ref.total != quantize(order.total, order.currency):
        raise DocumentNeedsAttention(
            f"{name} totals {ref.total} {order.currency}, the shop's order {order.total}; "
            "check the document before anything else is done with it",
            reason="document_total_differs",
            document=ref,
        )
    if ref.vat is None:
        return
    charged = shop_vat(order, documents)
    shop = quantize(sum(charged.values(), Decimal(0)), order.currency)
    if ref.vat != shop:
        rates = ", ".join(f"{rate}%: {tax}" for rate, tax in sorted(charged.items())) or "none"
        raise DocumentNeedsAttention(
            f"{name} shows VAT {ref.vat} {order.currency}, the shop charged {shop} ({rates}); "
            "iCount rounded the VAT differently",
            reason="document_vat_differs",
            document=ref,
        )
