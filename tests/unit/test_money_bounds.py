"""Money as the domain reads it (#15): ASCII digits only, ISO 4217 currencies with a minor unit,
amounts and quantities within bounds, and no Decimal operation of a document mapping that can
overflow or lose its place for any order within those bounds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Context, Decimal, DefaultContext, Inexact, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.orders import document_request, icash_account, icount_body, order_one
from worker.domain import money
from worker.domain.events import Customer, Line, Order
from worker.errors import Permanent
from worker.providers.base import DocumentRequest
from worker.providers.icash.sale import sale_items
from worker.providers.idoklad.wire import build_invoice
from worker.settings import DocumentSettings

D = Decimal
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    "text", ["5_0.00", "٥٠", "５０", " 50", "50 ", "1,5", "0x10", "Infinity", "NaN", "", "+-1", "."]
)
def test_amount_text_is_ascii_decimal_only(text: str) -> None:
    """What `Decimal()` would take but a shop never sends is refused, without echoing it."""
    with pytest.raises(ValueError) as caught:
        money.parse_amount(text)
    assert text.strip() == "" or text not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("50.00", "50.00"),
        ("-1.5", "-1.5"),
        ("1e3", "1000"),
        (".5", "0.5"),
        (117, "117"),
        ("1.000000000000000000", "1.000000000000"),
        ("0E-40", "0E-12"),
    ],
)
def test_amounts_within_bounds_are_read_exactly(value: object, read: str) -> None:
    assert str(money.read_amount(value)) == read


@pytest.mark.parametrize(
    "value", ["1e999999999", 10**25, "1000000000000000.01", "1e-13", "0.1234567890123"]
)
def test_amounts_beyond_bounds_are_refused(value: object) -> None:
    """Over 10^15 whole units, or more than 12 decimal places (trailing zeros aside)."""
    with pytest.raises(ValueError):
        money.read_amount(value)


@pytest.mark.parametrize(
    ("code", "places"), [("ILS", 2), ("jpy", 0), ("BHD", 3), ("CLF", 4), ("EUR", 2), ("BGN", 2)]
)
def test_exponents_come_from_iso_4217(code: str, places: int) -> None:
    """The ISO list (the `iso4217` package), plus codes ISO withdrew lately (BGN: 2026)."""
    assert money.exponent(code) == places
    assert money.currency_code(code) == code.upper()


@pytest.mark.parametrize("code", ["QQQ", "XAU", "XXX", "XTS", "XDR", "IL", "ILSS", "€€€", "ıls"])
def test_unknown_and_non_money_codes_are_refused(code: str) -> None:
    """Not in ISO 4217, or in it without a minor unit (gold, the test code, no currency)."""
    with pytest.raises(ValueError):
        money.currency_code(code)
    with pytest.raises(ValidationError, match="currency"):
        Order(
            order_id="1",
            number="1",
            currency=code,
            prices_include_tax=True,
            paid=True,
            lines=(Line(description="x", quantity=D(1), unit_price=D(1)),),
            total=D(1),
            customer=Customer(name="Dana"),
            created_at=datetime(2024, 5, 1, tzinfo=UTC),
        )


@pytest.mark.parametrize("quantity", ["0", "-1", "1000000.5", "1e22", "0.0000001"])
def test_quantities_beyond_bounds_are_refused(quantity: str) -> None:
    """More than 0, at most 10^6, at most 6 decimal places."""
    with pytest.raises(ValidationError, match="quantity"):
        Line.model_validate({"description": "x", "quantity": quantity, "unit_price": "1"})


# --- no overflow anywhere within the bounds ----------------------------------------------


#: an iCash account with a catalogue item for every whole VAT rate
ICASH = icash_account({str(rate): 100 + rate for rate in range(101)})


def _request(order: Order) -> DocumentRequest:
    return document_request(order, "ib-bounds")


@st.composite
def extreme_orders(draw: st.DrawFn) -> Order:
    """Orders at the edges of the bounds: the largest prices, quantities and place counts the
    domain takes, in currencies of every exponent."""
    currency = draw(st.sampled_from(["JPY", "ILS", "BHD", "CLF"]))
    places = money.exponent(currency)
    count = draw(st.integers(1, 4))
    cap = D(money.MAX_MINOR_UNITS).scaleb(-places) / count  # the lines' share of the total
    lines = []
    for _ in range(count):
        quantity = draw(st.sampled_from([D(1), D("0.000001"), D("999999.999999"), D(10**6)]))
        unit = draw(st.sampled_from([D(1), D(7), D(10**9)]))  # a whole price, or odd places
        unit = min(cap / quantity, cap) / unit  # price × quantity within the share
        unit = unit.quantize(D("1E-12") if unit < 1000 else D(1), rounding="ROUND_DOWN")
        rate = draw(st.sampled_from([None, D(0), D(17), D("100")]))
        lines.append(Line(description="x", quantity=quantity, unit_price=unit, tax_rate=rate))
    inclusive = draw(st.booleans())
    draft = order_one(lines, inclusive=inclusive, currency=currency, number="1")
    return draft.model_copy(update={"total": draft.lines_total()})


@PROPERTY
@given(extreme_orders())
def test_no_document_mapping_overflows_within_the_bounds(order: Order) -> None:
    """iCount, iDoklad and iCash bodies built from such orders: their arithmetic (quantize,
    VAT splits, reconciliation) raises no decimal signal in the default context; a refusal,
    if any, is a `Permanent` (a total mismatch, an amount iCash cannot hold)."""
    Order.model_validate(order.model_dump())  # the order is within the bounds
    builders = [
        lambda: icount_body(order, doctype="invoice"),
        lambda: build_invoice({}, _request(order), purchaser_id=1, currency_id=1),
        lambda: sale_items(
            order, DocumentSettings(), ICASH.model_copy(update={"currency": order.currency})
        ),
    ]
    for build in builders:
        try:
            build()
        except Permanent:
            pass


# --- every accepted line is exact in Decimal's default context ----------------------------


@st.composite
def bounded_amounts(draw: st.DrawFn, most: int, places: int) -> Decimal:
    """An amount below `most` whole units with up to `places` decimal places, of any size
    (its count of whole digits drawn first), often with all `places`, and with every digit
    significant (first and last not zero): the hardest for a 28-digit context."""
    whole = draw(st.integers(0, len(str(most)) - 1))
    scale = draw(st.one_of(st.just(places), st.integers(0, places)))
    size = whole + scale  # digits
    if size == 0:
        return D(0)
    units = draw(st.integers(10 ** (size - 1), 10**size - 1)) // 10 * 10 + draw(st.integers(1, 9))
    return D(min(units, most * 10**scale)).scaleb(-scale)


def _order_of(line: Line, currency: str) -> Order:
    return order_one([line], inclusive=False, currency=currency, number="1")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bounded_amounts(10**15, money.MAX_PLACES),
    bounded_amounts(10**6, money.MAX_QUANTITY_PLACES),
    bounded_amounts(10**9, money.MAX_PLACES),
    bounded_amounts(10**9, money.MAX_PLACES),
    st.sampled_from(["JPY", "ILS", "BHD"]),
)
def test_every_accepted_line_is_exact_in_the_default_context(
    price: Decimal, quantity: Decimal, discount: Decimal, tax: Decimal, currency: str
) -> None:
    """Whatever line the bounds let into an order, its price × quantity and its gross
    (discount, tax) computed in Decimal's default context equal the exact values (computed
    with 100 digits, Inexact trapped); a line that would round is refused at its quantity."""
    try:
        line = Line(
            description="x", quantity=quantity, unit_price=price, discount=discount, tax=tax
        )
        _order_of(line, currency)
    except ValidationError as refused:
        kinds = {(error["type"], error["loc"][-1]) for error in refused.errors()}
        too_large = {("amount_too_large", name) for name in ("unit_price", "discount", "tax")}
        at_quantity = {("amount_too_large", "quantity"), ("amount_not_exact", "quantity")}
        assert kinds <= too_large | at_quantity | {("greater_than", "quantity")}
        return
    with localcontext(Context(prec=100, traps=[Inexact])):
        exact_product = price * quantity
        exact_gross = exact_product - discount + tax
    with localcontext(DefaultContext):
        assert price * quantity == exact_product
        assert line.gross(prices_include_tax=False) == exact_gross
        assert line.gross(prices_include_tax=True) == exact_product - discount


def test_a_line_that_would_round_is_refused_at_its_quantity() -> None:
    """12 places of a price times 6 of a quantity need 29 digits: refused, naming the field,
    without echoing the price."""
    line = Line(description="x", quantity=D("999999.999997"), unit_price=D("12778.333333333335"))
    with pytest.raises(ValidationError) as caught:
        _order_of(line, "ILS")
    [error] = caught.value.errors()
    assert (error["type"], error["loc"]) == ("amount_not_exact", ("lines", 0, "quantity"))
    assert "12778.333333333335" not in str(caught.value)
