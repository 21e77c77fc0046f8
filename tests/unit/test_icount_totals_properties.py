"""Totals hold under any provider rounding (DESIGN), on random orders, for iCount.

Orders: 1–50 lines (items, shipping, fees), whole and fractional quantities, discounts,
exempt and 0 % lines, VAT-inclusive or not, in JPY, ILS, EUR, KWD and BHD; one taxable
rate, or two with a tax-type mapping; the shop's total off its lines by its own rounding
now and then. The shop's VAT is computed by one rounding rule (`ShopRule`). Each body
is totalled by the sandbox (`sandboxes.icount.rounding`, which shares no code with the
builder) under every rule × rounding:

- the total is the shop's total, exactly;
- the worker's `predicted_vat` agrees with the sandbox's VAT per rate;
- `vat_differences` reports exactly the rates whose sandbox VAT differs from the shop's;
- under the shop's own rule there are none, wherever that rule can see the shop's lines
  (see `same_lines`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sandboxes.icount import rounding as sandbox
from tests.orders import order_one
from worker.domain.events import Line, Order
from worker.domain.money import from_minor_units, quantum
from worker.providers.icount import vat_check
from worker.providers.icount.totals import ROUNDING_DESCRIPTION, money_fields
from worker.providers.icount.vat_check import VatDifference, predicted_vat, vat_differences
from worker.settings import DocumentSettings

D = Decimal
CURRENCIES = ("JPY", "ILS", "EUR", "KWD", "BHD")
RATES = tuple(D(rate) for rate in ("4", "5", "7.7", "9", "12", "15", "17", "18", "20", "21", "25"))
TAX_TYPES = {f"{rate.normalize():f}": index + 1 for index, rate in enumerate(RATES)}
#: fractional quantities; their lines are priced in multiples of 4 units, so exact
FRACTIONS = tuple(D(q) for q in ("0.5", "1.5", "2.5", "0.25", "1.75"))
BOUND_UNITS = 3  #: the shop's total may be off its lines by this many units
COMBINATIONS = [(rule, mode) for rule in sandbox.RULES for mode in sandbox.ROUNDINGS]
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


@dataclass(frozen=True)
class ShopRule:
    """How the shop computed its VAT: one of the provider's rules, written out here."""

    rule: sandbox.RoundingRule
    rounding: sandbox.Rounding

    def round(self, amount: Decimal, currency: str) -> Decimal:
        return amount.quantize(quantum(currency), rounding=_MODES[self.rounding])


@dataclass(frozen=True)
class Spec:
    """A line before its tax: amount (price × quantity − discount, exact) and rate."""

    fields: dict[str, Any]
    amount: Decimal
    rate: Decimal | None  #: None: exempt (not taxable, or 0 %)


@dataclass(frozen=True)
class Case:
    order: Order
    shop: ShopRule
    vat: dict[Decimal, Decimal]  #: the VAT the shop charged, per rate


# --- the shop -----------------------------------------------------------------------------


def share(amount: Decimal, rate: Decimal, inclusive: bool) -> Decimal:
    """The exact VAT share of an amount (50 digits, then rounded by the caller)."""
    with localcontext() as context:
        context.prec = 50
        return amount * rate / (100 + rate if inclusive else 100)


def line_taxes(specs: list[Spec], inclusive: bool, currency: str, shop: ShopRule) -> list[Decimal]:
    """Each line's tax under the shop's rule; a rule that rounds per rate puts the group's
    remainder on the group's largest tax."""
    taxes = []
    for spec in specs:
        if spec.rate is None:
            taxes.append(D(0))
        elif inclusive and shop.rule == "per_rate":  # nets rounded per line, VAT the rest
            net = spec.amount - share(spec.amount, spec.rate, True)
            taxes.append(spec.amount - shop.round(net, currency))
        else:
            taxes.append(shop.round(share(spec.amount, spec.rate, inclusive), currency))
    if shop.rule == "per_line" or (inclusive and shop.rule == "per_rate"):
        return taxes
    for rate in {spec.rate for spec in specs if spec.rate is not None}:
        group = [index for index, spec in enumerate(specs) if spec.rate == rate]
        total = sum((specs[index].amount for index in group), D(0))
        rest = shop.round(share(total, rate, inclusive), currency) - sum(taxes[i] for i in group)
        largest = max(group, key=lambda index: taxes[index])
        taxes[largest] += rest
        assume(taxes[largest] >= 0)
    return taxes


@st.composite
def specs(draw: st.DrawFn, currency: str, rates: tuple[Decimal, ...]) -> Spec:
    kind = draw(st.sampled_from(("item", "item", "item", "shipping", "fee")))
    if draw(st.integers(0, 9)) == 0:
        quantity, units = draw(st.sampled_from(FRACTIONS)), 4 * draw(st.integers(0, 250_000))
    else:
        quantity, units = D(draw(st.integers(1, 20))), draw(st.integers(0, 1_000_000))
    whole = int(units * quantity)
    off = draw(st.one_of(st.just(0), st.integers(0, whole)))
    exempt = draw(st.sampled_from(("no", "no", "no", "untaxed", "zero")))
    rate = draw(st.sampled_from(rates))
    fields = {
        "kind": kind,
        "description": f"{kind}",
        "quantity": quantity,
        "unit_price": from_minor_units(units, currency),
        "discount": from_minor_units(off, currency),
        "taxable": exempt != "untaxed",
        "tax_rate": D(0) if exempt == "zero" else rate,
    }
    amount = from_minor_units(whole - off, currency)
    return Spec(fields, amount, None if exempt != "no" else rate)


@st.composite
def cases(draw: st.DrawFn, two_rates: bool) -> Case:
    currency, inclusive = draw(st.sampled_from(CURRENCIES)), draw(st.booleans())
    shop = ShopRule(draw(st.sampled_from(sandbox.RULES)), draw(st.sampled_from(sandbox.ROUNDINGS)))
    count = 2 if two_rates else 1
    rates = tuple(
        draw(st.lists(st.sampled_from(RATES), min_size=count, max_size=count, unique=True))
    )
    lines = [draw(specs(currency, rates)) for _ in range(draw(st.integers(1, 50)))]
    taxes = line_taxes(lines, inclusive, currency, shop)
    pairs = list(zip(lines, taxes, strict=True))
    built = [Line.model_validate({**spec.fields, "tax": tax}) for spec, tax in pairs]
    vat: dict[Decimal, Decimal] = {}
    for spec, tax in pairs:
        if spec.rate is not None:
            vat[spec.rate] = vat.get(spec.rate, D(0)) + tax
    probe = order_one(built, inclusive=inclusive, currency=currency)
    off = draw(st.sampled_from((0, 0, 0, *range(-BOUND_UNITS, BOUND_UNITS + 1))))
    total = probe.lines_total() + off * quantum(currency)
    assume(total >= 0)
    order = probe.model_copy(update={"total": total})
    # a taxable line whose tax rounds to 0 has its tax derived (half-up) by `shop_vat`
    assume(vat_check.shop_vat(order, documents(order)) == vat)
    return Case(order, shop, vat)


def documents(order: Order) -> DocumentSettings:
    bound = BOUND_UNITS * quantum(order.currency)
    return DocumentSettings(max_rounding=bound, icount_tax_types=TAX_TYPES)


# --- the checks --------------------------------------------------------------------------


def body_of(order: Order) -> dict[str, Any]:
    body = {"currency_code": order.currency, **money_fields(order, documents(order))}
    items: list[dict[str, Any]] = body["items"]  # type: ignore[assignment]  # built as a list
    unit = quantum(order.currency)
    for item in items:
        assert not {"vat_percent", "discount", "discount_incvat"} & set(item)
        assert isinstance(item["quantity"], int) and item["quantity"] >= 1
        price = D(item.get("unitprice_incvat") or item["unitprice"])
        assert price == price.quantize(unit)  # quantity × price is exact
        assert price >= 0 or item["description"] == ROUNDING_DESCRIPTION
    assert not {"roundup", "discount", "discount_incvat"} & set(body)
    return body


def same_lines(case: Case, body: dict[str, Any]) -> bool:
    """Whether the document's VAT under the shop's rule must equal the shop's: the rule
    sees the shop's lines (each line one item, or a rule over the rate's sum), and a
    VAT-exclusive shop rounding once per rate is not reconstructed from its line grosses."""
    items = [i for i in body["items"] if i["description"] != ROUNDING_DESCRIPTION]
    if case.shop.rule == "per_rate" and not case.order.prices_include_tax:
        return False
    return case.shop.rule == "exact_sum" or len(items) == len(case.order.lines)


def check(case: Case) -> None:
    order, body = case.order, body_of(case.order)
    for rule, mode in COMBINATIONS:
        totals = sandbox.document_totals(body, order.currency, rule, mode)
        assert totals.total == order.total, (rule, mode)
        assert predicted_vat(body, order.currency, rule, mode) == dict(totals.vat_by_rate)
        expected = tuple(
            VatDifference(rate, case.vat.get(rate, D(0)), totals.vat_by_rate.get(rate, D(0)))
            for rate in sorted(set(case.vat) | set(totals.vat_by_rate))
        )
        differing = tuple(difference for difference in expected if difference.difference)
        found = vat_differences(order, body, rule, mode, documents=documents(order))
        assert found == differing, (rule, mode)
        if (rule, mode) == (case.shop.rule, case.shop.rounding) and same_lines(case, body):
            assert found == (), (rule, mode)


@PROPERTY
@given(cases(two_rates=False))
def test_one_rate_with_exempt_lines(case: Case) -> None:
    """One taxable rate (plus exempt and 0 % lines): exact totals, the shop's VAT."""
    check(case)


@PROPERTY
@given(cases(two_rates=True))
def test_two_rates_with_tax_types(case: Case) -> None:
    """Two taxable rates, each item's rate under its tax type: exact totals, the shop's VAT."""
    check(case)
