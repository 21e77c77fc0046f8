"""iCount items whose total needs no rounding: splitting, exempt lines, discounts, the
"Rounding" item, VAT rates and tax types (`worker.providers.icount.totals`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from sandboxes.icount.rounding import RULES, document_totals
from tests.orders import order_one
from worker.domain.events import Line, Order
from worker.errors import NeedsAttention, TotalMismatch
from worker.providers.icount.totals import arrange, money_fields
from worker.providers.icount.wire import build_document_request
from worker.settings import DocumentSettings

D = Decimal
DOCS = DocumentSettings()
TYPED = DocumentSettings(icount_tax_types={"17": 1, "18": 2})


def order(lines: list[Line], total: str, *, inclusive: bool = True, currency: str = "ILS") -> Order:
    return order_one(lines, total, inclusive=inclusive, currency=currency)


def line(price: str, quantity: str = "1", rate: int | str | None = 18, **kwargs: Any) -> Line:
    fields = {
        "description": "Mug",
        "quantity": D(quantity),
        "unit_price": D(price),
        "tax_rate": rate,
        **kwargs,
    }
    return Line.model_validate(fields)


def items(shop: Order, documents: DocumentSettings = DOCS) -> list[dict[str, Any]]:
    built = money_fields(shop, documents)["items"]
    assert isinstance(built, list)
    return built


# --- quantities -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gross", "quantity", "currency", "expected"),
    [
        ("30.00", "3", "ILS", ((3, "10.00"),)),  # divides evenly
        ("98", "7", "JPY", ((7, "14"),)),
        ("1.002", "3", "KWD", ((3, "0.334"),)),
        ("0.00", "5", "ILS", ((5, "0.00"),)),  # a free line
        ("7.99", "1", "ILS", ((1, "7.99"),)),
    ],
)
def test_arrange_makes_every_product_exact(
    gross: str, quantity: str, currency: str, expected: tuple[tuple[int, str], ...]
) -> None:
    """Whole quantities go as one item of q × g/q when g/q is exact."""
    arranged = arrange(D(gross), D(quantity), currency)
    assert arranged == tuple((count, D(price)) for count, price in expected)
    assert sum(count * price for count, price in arranged) == D(gross)


@pytest.mark.parametrize(
    ("gross", "quantity", "currency"),
    [
        ("18.00", "1.5", "ILS"),
        ("0.05", "10", "ILS"),
        ("2", "3", "JPY"),
        ("10.00", "3", "ILS"),
        ("100", "7", "JPY"),
        ("1.000", "3", "KWD"),
    ],
)
def test_arrange_gives_up_unless_pieces_divide_the_line(
    gross: str, quantity: str, currency: str
) -> None:
    """A fractional quantity, or a gross whole pieces do not divide, is one item (None):
    split in two, the items' VAT could differ from the shop's for the line."""
    assert arrange(D(gross), D(quantity), currency) is None


def test_an_undivided_line_keeps_quantity_sku_and_discount_note() -> None:
    """A line whose pieces do not divide its gross is one item: the quantity and unit
    price in the description, the sku and the discount kept."""
    shop = order([line("5.00", "3", sku="M-1", discount=D("5.00"))], "10.00")
    assert items(shop) == [
        {
            "description": "Mug (3 × 5.00)",
            "quantity": 1,
            "unitprice_incvat": "10.00",
            "sku": "M-1",
            "long_description": "discount 5.00",
        },
    ]


def test_a_fractional_quantity_is_one_item_with_the_quantity_in_words() -> None:
    """1.5 kg at 12.00 net + 3.06 VAT goes as 1 × 21.06, "Cheese (1.5 × 12.00)"."""
    cheese = line("12.00", "1.5", 17, tax=D("3.06"))
    cheese = cheese.model_copy(update={"description": "Cheese"})
    assert items(order([cheese], "21.06", inclusive=False)) == [
        {"description": "Cheese (1.5 × 12.00)", "quantity": 1, "unitprice_incvat": "21.06"}
    ]


# --- VAT-exclusive shops, exempt lines, discounts ---------------------------------------


def test_vat_exclusive_lines_go_out_at_the_shops_gross() -> None:
    """Net − discount + the shop's tax, as unitprice_incvat; vat_percent once."""
    shop = order(
        [line("10.03", rate=17, tax=D("1.71")), line("15.00", rate=17, discount=D(5))],
        "23.44",
        inclusive=False,
    )
    built = items(shop)
    assert [(i["quantity"], i["unitprice_incvat"]) for i in built] == [(1, "11.74"), (1, "11.70")]
    assert built[1]["long_description"] == "discount 5.00"  # its tax, 1.70, derived: none given
    assert money_fields(shop, DOCS)["vat_percent"] == "17"


def test_exempt_and_zero_rated_lines_are_tax_exempt_items_at_their_gross() -> None:
    """`taxable` false or a 0 % rate: `tax_exempt` with `unitprice`; one taxable rate."""
    lines = [
        line("100.00", tax=D(18)),
        line("30.00", rate=0),
        line("20.00", discount=D(5), taxable=False),
    ]
    shop = order(lines, "163.00", inclusive=False)
    built = money_fields(shop, DOCS)
    assert built["items"] == [
        {"description": "Mug", "quantity": 1, "unitprice_incvat": "118.00"},
        {"description": "Mug", "quantity": 1, "unitprice": "30.00", "tax_exempt": True},
        {
            "description": "Mug",
            "quantity": 1,
            "unitprice": "15.00",
            "tax_exempt": True,
            "long_description": "discount 5.00",
        },
    ]
    assert built["vat_percent"] == "18"


def test_no_roundup_no_document_discount_no_item_rate_and_no_negative_items() -> None:
    """The fields whose semantics are guesses are never sent."""
    shop = order([line("50.00", "2", 17, discount=D(10)), line("59.00")], "149.00")
    body = build_document_request(
        shop, doctype="invoice", documents=TYPED, sanity="ib-1", issue_date=date(2024, 5, 1)
    )
    assert not {"roundup", "discount", "discount_incvat", "vat_percent"} & set(body)
    built: list[dict[str, Any]] = body["items"]  # type: ignore[assignment]
    assert all("vat_percent" not in item for item in built)
    assert all(D(item["unitprice_incvat"]) >= 0 for item in built)


def test_a_line_discounted_below_zero_needs_attention() -> None:
    """iCount would need a negative item; we stop instead."""
    with pytest.raises(NeedsAttention) as caught:
        money_fields(order([line("5.00", discount=D(6))], "0"), DOCS)
    assert caught.value.reason == "negative_line"


# --- the shop's own rounding ----------------------------------------------------------------


@pytest.mark.parametrize(("total", "rounding"), [("100.03", "0.03"), ("99.96", "-0.04")])
def test_the_shops_own_rounding_is_a_tax_exempt_rounding_item(total: str, rounding: str) -> None:
    """Within max_rounding the difference rides on "Rounding", of either sign; every rule
    totals to the shop's total."""
    shop = order([line("100.00")], total)
    built = items(shop)
    assert built[-1] == {
        "description": "Rounding",
        "quantity": 1,
        "unitprice": rounding,
        "tax_exempt": True,
    }
    body = {"items": built, "vat_percent": "18"}
    assert {document_totals(body, "ILS", rule).total for rule in RULES} == {D(total)}


def test_no_rounding_item_when_the_lines_add_up() -> None:
    """An order whose total is its lines' sum has no Rounding item."""
    assert [item["description"] for item in items(order([line("100.00")], "100.00"))] == ["Mug"]


def test_beyond_max_rounding_is_a_total_mismatch() -> None:
    """A shop total further from its lines than max_rounding is refused, naming both."""
    with pytest.raises(TotalMismatch) as caught:
        items(order([line("100.00")], "100.06"))
    assert "100.06" in str(caught.value) and "100.00" in str(caught.value)


# --- VAT rates and tax types ------------------------------------------------------------


def test_several_rates_go_as_item_taxes_by_tax_type() -> None:
    """Lines at 17 % and 18 %: each item `taxes` {type id: rate}; exempt lines stay exempt;
    no document vat_percent."""
    shop = order(
        [line("117.00", rate=17), line("59.00", "2"), line("5.00", taxable=False)], "240.00"
    )
    assert "vat_percent" not in money_fields(shop, TYPED)
    shown = [(i.get("taxes"), i.get("tax_exempt", False)) for i in items(shop, TYPED)]
    assert shown == [({"1": "17"}, False), ({"2": "18"}, False), (None, True)]


def test_a_rate_without_a_tax_type_needs_attention() -> None:
    """Several rates and one not mapped: NeedsAttention `vat_rate_unmapped`, naming it."""
    shop = order([line("117.00", rate=17), line("105.00", rate=5)], "222.00")
    with pytest.raises(NeedsAttention) as caught:
        money_fields(shop, TYPED)
    assert caught.value.reason == "vat_rate_unmapped"
    assert "5 %" in str(caught.value) and "17" not in str(caught.value)


def test_one_rate_needs_no_tax_type() -> None:
    """A single taxable rate (plus exempt lines) is the document's vat_percent."""
    shop = order([line("107.70", rate="7.7"), line("1.00", taxable=False)], "108.70")
    assert money_fields(shop, DOCS)["vat_percent"] == "7.7"


def test_tax_types_setting_reads_rates_as_percents() -> None:
    """Keys are rates in percent: "18" and "7.7" are fine, "abc", "0", "18.0" beside "18" not."""
    assert DocumentSettings(icount_tax_types={"7.7": 3}).icount_tax_types == {"7.7": 3}
    for bad in ({"abc": 1}, {"0": 1}, {"101": 1}, {"18": 1, "18.0": 2}):
        with pytest.raises(pydantic.ValidationError):
            DocumentSettings(icount_tax_types=bad)


def test_mixed_rates_golden_case() -> None:
    """A VAT-exclusive order at 17 %, 0 %, exempt and 18 %: discounts inside each line's
    gross, 0 % and exempt lines exempt, taxable lines under their tax type; every rule
    totals 168.00 and shows the shop's 15.30 + 2.70 of VAT."""
    lines = [
        Line(
            description="Lamp",
            quantity=D(2),
            unit_price=D(50),
            discount=D(10),
            tax=D("15.30"),
            tax_rate=D(17),
        ),
        Line(description="Book", quantity=D(1), unit_price=D(30), tax_rate=D(0)),
        Line(description="Card", quantity=D(1), unit_price=D(20), discount=D(5), taxable=False),
        Line(description="Post", quantity=D(1), unit_price=D(15), tax=D("2.70"), tax_rate=D(18)),
    ]
    shop = order(lines, "168.00", inclusive=False)
    built = items(shop, TYPED)
    shown = [
        (
            i["description"],
            i["quantity"],
            i.get("unitprice_incvat") or i["unitprice"],
            i.get("taxes", "exempt"),
        )
        for i in built
    ]
    assert shown == [
        ("Lamp", 2, "52.65", {"1": "17"}),
        ("Book", 1, "30.00", "exempt"),
        ("Card", 1, "15.00", "exempt"),
        ("Post", 1, "17.70", {"2": "18"}),
    ]
    body = {"items": built}
    for rule in RULES:
        totals = document_totals(body, "ILS", rule)
        assert (totals.total, dict(totals.vat_by_rate)) == (
            D("168.00"),
            {D(17): D("15.30"), D(18): D("2.70")},
        )
