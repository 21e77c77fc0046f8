"""Shopify `tax_lines` (#18): an empty list is a line charged no tax; only a missing key falls
back to the order's tax. Fixture: a published 2020 test order (tests/fixtures/shopify/SOURCE.md)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handlers.sources import shopify
from invoicebridge.samples import shopify as samples
from worker.domain import vat
from worker.domain.events import Order
from worker.providers.icount.totals import money_fields
from worker.settings import DocumentSettings

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"
UNTAXED_SHIPPING = "orders_create_aud_untaxed_shipping.json"
SECRET = "shpss_test_0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def load() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURE / UNTAXED_SHIPPING).read_bytes())
    return payload


def parse(payload: dict[str, Any]) -> Order:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = samples.headers_for(body, topic="orders/create", secret=SECRET, event_id="1")
    order = shopify.parse(body, headers).order
    assert order is not None
    return order


def test_empty_tax_lines_on_shipping_is_untaxed() -> None:
    """Given the AUD order (10 % GST on the pen, shipping with `tax_lines: []`), the shipping
    line is untaxed, and no rate is added to it: the lines make the shop's 59.45."""
    order = parse(load())
    pen, shipping = order.lines
    assert (pen.taxable, pen.tax, pen.tax_rate) == (True, Decimal("4.50"), Decimal("10.0"))
    assert (shipping.kind, shipping.taxable, shipping.tax) == ("shipping", False, Decimal(0))
    for default in (Decimal(18), Decimal(20), Decimal(21)):  # whatever the tenant's default
        grosses = [gross for _, gross in vat.gross_lines(order, default)]
        assert sum(grosses, Decimal(0)) == order.total == Decimal("59.45")


def test_empty_tax_lines_keep_the_icount_document_at_the_shop_total() -> None:
    """The iCount body of that order: the pen at 10 % and the shipping exempt, no rounding."""
    fields = money_fields(parse(load()), DocumentSettings())
    items: Any = fields["items"]
    assert [item.get("tax_exempt", False) for item in items] == [False, True]
    assert [item.get("unitprice_incvat") or item.get("unitprice") for item in items] == [
        "49.45",
        "10.00",
    ]
    assert fields["vat_percent"] == "10"


@pytest.mark.parametrize("where", ["line_items", "shipping_lines"])
def test_missing_tax_lines_key_still_falls_back_to_the_order(where: str) -> None:
    """Only a line without the key at all (minimal payloads) is taxable when the order is."""
    payload = load()
    del payload[where][0]["tax_lines"]
    line = parse(payload).lines[0 if where == "line_items" else 1]
    assert (line.taxable, line.tax, line.tax_rate) == (True, Decimal(0), None)


def test_empty_tax_lines_on_a_taxable_item_is_untaxed() -> None:
    """A `taxable` product with `tax_lines: []` (an exempt customer) was charged no tax."""
    payload = load()
    payload["line_items"][0]["tax_lines"] = []
    payload["shipping_lines"][0]["tax_lines"] = [
        {"title": "GST", "price": "1.00", "rate": 0.1, "price_set": None}
    ]
    payload.update(total_tax="1.00", total_price="55.95")
    pen, shipping = parse(payload).lines
    assert (pen.taxable, pen.tax) == (False, Decimal(0))
    assert (shipping.taxable, shipping.tax, shipping.tax_rate) == (True, Decimal(1), Decimal(10))
