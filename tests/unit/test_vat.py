"""The VAT rounding rule and the reconciliation step: golden cases. (How iCount documents
carry them: tests/unit/test_icount_totals.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.orders import order_one
from tests.payments import CARD
from worker.domain.events import Customer, Line, Order
from worker.domain.vat import (
    add_vat,
    exchange_rate,
    gross_lines,
    line_rate,
    reconcile,
    residual,
    rounding_allowance,
    split_vat,
)
from worker.errors import TotalMismatch

D = Decimal


def order(lines: list[Line], total: str, *, inclusive: bool, currency: str = "ILS") -> Order:
    return order_one(lines, total, inclusive=inclusive, currency=currency, payment=CARD)


def line(price: str, rate: int | None = 17, **kwargs: object) -> Line:
    fields: dict[str, object] = {"quantity": D(1), "unit_price": D(price), "tax_rate": rate}
    fields.update(kwargs)
    return Line.model_validate({"description": "x", **fields})


# --- the rounding rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("net", "rate", "currency", "vat"),
    [
        ("10.03", 17, "ILS", "1.71"),  # 1.7051
        ("0.50", 1, "ILS", "0.01"),  # 0.005: half-up, not half-even
        ("0.50", 3, "ILS", "0.02"),  # 0.015
        ("-0.50", 1, "ILS", "-0.01"),  # a discount rounds away from zero, like its line
        ("105", 10, "JPY", "11"),  # 10.5 yen
        ("150", 8, "JPY", "12"),
        ("1.005", 10, "BHD", "0.101"),  # 0.1005 dinar: three places
        ("12.345", 5, "KWD", "0.617"),  # 0.61725
        ("99.99", 0, "EUR", "0.00"),
    ],
)
def test_add_vat_rounds_half_up_to_the_currency_unit(
    net: str, rate: int, currency: str, vat: str
) -> None:
    """VAT on a net amount is rounded once, half-up, to the currency's smallest unit."""
    assert add_vat(D(net), D(rate), currency) == D(vat)


@pytest.mark.parametrize(
    ("gross", "rate", "currency", "net", "vat"),
    [
        ("117.00", 17, "ILS", "100.00", "17.00"),
        ("10.00", 18, "ILS", "8.47", "1.53"),  # 1.5254
        ("1000", 8, "JPY", "926", "74"),  # 74.07
        ("1100", 10, "JPY", "1000", "100"),
        ("1.100", 10, "BHD", "1.000", "0.100"),
        ("2.000", 15, "KWD", "1.739", "0.261"),  # 0.26087
        ("5.00", 0, "EUR", "5.00", "0.00"),
    ],
)
def test_split_vat_extracts_the_contained_vat(
    gross: str, rate: int, currency: str, net: str, vat: str
) -> None:
    """The VAT in a gross amount is round(gross × r / (100 + r)); the net is the rest."""
    assert split_vat(D(gross), D(rate), currency) == (D(net), D(vat))


# --- grouping per rate -------------------------------------------------------------------


def test_line_rate() -> None:
    """Exempt lines have no rate (not 0); a line without a rate takes the default."""
    assert line_rate(line("1", 17, taxable=False), D(18)) is None
    assert line_rate(line("1", None), D(18)) == D(18)
    assert line_rate(line("1", 0), D(18)) == D(0)


def test_gross_lines_inclusive_and_exclusive() -> None:
    """Inclusive: q × price − discount. Exclusive: plus the shop's tax, or, when a taxable
    line carries none, the per-line VAT of its discounted net."""
    inclusive = order([line("50.00", quantity=D(2), discount=D(10))], "90", inclusive=True)
    assert [gross for _, gross in gross_lines(inclusive, D(18))] == [D("90.00")]
    lines = [
        line("10.03", 17, tax=D("1.71")),
        line("10.03", 17),  # no tax given: computed, 1.71
        line("10.03", None),  # no rate: the default, 18 → 1.81
        line("5.00", 17, taxable=False),
        line("7.00", 0),
    ]
    exclusive = order(lines, "47.06", inclusive=False)
    grosses = [gross for _, gross in gross_lines(exclusive, D(18))]
    assert grosses == [D("11.74"), D("11.74"), D("11.84"), D("5.00"), D("7.00")]


# --- reconciliation ----------------------------------------------------------------------


def exclusive_order(total: str) -> Order:
    lines = [line("10.03", 17, tax=D("1.71")) for _ in range(3)] + [line("10.03", 18)]
    return order(lines, total, inclusive=False)


def test_reconcile_carries_what_rounding_explains() -> None:
    """The shop says 47.06 (per-line VAT); a per-group document says 47.05: carry 0.01."""
    shop = exclusive_order("47.06")
    assert reconcile(shop, D("47.05"), max_rounding=D("0.05"), default_rate=D(18)) == D("0.01")
    assert reconcile(shop, D("47.06"), max_rounding=D("0.05"), default_rate=D(18)) == D(0)
    assert residual(shop, D("47.10")) == D("-0.04")


def test_reconcile_carries_a_shop_total_off_within_max_rounding() -> None:
    """A shop total 0.03 off its own lines is carried too, together with the rounding."""
    shop = exclusive_order("47.09")
    assert reconcile(shop, D("47.05"), max_rounding=D("0.05"), default_rate=D(18)) == D("0.04")


def test_reconcile_refuses_a_shop_total_off_its_lines() -> None:
    """Beyond max_rounding the shop's own numbers disagree; both totals are named."""
    with pytest.raises(TotalMismatch) as caught:
        reconcile(exclusive_order("47.12"), D("47.06"), max_rounding=D("0.05"), default_rate=D(18))
    assert "47.12" in str(caught.value) and "47.06" in str(caught.value)
    assert caught.value.reason == "total_mismatch"


def test_reconcile_refuses_a_document_rounding_cannot_explain() -> None:
    """A document further from the lines than 2 units per line (VAT at a wrong rate)."""
    shop = exclusive_order("47.06")
    assert rounding_allowance(shop) == D("0.08")
    reconcile(shop, D("46.98"), max_rounding=D("0.05"), default_rate=D(18))
    with pytest.raises(TotalMismatch) as caught:
        reconcile(shop, D("46.97"), max_rounding=D("0.05"), default_rate=D(18))
    assert "47.06" in str(caught.value) and "46.97" in str(caught.value)


def test_rounding_allowance_follows_the_currency() -> None:
    """Two smallest units per line: 2 yen, 0.02 shekel, 0.002 dinar."""
    lines = [line("100", 10)]
    assert rounding_allowance(order(lines, "110", inclusive=False, currency="JPY")) == D(2)
    assert rounding_allowance(order(lines, "110", inclusive=False)) == D("0.02")
    assert rounding_allowance(order(lines, "110", inclusive=False, currency="BHD")) == D("0.002")


def test_jpy_reconcile_has_no_room_below_a_yen() -> None:
    """In JPY the default max_rounding (0.05) allows no shop offset at all."""
    shop = order([line("1000", 10, tax=D(100))], "1101", inclusive=False, currency="JPY")
    with pytest.raises(TotalMismatch):
        reconcile(shop, D(1100), max_rounding=D("0.05"), default_rate=D(10))


def test_exchange_rate_is_read_when_present() -> None:
    """No rate: None. A positive rate is a Decimal; zero is refused when the order is made."""
    import pydantic

    plain = order([line("1")], "1", inclusive=True)
    assert exchange_rate(plain) is None
    rated = Order.model_validate({**plain.model_dump(), "exchange_rate": D("3.7125")})
    assert exchange_rate(rated) == D("3.7125")
    with pytest.raises(pydantic.ValidationError):
        Order.model_validate({**plain.model_dump(), "exchange_rate": D(0)})


# --- providers pass the order's exchange rate on -----------------------------------------


def test_an_orders_exchange_rate_goes_out_with_its_document() -> None:
    """A rate on the order reaches iCount's `rate`; without one, the field is left out."""
    from datetime import date

    from worker.domain.events import Line, Order
    from worker.providers.icount.wire import build_document_request
    from worker.settings import DocumentSettings

    order = Order(
        order_id="9",
        number="#9",
        currency="EUR",
        prices_include_tax=True,
        lines=(Line(description="x", quantity=Decimal(1), unit_price=Decimal(10)),),
        total=Decimal(10),
        paid=False,
        customer=Customer(name="A"),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    common = {
        "doctype": "invoice",
        "documents": DocumentSettings(),
        "sanity": "ib-x",
        "issue_date": date(2026, 1, 1),
    }
    assert "rate" not in build_document_request(order, **common)  # type: ignore[arg-type]
    rated = order.model_copy(update={"exchange_rate": Decimal("3.9512")})
    assert build_document_request(rated, **common)["rate"] == "3.9512"  # type: ignore[arg-type]
