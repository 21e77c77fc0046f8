"""Our orders as iCash operations: sale items per VAT rate, resuming, pay types, contragents,
and the check of the document iCash made."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicebridge.stack.config import SANDBOX_ICASH
from tests.orders import mugs_and_shipping, order_of
from tests.payments import BANK_TRANSFER, CARD, PAYPAL
from worker.domain.events import Customer, Line, Order, Payment
from worker.errors import DocumentNeedsAttention, NeedsAttention, Permanent, TotalMismatch
from worker.providers.base import DocumentRef
from worker.providers.icash.sale import (
    SaleItem,
    check_document,
    contragent_fields,
    document_ref,
    items_added,
    needs_contragent,
    pay_type,
    sale_items,
    same_contragent,
)
from worker.settings import DocumentSettings, ICashSettings

DOCS = DocumentSettings(default_vat_percent=Decimal(20))
ICASH = ICashSettings(api_key="k", secret_key="s", warehouse_id=1, user_id=1, **SANDBOX_ICASH)
D = Decimal


def make_order(lines: list[Line], total: str, *, inclusive: bool = True, **extra: Any) -> Order:
    return order_of(
        lines,
        total,
        currency=extra.pop("currency", "EUR"),
        prices_include_tax=inclusive,
        customer=Customer(name="Dana Ivanova", **extra.pop("customer", {})),
        created_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        **extra,
    )


def mug_order(total: str = "117.00") -> Order:
    """2 mugs at 48.50 with 5.00 off (20 %), and 25.00 shipping at 9 %: 117.00 gross."""
    return make_order(list(mugs_and_shipping(20, 9)), total)


def test_each_line_is_its_rates_catalogue_item_at_its_gross() -> None:
    """The mugs (92.00 after the discount, 46.00 each) as item 101 at 20 %, the shipping
    as item 102 at 9 %: amounts adding up to the shop's total exactly."""
    items = sale_items(mug_order(), DOCS, ICASH)
    assert items == [SaleItem(101, D(2), D(46), D(20)), SaleItem(102, D(1), D(25), D(9))]
    assert sum(item.amount for item in items) == D("117.00")
    assert items[0].fields(7) == {
        "OperationID": 7,
        "SaleItemID": 101,
        "Qty": "2",
        "SaleItemSinglePrice": "46",
    }


def test_an_uneven_line_goes_as_one_item_at_its_gross() -> None:
    """3 × 10.00 less 0.01: 29.99 does not divide by 3, so quantity 1 at 29.99."""
    line = Line(description="Tea", quantity=D(3), unit_price=D(10), discount=D("0.01"))
    [item] = sale_items(make_order([line], "29.99"), DOCS, ICASH)
    assert (item.qty, item.price) == (D(1), D("29.99"))


def test_vat_exclusive_lines_carry_the_shops_own_tax() -> None:
    """A net 10.00 line taxed 2.00 by the shop is sold at 12.00 gross."""
    line = Line(description="Cap", quantity=D(1), unit_price=D(10), tax=D(2), tax_rate=D(20))
    [item] = sale_items(make_order([line], "12.00", inclusive=False), DOCS, ICASH)
    assert item.amount == D("12.00")


def test_rounding_goes_on_the_zero_rate_item_and_zero_lines_are_left_out() -> None:
    """A shop total a cent above its lines gets a 0.01 item at the 0 % catalogue item; a
    free line is not sent."""
    lines = [
        Line(description="Mug", quantity=D(1), unit_price=D(10), tax_rate=D(20)),
        Line(description="Gift", quantity=D(1), unit_price=D(0), tax_rate=D(20)),
    ]
    items = sale_items(make_order(lines, "10.01"), DOCS, ICASH)
    assert items == [SaleItem(101, D(1), D(10), D(20)), SaleItem(103, D(1), D("0.01"), D(0))]


def test_a_total_below_the_lines_comes_off_the_largest_item() -> None:
    """The shop rounded 0.01 down: the larger line goes as quantity 1 at its gross less it."""
    lines = [
        Line(description="Mug", quantity=D(2), unit_price=D(10), tax_rate=D(20)),
        Line(description="Tea", quantity=D(1), unit_price=D(5), tax_rate=D(9)),
    ]
    items = sale_items(make_order(lines, "24.99"), DOCS, ICASH)
    assert items == [SaleItem(101, D(1), D("19.99"), D(20)), SaleItem(102, D(1), D(5), D(9))]


@pytest.mark.parametrize(
    ("order", "error", "reason"),
    [
        (
            make_order(
                [Line(description="Wine", quantity=D(1), unit_price=D(10), tax_rate=D(5))], "10.00"
            ),
            NeedsAttention,
            "no_sale_item_for_rate",
        ),
        (
            make_order([Line(description="M", quantity=D(1), unit_price=D("0.03"))], "0.00"),
            NeedsAttention,
            "negative_rounding",
        ),
        (
            make_order(
                [Line(description="M", quantity=D(1), unit_price=D(10))], "10.000", currency="BHD"
            ),
            Permanent,
            "unsupported_amount",
        ),
        (
            make_order([Line(description="M", quantity=D(1), unit_price=D(10))], "14.00"),
            TotalMismatch,
            "total_mismatch",
        ),
    ],
)
def test_what_an_operation_cannot_carry_stops(
    order: Order, error: type[Exception], reason: str
) -> None:
    """A rate with no catalogue item, a total below the lines, a 3-decimal currency, a
    total far from the lines: each stops with its reason, before anything is sent."""
    with pytest.raises(error) as raised:
        sale_items(order, DOCS, ICASH)
    assert getattr(raised.value, "reason", None) == reason


amounts = st.decimals(min_value=D("0.01"), max_value=D(5000), places=2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 7), amounts, st.sampled_from([D(20), D(9), D(0)])),
        min_size=1,
        max_size=20,
    )
)
def test_any_vat_inclusive_order_is_sold_for_exactly_its_total(
    specs: list[tuple[int, Decimal, Decimal]],
) -> None:
    """Items of positive amounts with at most 2 places, in line order, adding to the total;
    resuming after any prefix of them finds exactly that prefix."""
    lines = [
        Line(description=f"L{i}", quantity=D(q), unit_price=price, tax_rate=rate)
        for i, (q, price, rate) in enumerate(specs)
    ]
    total = sum((D(q) * price for q, price, _ in specs), D(0))
    items = sale_items(make_order(lines, f"{total}"), DOCS, ICASH)
    assert sum(item.amount for item in items) == total
    assert all(item.amount > 0 and item.price == item.price.quantize(D("0.01")) for item in items)
    running = D(0)
    for count, item in enumerate(items):
        assert items_added(items, running) == count
        running += item.amount
    assert items_added(items, running) == len(items)


def test_an_operation_holding_something_else_is_not_finished() -> None:
    """An OperationPrice no prefix of our items makes: needs_attention, nothing printed."""
    items = [SaleItem(101, D(1), D(10), D(20)), SaleItem(101, D(1), D(5), D(20))]
    with pytest.raises(NeedsAttention) as raised:
        items_added(items, D(12))
    assert raised.value.reason == "operation_unexplained"


@pytest.mark.parametrize(
    ("payment", "method", "expected"),
    [
        (CARD, "cc", 2),
        (PAYPAL, "cc", 2),
        (BANK_TRANSFER, "cc", 4),
        (None, "cash", 1),
        (None, "cc", 2),
    ],
)
def test_pay_type_follows_how_the_order_was_paid(
    payment: Payment | None, method: str, expected: int
) -> None:
    """The platform's payment kind, else the tenant's payment_method, through pay_types."""
    order = mug_order().model_copy(update={"payment": payment})
    documents = DOCS.model_copy(update={"payment_method": method})
    assert pay_type(order, documents, ICASH) == expected


def test_an_unmapped_pay_type_stops() -> None:
    icash = ICASH.model_copy(update={"pay_types": {"cash": 1}})
    with pytest.raises(NeedsAttention) as raised:
        pay_type(mug_order().model_copy(update={"payment": CARD}), DOCS, icash)
    assert raised.value.reason == "pay_type_unmapped"


def test_business_customers_become_contragents_and_consumers_do_not() -> None:
    """A company with an EU VAT id: VAT registered, tax number without the prefix."""
    company = Customer(
        name="Ivan Petrov",
        company="Acme OOD",
        vat_id=" bg131047312 ",
        city="Sofia",
        country="BG",
        email="ivan@acme.example",
    )
    fields = contragent_fields(company, "BG")
    assert fields == {
        "ContragentName": "Acme OOD",
        "ContragentType": "CLIENT",
        "ContragentCountryCode": "BG",
        "ContragentCityName": "Sofia",
        "ContragentTaxNum": "131047312",
        "ContragentVatRegistered": 1,
        "ContragentVatNum": "BG131047312",
        "ContragentMOL": "Ivan Petrov",
        "ContragentEmail": "ivan@acme.example",
    }
    assert same_contragent({"ContragentName": "ACME ood", "ContragentTaxNum": "131047312"}, fields)
    assert not same_contragent({"ContragentName": "Acme OOD", "ContragentTaxNum": "1"}, fields)
    assert needs_contragent(company)
    assert not needs_contragent(Customer(name="Dana Ivanova"))


def test_document_ref_reads_total_vat_and_credit_notes() -> None:
    """Seed 003's example: base 20.00, total 24.00 → VAT 4.00; a CREDIT subtype is CREDIT."""
    row = {
        "DocumentID": 9,
        "DocumentNum": 1000000123,
        "DocumentType": "INVOICE",
        "DocumentSubType": "CREDIT",
        "DocumentTotalPrice": "24.00",
        "DocumentPriceBase": "20.00",
    }
    assert document_ref(row) == DocumentRef(
        doctype="CREDIT", docnum="1000000123", doc_id="9", total=D("24.00"), vat=D("4.00")
    )


def mug_document(**changes: Any) -> dict[str, Any]:
    """The mug order's document as get-document shows it: net lines per rate (92.00 at 20 %
    → 76.67 net, 25.00 at 9 % → 22.94 net), base 99.61, total 117.00 (VAT 17.39)."""
    document: dict[str, Any] = {
        "DocumentID": 1,
        "DocumentNum": 1000000001,
        "DocumentType": "INVOICE",
        "DocumentSubType": "NORMAL",
        "DocumentCurrencyCode": "EUR",
        "DocumentPriceBase": "99.61",
        "DocumentTotalPrice": "117.00",
        "DocumentServices": [
            {"DocumentServiceVatPercent": "20", "DocumentServiceTotalPrice": "76.67"},
            {"DocumentServiceVatPercent": "9", "DocumentServiceTotalPrice": "22.94"},
        ],
    }
    return {**document, **changes}


def test_a_document_is_checked_for_currency_total_and_vat_per_rate() -> None:
    """The mug order charged 15.33 at 20 % and 2.06 at 9 %: its document passes; one that
    differs in currency, total or VAT stops carrying the document, even when two rates'
    differences cancel out in the sum."""
    order, items = mug_order(), sale_items(mug_order(), DOCS, ICASH)
    ref = check_document(order, DOCS, mug_document(), items)
    assert (ref.total, ref.vat, ref.docnum) == (D("117.00"), D("17.39"), "1000000001")
    cancelling = [
        {"DocumentServiceVatPercent": "20", "DocumentServiceTotalPrice": "76.66"},
        {"DocumentServiceVatPercent": "9", "DocumentServiceTotalPrice": "22.95"},
    ]
    for changes, reason in (
        ({"DocumentPriceBase": "99.60"}, "document_vat_differs"),
        ({"DocumentServices": cancelling}, "document_vat_differs"),
        ({"DocumentTotalPrice": "117.01"}, "document_total_differs"),
        ({"DocumentCurrencyCode": "BGN"}, "document_currency_differs"),
        ({"DocumentPriceBase": None}, "document_unreadable"),
    ):
        with pytest.raises(DocumentNeedsAttention) as raised:
            check_document(order, DOCS, mug_document(**changes), items)
        assert raised.value.reason == reason
        assert isinstance(raised.value.document, DocumentRef)


def test_an_order_in_another_currency_or_of_nothing_stops_before_anything_is_sent() -> None:
    """The account sells in EUR: a BGN order stops; so does an order that comes to 0."""
    with pytest.raises(NeedsAttention) as other:
        sale_items(mug_order().model_copy(update={"currency": "BGN"}), DOCS, ICASH)
    assert other.value.reason == "currency_unsupported"
    free = make_order([Line(description="Gift", quantity=D(1), unit_price=D(0))], "0.00")
    with pytest.raises(NeedsAttention) as nothing:
        sale_items(free, DOCS, ICASH)
    assert nothing.value.reason == "nothing_to_sell"
