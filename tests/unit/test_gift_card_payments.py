"""Gift cards as a means of payment in each provider's closest form (#18): the document is the
whole sale; iCount records the card part and states the gift card in `hwc`, iDoklad in the
invoice's `Note`, iCash as a payment of its own (`pay_types.gift_card`)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handlers.sources import woocommerce
from invoicebridge.samples import woocommerce as samples
from invoicebridge.stack.config import SANDBOX_ICASH
from tests.payments import CARD
from worker.domain.events import Order, Refund
from worker.errors import NeedsAttention
from worker.jobs.runner import credit_note_order
from worker.providers.base import DocumentRequest
from worker.providers.icash.payment import PaymentPart, payments, payments_added
from worker.providers.icash.sale import sale_items
from worker.providers.icount.wire import build_document_request
from worker.providers.idoklad.totals import document_amounts
from worker.providers.idoklad.wire import build_invoice
from worker.settings import DocumentSettings, ICashSettings

D = Decimal
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "woocommerce"
GIFT_CARD = "order_updated_gift_card_partial.json"
DOCS = DocumentSettings(default_vat_percent=D(20))
PAY_TYPES = {"card": 2, "cash": 1, "gift_card": 7}


def gift_card_order(**changes: Any) -> Order:
    """The WooCommerce gift-card fixture (28.00 sale, 24.00 by gift card), paid by card."""
    body = (FIXTURE / GIFT_CARD).read_bytes()
    headers = samples.headers_for(body, topic="order.updated", secret="s")
    order = woocommerce.parse(body, headers).order
    assert order is not None
    return order.model_copy(update={"payment": CARD, **changes})


def icash(**pay_types: int) -> ICashSettings:
    return ICashSettings(
        api_key="k",
        secret_key="s",
        warehouse_id=1,
        user_id=1,
        **{**SANDBOX_ICASH, "pay_types": pay_types or PAY_TYPES},
    )


# --- iCount -------------------------------------------------------------------------------


def icount_invrec(order: Order) -> dict[str, Any]:
    return build_document_request(
        order, doctype="invrec", documents=DOCS, sanity="ib-gc", issue_date=date(2024, 5, 14)
    )


def test_icount_records_the_card_part_and_states_the_gift_card() -> None:
    """The items make the sale (28.00 at 20 %); the `cc` block records 4.00, the card's part;
    the comment says 24.00 of it was paid by gift card (seed 000 has no block for one)."""
    body = icount_invrec(gift_card_order())
    items = body["items"]
    prices = [
        D(item.get("unitprice_incvat") or item["unitprice"]) * item["quantity"] for item in items
    ]
    assert sum(prices, D(0)) == D(28) and body["vat_percent"] == "20"
    assert body["cc"]["sum"] == "4.00"
    assert body["hwc"] == "Order #812 · ref ib-gc · 24.00 EUR of 28.00 paid by gift card"


def test_icount_order_without_gift_cards_keeps_its_comment_and_total() -> None:
    body = icount_invrec(gift_card_order(gift_cards=D(0), total=D(28)))
    assert (body["cc"]["sum"], body["hwc"]) == ("28.00", "Order #812 · ref ib-gc")


def test_icount_order_paid_in_full_by_gift_card_needs_attention() -> None:
    """Nothing is left for a documented block to record: a human issues it."""
    with pytest.raises(NeedsAttention) as stopped:
        icount_invrec(gift_card_order(gift_cards=D(28)))
    assert stopped.value.reason == "gift_card_only"


# --- iDoklad ------------------------------------------------------------------------------


def test_idoklad_invoice_is_the_sale_and_notes_the_gift_card() -> None:
    order = gift_card_order()
    day = date(2024, 5, 14)
    request = DocumentRequest(
        kind="invrec", order=order, reference="ib-gc", email=False, documents=DOCS, issue_date=day
    )
    body = build_invoice({"PaymentOptionId": 1}, request, purchaser_id=5, currency_id=3)
    items: Any = body["IssuedInvoiceItems"]
    assert document_amounts(items, "EUR").total == D(28)
    assert body["Note"] == "Shop order 812; 24.00 EUR of 28.00 paid by gift card"
    assert body["PaymentOptionId"] == 1  # the template's, as for any order


# --- iCash --------------------------------------------------------------------------------


def test_icash_pays_the_gift_card_part_then_the_rest() -> None:
    order = gift_card_order()
    price = sum((item.amount for item in sale_items(order, DOCS, icash())), D(0))
    assert price == D(28)
    parts = payments(order, price, DOCS, icash())
    assert parts == [PaymentPart(7, D(24)), PaymentPart(2, D(4))]
    assert parts[0].fields(55) == {"OperationID": 55, "PayTypeID": 7, "PaymentSum": "24.00"}


def test_icash_without_gift_cards_is_one_payment() -> None:
    order = gift_card_order(gift_cards=D(0))
    assert payments(order, D(28), DOCS, icash()) == [PaymentPart(2, D(28))]


def test_icash_paid_in_full_by_gift_card_is_one_gift_card_payment() -> None:
    order = gift_card_order(gift_cards=D(28), payment=None)
    assert payments(order, D(28), DOCS, icash(gift_card=7)) == [PaymentPart(7, D(28))]


def test_icash_gift_card_without_a_pay_type_needs_attention() -> None:
    with pytest.raises(NeedsAttention) as stopped:
        payments(gift_card_order(), D(28), DOCS, icash(card=2, cash=1))
    assert stopped.value.reason == "pay_type_unmapped"


@pytest.mark.parametrize(("paid", "added"), [("0", 0), ("24.00", 1), ("28.00", 2)])
def test_icash_resumes_payments_from_the_paid_sum(paid: str, added: int) -> None:
    parts = [PaymentPart(7, D(24)), PaymentPart(2, D(4))]
    assert payments_added(parts, D(paid)) == added


def test_icash_paid_sum_no_prefix_makes_needs_attention() -> None:
    with pytest.raises(NeedsAttention) as stopped:
        payments_added([PaymentPart(7, D(24)), PaymentPart(2, D(4))], D(4))
    assert stopped.value.reason == "operation_paid_differs"


def test_gift_card_is_an_allowed_icash_pay_type_key() -> None:
    assert icash(gift_card=7).pay_types == {"gift_card": 7}
    with pytest.raises(ValueError, match="pay_types"):
        ICashSettings.model_validate(
            {**json.loads(icash().model_dump_json()), "secret_key": "s", "pay_types": {"gift": 7}}
        )


def test_fixture_dates_are_utc() -> None:  # the fixture is read as the worker reads it
    assert gift_card_order().created_at == datetime(2024, 5, 14, 8, 2, 11, tzinfo=UTC)


def test_a_credit_note_carries_no_gift_card_part() -> None:
    """A refund of a gift-card order is a document of its own: its total is the refund, and
    no provider splits it or notes a gift card on it."""
    refund = Refund(refund_id="r1", amount=D("10.00"), currency="EUR")
    credit = credit_note_order(gift_card_order(), refund)
    assert (credit.total, credit.gift_cards) == (D(10), D(0))
    assert Order.model_validate(credit.model_dump()) == credit  # valid as it stands
    assert payments(credit, D(10), DOCS, icash()) == [PaymentPart(2, D(10))]
