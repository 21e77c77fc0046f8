"""Money properties of every provider mapping on random shop orders, plus golden cases.

Orders: 1–50 lines (items, shipping, fees), quantities 1–20, prices in the currency's
unit (JPY, ILS/EUR/CZK, BHD/KWD), discounts up to the line amount, rates from {0, 5, 9,
15, 17, 18, 21, 25}, exempt lines, VAT-inclusive or not; tax per line as a shop rounds
it, so `lines_total() == total`. Documents are totalled by each sandbox's own checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sandboxes.icount.rounding import ROUNDINGS, RULES
from sandboxes.icount.rules import check_document as icount_check
from sandboxes.idoklad.models import check_document as idoklad_check
from sandboxes.idoklad.models import priced
from tests.orders import document_request, icash_account
from worker.domain.events import Line, Order
from worker.domain.money import exponent, from_minor_units, quantum
from worker.errors import NeedsAttention, Permanent, TotalMismatch
from worker.providers.base import DocumentRef, DocumentRequest
from worker.providers.icash.sale import sale_items
from worker.providers.icount.wire import build_document_request
from worker.providers.idoklad.wire import build_credit_note, build_invoice
from worker.settings import DocumentSettings

from .test_vat import order as make_order

D = Decimal
DAY = date(2024, 5, 1)
DOCS = DocumentSettings()
CURRENCIES = ("JPY", "ILS", "EUR", "CZK", "BHD", "KWD")
TWO_PLACES = tuple(code for code in CURRENCIES if exponent(code) <= 2)  #: what iCash can hold
RATES = tuple(D(rate) for rate in (0, 5, 9, 15, 17, 18, 21, 25))
#: iCount tax type ids for every taxable rate (orders with several rates need them)
TAX_TYPES = {str(rate): index for index, rate in enumerate(RATES) if rate}
DISCOUNT, ROUNDING = "Discount: ", "Rounding"
#: shop offsets within the bound are at most this many smallest units
BOUND_UNITS = 5
PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- random shop orders ------------------------------------------------------------------


def shop_tax(base: Decimal, rate: Decimal, inclusive: bool, currency: str) -> Decimal:
    """The tax a shop shows for a line, rounded half-up per line (written out, not imported)."""
    share = base * rate / (100 + rate) if inclusive else base * rate / 100
    return share.quantize(quantum(currency), rounding=ROUND_HALF_UP)


@st.composite
def shop_lines(draw: st.DrawFn, currency: str, inclusive: bool) -> list[Line]:
    lines = []
    for index in range(draw(st.integers(1, 50))):
        kind = draw(st.sampled_from(("item", "item", "item", "shipping", "fee")))
        quantity, units = draw(st.integers(1, 20)), draw(st.integers(0, 1_000_000))
        off = draw(st.one_of(st.just(0), st.integers(0, units * quantity)))
        taxable = draw(st.sampled_from((True, True, True, False)))
        rate = draw(st.sampled_from(RATES))
        base = from_minor_units(units * quantity - off, currency)
        tax = shop_tax(base, rate, inclusive, currency) if taxable else D(0)
        shown = rate if taxable else draw(st.sampled_from((None, rate)))
        lines.append(
            Line(
                kind=kind,
                description=f"{kind} {index}",
                quantity=D(quantity),
                unit_price=from_minor_units(units, currency),
                discount=from_minor_units(off, currency),
                tax=tax,
                tax_rate=shown,
                taxable=taxable,
            )
        )
    return lines


@st.composite
def orders(draw: st.DrawFn, currencies: tuple[str, ...] = CURRENCIES) -> Order:
    currency, inclusive = draw(st.sampled_from(currencies)), draw(st.booleans())
    lines = draw(shop_lines(currency, inclusive))
    probe = make_order(lines, "0", inclusive=inclusive, currency=currency)
    return probe.model_copy(update={"total": probe.lines_total()})


def with_total(order: Order, units: int) -> Order:
    """The same order with its total moved by `units` smallest units."""
    total = order.total + units * quantum(order.currency)
    assume(total >= 0)
    return order.model_copy(update={"total": total})


def bounded(order: Order) -> DocumentSettings:
    """Settings whose `max_rounding` is `BOUND_UNITS` of the order's currency."""
    return DOCS.model_copy(update={"max_rounding": BOUND_UNITS * quantum(order.currency)})


def no_float(value: object) -> None:
    """No float at any depth of a built body."""
    assert not isinstance(value, float)
    if isinstance(value, dict):
        value = list(value.values())
    for child in value if isinstance(value, list | tuple) else ():
        no_float(child)


# --- the three mappings, each totalled by its sandbox's rule ----------------------------


def request(order: Order, documents: DocumentSettings = DOCS) -> DocumentRequest:
    return document_request(order, "ib-prop", documents=documents, issue_date=DAY)


def icount_body(order: Order) -> dict[str, Any]:
    return build_document_request(
        order, doctype="invoice", documents=DOCS, sanity="ib-7", issue_date=DAY
    )


def icount(order: Order, documents: DocumentSettings = DOCS) -> tuple[Decimal, Decimal]:
    """(document total, Σ rounding items); an invoice-receipt, so the payment must match
    too. Totalled under each of the sandbox's rounding rules, which must all agree."""
    typed = documents.model_copy(update={"icount_tax_types": TAX_TYPES})
    body = build_document_request(
        order, doctype="invrec", documents=typed, sanity="ib-prop", issue_date=DAY
    )
    no_float(body)
    totals = {icount_check(body, rule, mode)[1].total for rule in RULES for mode in ROUNDINGS}
    assert len(totals) == 1
    assert not {"roundup", "discount", "discount_incvat"} & set(body)
    items: list[dict[str, Any]] = body["items"]  # type: ignore[assignment]  # built as a list
    rounding = D(0)
    for item in items:
        price = D(item.get("unitprice_incvat") or item["unitprice"])
        if item["description"] == ROUNDING:
            rounding += price
        assert price >= 0 or item["description"] == ROUNDING
    return totals.pop(), rounding


def idoklad(order: Order, documents: DocumentSettings = DOCS) -> tuple[Decimal, Decimal]:
    """(document total, Σ rounding items) of the invoice body."""
    body = build_invoice({}, request(order, documents), purchaser_id=1, currency_id=1)
    no_float(body)
    check, _, items = idoklad_check(body, "IssuedInvoiceItems")
    check.done()
    _, money = priced(items, order.currency)
    rounding = D(0)
    built: list[dict[str, Any]] = body["IssuedInvoiceItems"]  # type: ignore[assignment]
    for item in built:
        assert item["Amount"] > 0
        name = item["Name"]
        if name == ROUNDING:
            rounding += item["UnitPrice"]
        assert item["UnitPrice"] >= 0 or name.startswith(DISCOUNT) or name == ROUNDING
    return money.total, rounding


#: an iCash account with a catalogue item for every rate the orders use
ICASH = icash_account({str(rate): 100 + index for index, rate in enumerate(RATES)})


def icash(order: Order, documents: DocumentSettings = DOCS) -> tuple[Decimal, Decimal]:
    """(operation total, Σ rounding items) of the operation's sale items: every item above 0
    at a price of 2 places (iCash sells no negative item)."""
    assume(order.total > 0)  # an operation sells something: a zero order stops (tested apart)
    items = sale_items(order, documents, ICASH.model_copy(update={"currency": order.currency}))
    for item in items:
        no_float(item.fields(1))
        assert item.amount > 0 and item.price == item.price.quantize(D("0.01"))
    counted = sum(1 for line in order.lines if line.unit_price * line.quantity != line.discount)
    rounding = sum((item.amount for item in items[counted:]), D(0))
    return sum((item.amount for item in items), D(0)), rounding


Build = Callable[..., tuple[Decimal, Decimal]]
MAPPINGS: dict[str, tuple[Build, tuple[str, ...]]] = {
    "icount": (icount, CURRENCIES),
    "idoklad": (idoklad, CURRENCIES),
    "icash": (icash, TWO_PLACES),
}


# --- properties --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_document_total_is_the_shop_total(name: str) -> None:
    """(a) exact total, (b) negative amounts only on discounts and rounding, (c) no float."""
    mapping, currencies = MAPPINGS[name]

    @PROPERTY
    @given(orders(currencies))
    def check(order: Order) -> None:
        total, rounding = mapping(order)
        assert total == order.total
        if order.prices_include_tax and name != "icash":
            assert rounding == 0  # exact prices need no rounding at all

    check()


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_a_shop_total_off_beyond_max_rounding_is_refused(name: str) -> None:
    """A total more than `max_rounding` from the shop's own lines is never sent."""
    mapping, currencies = MAPPINGS[name]

    @PROPERTY
    @given(orders(currencies), st.integers(BOUND_UNITS + 1, 100_000), st.booleans())
    def check(order: Order, units: int, below: bool) -> None:
        with pytest.raises(TotalMismatch):
            mapping(with_total(order, -units if below else units), bounded(order))

    check()


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_a_shop_offset_within_the_bound_is_carried_explicitly(name: str) -> None:
    """An offset ≤ `max_rounding` moves the rounding item(s) by exactly that much (iCash: a
    negative one comes off its largest item, and the total is still exact)."""
    mapping, currencies = MAPPINGS[name]

    @PROPERTY
    @given(orders(currencies), st.integers(-BOUND_UNITS, BOUND_UNITS).filter(bool))
    def check(order: Order, units: int) -> None:
        moved = with_total(order, units)
        if name == "icash" and units < 0:  # no negative item: it comes off the largest one
            try:
                total, _ = mapping(moved, bounded(order))
            except NeedsAttention as error:
                assert error.reason == "negative_rounding"
                assume(False)
            assert total == moved.total
            return
        total, rounding = mapping(moved, bounded(order))
        _, before = mapping(order, bounded(order))
        assert total == moved.total
        assert rounding - before == units * quantum(order.currency)

    check()


# --- golden cases: exchange rates, iCash's decimal places ---------------------------------


def rated(currency: str) -> Order:
    line = Line(description="Tea", quantity=D(1), unit_price=D(100), tax_rate=D(18))
    shop = make_order([line], "100", inclusive=True, currency=currency)
    return Order.model_validate({**shop.model_dump(), "exchange_rate": D("3.7125")})


def test_exchange_rate_goes_out_when_the_order_has_one() -> None:
    """iCount `rate` and iDoklad `ExchangeRate` carry the order's rate; without one, nothing."""
    assert icount_body(rated("USD"))["rate"] == "3.7125"
    invoice = build_invoice({}, request(rated("EUR")), purchaser_id=1, currency_id=2)
    assert invoice["ExchangeRate"] == D("3.7125")
    ref = DocumentRef(doctype="invoice", docnum="1", doc_id="1")
    refund = replace(request(rated("EUR")), kind="refund", based_on=ref)
    credit = build_credit_note({}, refund, credited_id=1, currency_id=2)
    assert credit["ExchangeRate"] == D("3.7125")
    plain = Order.model_validate(rated("EUR").model_dump(exclude={"exchange_rate"}))
    assert "rate" not in icount_body(plain)
    assert "ExchangeRate" not in build_invoice({}, request(plain), purchaser_id=1, currency_id=2)


@pytest.mark.parametrize("currency", ["BHD", "KWD"])
def test_icash_refuses_three_decimal_currencies(currency: str) -> None:
    """iCash keeps 2 decimal places; a dinar order is refused rather than rounded."""
    line = Line(description="Oud", quantity=D(1), unit_price=D("12.340"), tax_rate=D(0))
    dinars = make_order([line], "12.340", inclusive=False, currency=currency)
    with pytest.raises(Permanent) as caught:
        sale_items(dinars, DOCS, ICASH.model_copy(update={"currency": currency}))
    assert caught.value.reason == "unsupported_amount"
    assert not isinstance(caught.value, TotalMismatch)
