"""The iCount sandbox's rounding rules (`sandboxes.icount.rounding`) on raw bodies, and the
worker's VAT check (`vat_check`) beside them: golden cases where the rules part ways."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sandboxes.icount.rounding import ROUNDINGS, RULES, document_totals
from sandboxes.icount.rules import Refusal, check_document
from tests.orders import order_one
from worker.domain.events import Line, Order
from worker.providers.icount import vat_check
from worker.providers.icount.vat_check import (
    VatDifference,
    compare_vat,
    predicted_vat,
    shop_vat,
    vat_differences,
)

D = Decimal
ROOT = Path(__file__).resolve().parents[2]


def items(*parts: tuple[Any, str, Any], **fields: Any) -> list[dict[str, Any]]:
    """Items from (quantity, price key, price) plus the same extra `fields` on each."""
    return [{"description": "x", "quantity": q, key: price, **fields} for q, key, price in parts]


# --- the rules part ways ------------------------------------------------------------------

PINS = {"items": items(*[(1, "unitprice_incvat", "0.10")] * 3), "vat_percent": "17"}
NETS = {"items": items(*[(1, "unitprice", "10.03")] * 3), "vat_percent": "17"}


@pytest.mark.parametrize(
    ("body", "rule", "total", "vat"),
    [
        (PINS, "exact_sum", "0.30", "0.04"),  # 0.30 × 17/117 = 0.0436
        (PINS, "per_line", "0.30", "0.03"),  # 3 × round(0.01453)
        (PINS, "per_rate", "0.30", "0.03"),  # nets 3 × 0.09, the VAT the rest
        (NETS, "exact_sum", "35.21", "5.12"),  # 30.09 × 0.17 = 5.1153
        (NETS, "per_line", "35.22", "5.13"),  # 3 × 1.71
        (NETS, "per_rate", "35.21", "5.12"),
    ],
)
def test_each_rule_on_gross_and_net_items(
    body: dict[str, Any], rule: vat_check.RoundingRule, total: str, vat: str
) -> None:
    """Gross items keep their gross under every rule, only the VAT moves; VAT added to
    net items moves the total. The worker's prediction is the sandbox's VAT."""
    totals = document_totals(body, "ILS", rule)
    assert (totals.total, totals.vat, totals.net) == (D(total), D(vat), D(total) - D(vat))
    assert predicted_vat(body, "ILS", rule) == {D(17): D(vat)} == dict(totals.vat_by_rate)


@pytest.mark.parametrize(
    ("rule", "rounding", "vat"),
    [
        ("per_line", "half_up", "0.01"),  # 0.03 × 20/120 = 0.005
        ("per_line", "half_even", "0.00"),
        ("per_rate", "half_up", "0.00"),  # net 0.025 → 0.03
        ("per_rate", "half_even", "0.01"),  # net 0.025 → 0.02
        ("exact_sum", "half_up", "0.01"),
    ],
)
def test_ties_follow_the_rounding(
    rule: vat_check.RoundingRule, rounding: vat_check.Rounding, vat: str
) -> None:
    """At 20 % a gross of 0.03 holds exactly half a cent of VAT."""
    body = {"items": items((1, "unitprice_incvat", "0.03")), "vat_percent": "20"}
    totals = document_totals(body, "ILS", rule, rounding)
    assert (totals.total, totals.vat) == (D("0.03"), D(vat))
    assert predicted_vat(body, "ILS", rule, rounding) == {D(20): D(vat)}


# --- documented fields we no longer send are still honoured ------------------------------


RAW = items((2, "unitprice", "10")) + items((1, "unitprice", "5.00"), tax_exempt=True)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize(
    ("body", "total"),
    [
        ({"items": RAW}, "28.60"),  # 20 + 18 % (no vat_percent) + 5 exempt
        ({"items": RAW, "tax_exempt": 1}, "25.00"),
        ({"items": RAW, "vat_percent": "17", "discount": "2", "roundup": "-0.01"}, "26.05"),
        ({"items": items((3, "unitprice_incvat", 0.1)), "discount_incvat": "0.05"}, "0.25"),
        ({"items": items((1, "unitprice_exempt", "7.00")), "vat_percent": "17"}, "7.00"),
    ],
)
def test_documented_fields(body: dict[str, Any], total: str, rule: vat_check.RoundingRule) -> None:
    """Numbers or strings; item and document `tax_exempt`, `unitprice_exempt`; 18 % by
    default; `discount` off the net, `discount_incvat` off the gross; `roundup` as is."""
    assert document_totals(body, "ILS", rule).total == D(total)


def test_item_taxes_override_the_document_rate() -> None:
    """An item's `taxes` rates (summed) are its rate; other items take `vat_percent`."""
    body = {
        "vat_percent": "17",
        "items": items((1, "unitprice_incvat", "118.00"), taxes={"3": 18})
        + items((1, "unitprice_incvat", "117.00")),
    }
    totals = document_totals(body, "ILS")
    assert dict(totals.vat_by_rate) == {D(18): D(18), D(17): D(17)}
    assert (totals.total, totals.vat_percent) == (D("235.00"), D(17))


@pytest.mark.parametrize("taxes", [{"3": 101}, {"vat": 18}, [18], {"3": "x"}, {"3": 60, "4": 60}])
def test_malformed_taxes_are_refused(taxes: object) -> None:
    """`taxes` must map tax type ids to rates within 0–100: bad_taxes."""
    body = {
        "doctype": "invoice",
        "client_name": "Dana",
        "items": items((1, "unitprice_incvat", "1.00"), taxes=taxes),
    }
    with pytest.raises(Refusal) as caught:
        check_document(body)
    assert caught.value.reason == "bad_taxes"


def test_the_sandbox_rule_shares_no_code_with_the_builder() -> None:
    """`rounding` imports only the worker's money helpers, never the provider package."""
    tree = ast.parse((ROOT / "sandboxes/icount/rounding.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name and name.startswith("worker.providers")}
    assert (vat_check.ROUNDING_RULES, vat_check.ROUNDINGS) == (RULES, ROUNDINGS)


# --- the shop's VAT -----------------------------------------------------------------------


def order(lines: list[Line], *, inclusive: bool) -> Order:
    return order_one(lines, inclusive=inclusive)


def line(price: str, rate: int | None, **fields: Any) -> Line:
    return Line.model_validate(
        {"description": "x", "quantity": 1, "unit_price": price, "tax_rate": rate, **fields}
    )


def test_shop_vat_sums_line_taxes_and_derives_the_missing_ones() -> None:
    """Σ tax per rate; a taxable line without tax gets it derived half-up (added to a net,
    extracted from a gross); exempt and 0 % lines count nowhere."""
    lines = [
        line("10.03", 17, tax=D("1.71")),
        line("10.03", 17),
        line("5.00", 18, taxable=False),
        line("7.00", 0),
        line("100.00", None),
    ]
    assert shop_vat(order(lines, inclusive=False)) == {D(17): D("3.42"), D(18): D(18)}
    assert shop_vat(order(lines[1:2], inclusive=True)) == {D(17): D("1.46")}  # 10.03 × 17/117


def test_vat_differences_name_each_rate_with_both_amounts() -> None:
    """The shop charged 5.13 (per line); a document under exact_sum shows 5.12."""
    shop = order([line("10.03", 17, tax=D("1.71"))] * 3, inclusive=False)
    body = {"items": items(*[(1, "unitprice_incvat", "11.74")] * 3), "vat_percent": "17"}
    assert vat_differences(shop, body, "per_line") == ()
    (difference,) = vat_differences(shop, body, "exact_sum")
    assert difference == VatDifference(D(17), shop=D("5.13"), document=D("5.12"))
    assert difference.difference == D("-0.01")
    assert compare_vat({D(17): D(1)}, {D(18): D(1)}) == (
        VatDifference(D(17), D(1), D(0)),
        VatDifference(D(18), D(0), D(1)),
    )


def test_predicted_vat_refuses_what_it_does_not_model() -> None:
    """A document discount is not something the builder sends, nor the check models."""
    with pytest.raises(ValueError):
        predicted_vat({"items": RAW, "discount": "1"}, "ILS", "per_line")
