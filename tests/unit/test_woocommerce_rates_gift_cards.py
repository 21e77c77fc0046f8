"""WooCommerce (#18): a line's VAT percent when its tax lines name none (before 5.7), and gift
cards as a means of payment. Fixtures and their sources: tests/fixtures/woocommerce/SOURCE.md."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from handlers.errors import InvalidPayload
from handlers.sources import woocommerce
from handlers.sources.woocommerce_wire import derived_rate
from invoicebridge.samples import woocommerce as samples
from worker.domain import vat
from worker.domain.events import ChargeRequest, Order
from worker.providers.icount.totals import money_fields
from worker.settings import DocumentSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce"
PRE_57 = "order_created_pre57_no_rate_percent.json"
GIFT_CARD = "order_updated_gift_card_partial.json"
SECRET = "wc_whsec_test"
D = Decimal


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_bytes())
    return payload


def parse(payload: dict[str, Any], topic: str = "order.updated") -> Order:
    body = json.dumps(payload, ensure_ascii=False).encode()
    order = woocommerce.parse(body, samples.headers_for(body, topic=topic, secret=SECRET)).order
    assert order is not None
    return order


# --- rates before WooCommerce 5.7 ----------------------------------------------------------


def test_rates_without_rate_percent_come_from_the_lines() -> None:
    """The REST docs' order 727 (no `rate_percent`: 0.45 on 6.00, 0.90 on 12.00) is at
    7.5 %, not the tenant's default; its shipping, with no tax, is untaxed."""
    order = parse(load(PRE_57), "order.created")
    first, second, shipping = order.lines
    assert (first.tax_rate, second.tax_rate) == (D("7.5"), D("7.5"))
    assert (shipping.kind, shipping.taxable, shipping.tax_rate) == ("shipping", False, None)
    assert vat.vat_by_rate(order, D(18)) == {D("7.5"): D("1.35")} == {D("7.5"): order.total_tax}
    fields = money_fields(order, DocumentSettings())  # default 18 %: not used
    assert fields["vat_percent"] == "7.5"


@pytest.mark.parametrize(
    ("net", "tax", "rate"),
    [
        ("6.00", "0.45", "7.5"),  # the docs' order 727
        ("12.00", "0.90", "7.5"),
        ("100.00", "18.00", "18"),  # whole percents come out whole
        ("1000.00", "88.75", "8.875"),  # New York City: three places
        ("100.00", "8.88", "8.88"),  # 8.875 % on 100.00: 8.88 gives 8.88 back, and is coarser
        ("3.00", "1.00", "33.3"),  # 33.3 % of 3.00 is 0.999: 1.00 to the cent
        ("10.00", "0", None),  # no tax: untaxed
        ("0", "1.00", None),  # no net to divide by
        ("1.00", "1.50", None),  # over 100 %: no rate gives it back
    ],
)
def test_derived_rate_rule(net: str, tax: str, rate: str | None) -> None:
    """tax ÷ net × 100 at the fewest places (0-3) that give the tax back to the cent."""
    assert derived_rate(D(net), D(tax), "USD") == (None if rate is None else D(rate))


def test_rate_percent_when_present_is_still_used() -> None:
    """WooCommerce 5.7+ names the rate: it is taken as it is (20 in the gift-card order)."""
    order = parse(load(GIFT_CARD))
    assert order.lines[0].tax_rate == D(20)


# --- gift cards --------------------------------------------------------------------------


def test_a_gift_card_pays_part_of_the_sale() -> None:
    """A 28.00 sale (2 × 10.00 + 20 % VAT, 4.00 untaxed shipping), 24.00 of it by gift card,
    WooCommerce's `total` 4.00: the order is the sale, paid 24.00 by gift card and 4.00 by
    the card gateway; its lines make its total, so nothing stops on a mismatch."""
    order = parse(load(GIFT_CARD))
    assert (order.total, order.gift_cards, order.paid_otherwise()) == (D(28), D(24), D(4))
    assert order.total_tax == D(4)
    grosses = [gross for _, gross in vat.gross_lines(order, D(20))]
    assert sum(grosses, D(0)) == order.total
    assert vat.reconcile(order, order.total, max_rounding=D("0.05"), default_rate=D(20)) == 0
    assert order.payment is not None and order.payment.gateway == "stripe"
    assert "XXXX" not in order.model_dump_json()  # the card's code is never read


def test_several_gift_cards_add_up() -> None:
    payload = load(GIFT_CARD)
    payload["gift_cards"] = [{"id": 43, "code": "A", "amount": 20}, {"code": "B", "amount": "4"}]
    order = parse(payload)
    assert (order.total, order.gift_cards) == (D(28), D(24))


def test_an_order_without_gift_cards_is_unchanged() -> None:
    payload = load(GIFT_CARD)
    del payload["gift_cards"]
    order = parse(payload)
    assert (order.total, order.gift_cards) == (D(4), D(0))


@pytest.mark.parametrize("amount", [-1, "abc", None])
def test_an_unreadable_gift_card_amount_is_invalid_by_name(amount: object) -> None:
    payload = load(GIFT_CARD)
    payload["gift_cards"][0]["amount"] = amount
    with pytest.raises(InvalidPayload, match=r"gift_cards\.0\.amount"):
        parse(payload)


def test_order_gift_cards_are_bounded() -> None:
    """Never above the total, never below 0; and never beside a stored-card charge."""
    order = parse(load(GIFT_CARD))
    with pytest.raises(ValidationError, match="exceed the total"):
        Order.model_validate({**order.model_dump(), "gift_cards": "28.01"})
    with pytest.raises(ValidationError, match="gift_cards"):
        Order.model_validate({**order.model_dump(), "gift_cards": "-1"})
    with pytest.raises(ValidationError, match="charge"):
        Order.model_validate(
            {**order.model_dump(), "charge": ChargeRequest(customer_ref="c1").model_dump()}
        )
    assert Order.model_validate({**order.model_dump(), "gift_cards": "28"}).paid_otherwise() == 0
