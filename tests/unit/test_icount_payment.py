"""iCount payment blocks (docs/providers/icount.md F-PAY-*): which block records how an
order was paid, and that each carries the fields seed 000 marks required, no card data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tests.payments import BANK_TRANSFER, CARD, PAYPAL
from worker.domain.events import Customer, Line, Order, Payment
from worker.errors import NeedsAttention
from worker.providers.base import ChargeRef
from worker.providers.icount.wire import build_document_request
from worker.providers.icount.wire_payment import card_type, charged_payment, payment_block
from worker.settings import DocumentSettings, TenantSettings

DAY = date(2024, 5, 1)
#: what seed 000 lists in the `cc` block that a shop integration must never send
CARD_SECRETS = {"card_number", "cvv", "exp_year", "exp_month", "holder_id"}


def paid_order(payment: Payment | None, gateway: str | None = None) -> Order:
    return Order(
        order_id="820982911946154508",
        number="#1001",
        currency="ILS",
        prices_include_tax=True,
        total=Decimal("117.00"),
        paid=True,
        payment=payment,
        payment_gateway=gateway,
        lines=(Line(description="Mug", quantity=Decimal(1), unit_price=Decimal("117.00")),),
        customer=Customer(name="Dana Levi", email="dana@example.com"),
        created_at=datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
    )


def invrec(order: Order, bank_account_id: int | None = 7, **docs: Any) -> dict[str, Any]:
    return build_document_request(
        order,
        doctype="invrec",
        documents=DocumentSettings(**docs),
        sanity="ib-test",
        issue_date=DAY,
        bank_account_id=bank_account_id,
    )


def test_card_payment_has_every_required_cc_field_and_no_card_secret() -> None:
    """F-PAY-2: `cc` carries sum, num_of_payments, card_type, confirmation_code (the
    gateway's authorisation id, not our order number) and holder_name; no card data, and
    no `first_payment` without installments (D-3)."""
    body = invrec(paid_order(CARD))
    assert body["cc"] == {
        "sum": "117.00",
        "date": "2024-05-01",
        "num_of_payments": 1,
        "card_type": "VISA",
        "confirmation_code": "AUTH-53433",
        "holder_name": "Dana Levi",
    }
    assert not CARD_SECRETS & set(body["cc"])
    assert "4242" not in json.dumps(body)  # the last four stay in our ledger


def test_paypal_payment_uses_the_paypal_block() -> None:
    """F-PAY-4: an order paid by PayPal is recorded in `paypal` {sum, date, txn_id, payer_name}."""
    body = invrec(paid_order(PAYPAL))
    assert body["paypal"] == {
        "sum": "117.00",
        "date": "2024-05-01",
        "txn_id": "8MC585209K746392H",
        "payer_name": "Dana Levi",
    }
    assert not {"cc", "cash", "banktransfer"} & set(body)


def test_bank_transfer_names_the_tenants_bank_account_as_an_integer() -> None:
    """F-PAY-3 / D-4: `banktransfer.account` is iCount's integer id of the merchant's account."""
    body = invrec(paid_order(BANK_TRANSFER), bank_account_id=12)
    assert body["banktransfer"] == {"sum": "117.00", "date": "2024-05-01", "account": 12}


def test_the_paid_date_is_the_platforms() -> None:
    """The block's date is when the platform says it was paid, else the document's date."""
    paid = CARD.model_copy(update={"paid_at": datetime(2024, 4, 30, 23, 0, tzinfo=UTC)})
    assert invrec(paid_order(paid))["cc"]["date"] == "2024-04-30"


@pytest.mark.parametrize(
    ("payment", "gateway", "mapping", "fallback", "block"),
    [
        (CARD, None, {}, "cash", "cc"),  # the platform says card
        (PAYPAL, None, {}, "cc", "paypal"),
        (BANK_TRANSFER, None, {}, "cc", "banktransfer"),
        (Payment(gateway="cod", kind="cash"), None, {}, "cc", "cash"),
        (Payment(gateway="bacs"), None, {"BACS": "banktransfer"}, "cc", "banktransfer"),
        (CARD, None, {"Shopify_Payments": "cash"}, "cc", "cash"),  # the mapping wins
        (None, "Cash on Delivery (COD)", {"cash on delivery (cod)": "cash"}, "cc", "cash"),
        (Payment(gateway="manual", kind="other"), None, {}, "cash", "cash"),  # fallback
        (None, None, {}, "banktransfer", "banktransfer"),
    ],
)
def test_block_follows_gateway_mapping_then_platform_then_fallback(
    payment: Payment | None,
    gateway: str | None,
    mapping: dict[str, str],
    fallback: str,
    block: str,
) -> None:
    """F-PAY-1: the tenant's per-gateway mapping (case-insensitive), else how the platform
    says it was paid, else the tenant's `payment_method`."""
    documents = DocumentSettings(payment_methods=mapping, payment_method=fallback)
    assert payment_block(paid_order(payment, gateway), documents) == block


NO_ID = {"transaction_id": None}


@pytest.mark.parametrize(
    "payment", [CARD.model_copy(update=NO_ID), PAYPAL.model_copy(update=NO_ID)]
)
def test_no_gateway_id_stops_for_a_human_and_never_uses_our_order_number(
    payment: Payment,
) -> None:
    """F-PAY-2 / D-2: without the gateway's id the block cannot be filled truthfully."""
    with pytest.raises(NeedsAttention) as raised:
        invrec(paid_order(payment))
    assert raised.value.reason == "no_transaction_id"


@pytest.mark.parametrize(
    ("brand", "name"),
    [
        ("Visa", "VISA"),
        ("visa", "VISA"),
        ("American Express", "AMEX"),
        ("amex", "AMEX"),
        ("MasterCard", "MASTERCARD"),
        ("Diners Club", "DINERS"),
        ("unionpay", "UNIONPAY"),
        (None, "OTHER"),
        ("", "OTHER"),
        ("***", "OTHER"),
    ],
)
def test_card_type_uses_icounts_names(brand: str | None, name: str) -> None:
    """F-CC-10 / F-PAY-2: brands as the platforms spell them become iCount's card type names."""
    assert card_type(brand) == name


def test_our_own_charge_is_recorded_with_its_type_and_first_payment_only_with_installments() -> (
    None
):
    """F-PAY-5: an invrec recording our cc/bill carries its confirmation code and type."""
    one = ChargeRef(
        confirmation_code="0123456",
        amount=Decimal("117.00"),
        currency="ILS",
        card_type="MASTERCARD",
    )
    assert charged_payment(one, DAY, "Dana Levi") == {
        "sum": "117.00",
        "date": "2024-05-01",
        "num_of_payments": 1,
        "card_type": "MASTERCARD",
        "confirmation_code": "0123456",
        "holder_name": "Dana Levi",
    }
    three = one.model_copy(update={"num_of_payments": 3, "amount": Decimal("100.00")})
    assert charged_payment(three, DAY, "Dana Levi")["first_payment"] == "33.34"


def test_last_four_keeps_only_four_digits() -> None:
    """A platform's masked number, or a whole number sent by mistake, keeps its last four."""
    assert Payment(card_last4="•••• •••• •••• 4242").card_last4 == "4242"
    assert Payment(card_last4="4580000000000000").card_last4 == "0000"
    assert Payment(card_last4="42").card_last4 is None


def test_a_bank_transfer_without_an_account_is_refused_at_start_up() -> None:
    """F-PAY-3: the settings refuse banktransfer without `icount.bank_account_id`."""
    mapping = {"payment_methods": {"bacs": "banktransfer"}}
    tenant: dict[str, Any] = {
        "source": "shopify",
        "secret": "s",
        "provider": "icount",
        "icount": {"api_token": "t"},
        "documents": mapping,
    }
    with pytest.raises(ValidationError, match="bank_account_id"):
        TenantSettings.model_validate(tenant)
    tenant["icount"]["bank_account_id"] = 3
    assert TenantSettings.model_validate(tenant).icount is not None
    with pytest.raises(ValidationError):
        account = {"api_token": "t", "bank_account_id": "shop"}
        TenantSettings.model_validate({**tenant, "icount": account})


def test_a_total_with_more_places_than_the_currency_is_rounded_once() -> None:
    """A shop set to 3 decimals in ILS: the document and its payment carry 10.01, not a
    "Rounding -0.01" line and a 10.005 payment the document cannot match."""
    line = Line(description="Mug", quantity=Decimal(1), unit_price=Decimal("10.005"))
    shop = paid_order(CARD).model_copy(update={"lines": (line,), "total": Decimal("10.005")})
    body = invrec(shop)
    assert [item["description"] for item in body["items"]] == ["Mug"]
    assert body["cc"]["sum"] == "10.01"


def test_a_transaction_id_that_held_a_card_number_is_not_sent() -> None:
    """A Luhn-valid number in the gateway's id is masked as it is read; the masked text is
    no confirmation code, so the step stops for a human instead of sending it."""
    masked = CARD.model_copy(update={"transaction_id": None})
    masked = Payment(**{**masked.model_dump(), "transaction_id": "4580000000000000"})
    with pytest.raises(NeedsAttention) as stopped:
        invrec(paid_order(masked))
    assert stopped.value.reason == "transaction_id_masked"
