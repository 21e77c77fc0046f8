"""VAT and reconciliation, pure: the one rounding rule the document mappings share.

The rounding rule. Every VAT amount is rounded half-up (away from zero) to the
currency's smallest unit (`money.quantize`), once per amount it is computed on:

- VAT *added* to a net amount: ``round(net × rate / 100)`` (`add_vat`);
- VAT *contained* in a gross amount: ``round(gross × rate / (100 + rate))``, and
  the net is the gross less that VAT (`split_vat`).

A shop rounds once per line (`gross_lines`); a provider rounds once per item
(iDoklad, iCash); iCount gets VAT-inclusive amounts and rounds by a rule of its own
(worker/providers/icount/totals.py). Rates are
percents; a tax-exempt line has no rate (None), never 0 (a 0 % rate is taxable).

Reconciliation (`reconcile`) compares three totals, naming both sides on failure:

1. The shop's `total` against the sum of its lines (`gross_lines`). Beyond
   `max_rounding` the shop's own numbers disagree: `TotalMismatch`.
2. The sum of the lines against the document a provider's rule computes. The two
   may only differ by what rounding explains: at most `ROUNDING_UNITS_PER_LINE`
   smallest units per line (the shop rounds a line's VAT once, a provider rounds
   the item, a discount item and their VAT, each by at most half a unit). Beyond
   that the document's VAT would differ from the shop's: `TotalMismatch`.
3. What is left, ``total − document``, is the residual the mapping carries
   explicitly (a "Rounding" item), so the document total equals the shop's to
   the unit.

Imports only the standard library and the domain models.
"""

from __future__ import annotations

from decimal import Decimal

from worker.domain.events import Line, Order
from worker.domain.money import quantize, quantum
from worker.errors import TotalMismatch

#: most smallest units rounding alone can move one line between the shop and a document
ROUNDING_UNITS_PER_LINE = 2
_HUNDRED = Decimal(100)


def add_vat(net: Decimal, rate: Decimal, currency: str) -> Decimal:
    """The VAT on a VAT-exclusive amount: ``round(net × rate / 100)``."""
    return quantize(net * rate / _HUNDRED, currency)


def split_vat(gross: Decimal, rate: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """A VAT-inclusive amount as ``(net, vat)``, ``vat = round(gross × rate / (100 + rate))``."""
    vat = quantize(gross * rate / (_HUNDRED + rate), currency)
    return gross - vat, vat


def line_rate(line: Line, default_rate: Decimal) -> Decimal | None:
    """The line's VAT percent: None when tax-exempt, its `tax_rate`, else `default_rate`."""
    if not line.taxable:
        return None
    return default_rate if line.tax_rate is None else line.tax_rate


def line_gross(
    line: Line, prices_include_tax: bool, rate: Decimal | None, currency: str
) -> Decimal:
    """What the customer pays for the line, VAT included, after its discount (unrounded).

    A VAT-exclusive line adds the shop's own `tax`; a taxable line that carries no
    tax (0) at a positive rate gets ``add_vat`` of its discounted net instead.
    """
    amount = line.unit_price * line.quantity - line.discount
    if prices_include_tax:
        return amount
    if line.tax or not rate:
        return amount + line.tax
    return amount + add_vat(amount, rate, currency)


def gross_lines(order: Order, default_rate: Decimal) -> list[tuple[Line, Decimal]]:
    """Each line with its gross amount (`line_gross`), rates as `line_rate` gives them."""
    include = order.prices_include_tax
    return [
        (line, line_gross(line, include, line_rate(line, default_rate), order.currency))
        for line in order.lines
    ]


def line_tax(line: Line, prices_include_tax: bool, rate: Decimal, currency: str) -> Decimal:
    """The VAT the shop charged on a line at `rate`: its `tax`; when it carries none, as
    `line_gross` derives it (VAT added to, or extracted from, its amount, half-up)."""
    if line.tax:
        return line.tax
    amount = line.unit_price * line.quantity - line.discount
    if prices_include_tax:
        return split_vat(amount, rate, currency)[1]
    return add_vat(amount, rate, currency)


def vat_by_rate(order: Order, default_rate: Decimal) -> dict[Decimal, Decimal]:
    """The VAT per rate the shop charged: Σ `line_tax` of its taxable lines, rates above 0
    (a line without a rate at `default_rate`), rounded to the currency's unit."""
    sums: dict[Decimal, Decimal] = {}
    for line in order.lines:
        rate = line_rate(line, default_rate)
        if rate:
            tax = line_tax(line, order.prices_include_tax, rate, order.currency)
            sums[rate] = sums.get(rate, Decimal(0)) + tax
    return {rate: quantize(tax, order.currency) for rate, tax in sums.items()}


def residual(order: Order, document_total: Decimal) -> Decimal:
    """What the document must still carry to reach the shop's total at the currency's unit
    (may be negative): a total with more places than the currency is rounded once, here."""
    return quantize(order.total, order.currency) - document_total


def rounding_allowance(order: Order) -> Decimal:
    """How far rounding alone may move a document from the shop's lines (see module doc)."""
    return quantum(order.currency) * ROUNDING_UNITS_PER_LINE * len(order.lines)


def check_residual(expected: Decimal, actual: Decimal, bound: Decimal, what: str) -> None:
    """Refuse when `actual` misses `expected` by more than `bound`.

    Raises:
        TotalMismatch: naming both amounts (`what` says what they are) and the bound.
    """
    if abs(expected - actual) > bound:
        raise TotalMismatch(f"{what} ({expected} vs {actual}) differ by more than {bound}")


def reconcile(
    order: Order, document_total: Decimal, *, max_rounding: Decimal, default_rate: Decimal
) -> Decimal:
    """The residual to carry for a document a provider's rule totals at `document_total`.

    Raises:
        TotalMismatch: the shop's total is more than `max_rounding` from its lines, or
            the document is further from the lines than rounding explains.
    """
    currency = order.currency
    raw = sum((gross for _, gross in gross_lines(order, default_rate)), Decimal(0))
    lines = quantize(raw, currency)
    check_residual(
        order.total, lines, max_rounding, f"the shop's total and its lines in {currency}"
    )
    check_residual(
        lines,
        document_total,
        rounding_allowance(order),
        f"the shop's lines and the document total in {currency}",
    )
    return residual(order, document_total)


def exchange_rate(order: Order) -> Decimal | None:
    """The order's exchange rate to the merchant's home currency, when it carries one
    (`Order.exchange_rate`, validated positive); providers pass it on unconverted."""
    return order.exchange_rate
