"""A refund that names no lines becomes one credit-note line taxed as its order was."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from worker.domain.events import Customer, Line, Order, Refund
from worker.errors import NeedsAttention
from worker.jobs.runner import credit_note_order
from worker.providers.icount.vat_check import shop_vat

REFUND = Refund(refund_id="r1", amount=Decimal("50.00"), currency="ILS")


def order(*lines: Line) -> Order:
    return Order(
        order_id="1",
        number="#1",
        currency="ILS",
        prices_include_tax=True,
        lines=lines,
        total=sum((line.unit_price for line in lines), Decimal(0)),
        paid=True,
        customer=Customer(name="Dana"),
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def line(rate: int | None, taxable: bool = True) -> Line:
    return Line(
        description="Mug",
        quantity=Decimal(1),
        unit_price=Decimal(100),
        tax_rate=None if rate is None else Decimal(rate),
        taxable=taxable,
    )


def test_a_refund_of_an_exempt_order_carries_no_vat() -> None:
    """Before: one taxable line at the default 18 %, 7.63 VAT on an exempt sale."""
    [refunded] = credit_note_order(order(line(None, taxable=False)), REFUND).lines
    assert not refunded.taxable
    assert shop_vat(credit_note_order(order(line(None, taxable=False)), REFUND)) == {}


def test_a_refund_takes_the_orders_one_rate() -> None:
    note = credit_note_order(order(line(17), line(17), line(None, taxable=False)), REFUND)
    assert note.lines[0].tax_rate == Decimal(17)
    assert shop_vat(note) == {Decimal(17): Decimal("7.26")}


def test_a_refund_of_an_order_with_several_rates_stops_for_a_human() -> None:
    with pytest.raises(NeedsAttention) as stopped:
        credit_note_order(order(line(17), line(8)), REFUND)
    assert stopped.value.reason == "refund_rate_unknown"
