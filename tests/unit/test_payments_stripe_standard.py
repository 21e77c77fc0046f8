"""How Stripe and Standard Webhooks events fill `Order.payment` (the Shopify and WooCommerce
cases, and the shared rules, are in test_payments).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from handlers.errors import InvalidPayload
from handlers.sources import standard, stripe
from invoicebridge.samples import standard as samples_standard
from invoicebridge.samples import stripe as samples_stripe
from tests.unit.test_payments import SECRET, VISA, assert_no_card_number, encode, load, paid_with
from worker.domain.events import Order, Payment

WHSEC = samples_standard.new_secret()
TS = 1_752_480_300


def assert_only_the_last_four(order: Order) -> None:
    """The Visa test number sent as last four and transaction id: four digits, and masked."""
    assert (paid_with(order).card_last4, paid_with(order).transaction_id) == (
        "1111",
        "[card …1111]",
    )
    assert_no_card_number(order)


def card_fields(payment: Payment) -> tuple[str | None, ...]:
    """Transaction id, kind, card brand, last four and payer."""
    return (
        payment.transaction_id,
        payment.kind,
        payment.card_brand,
        payment.card_last4,
        payment.payer_name,
    )


def stripe_order(event: dict[str, Any]) -> Order:
    body = encode(event)
    order = stripe.parse(body, {"Stripe-Signature": stripe.sign(body, SECRET, TS)}).order
    assert order is not None
    return order


def standard_order(order: dict[str, Any]) -> Order:
    body = encode(samples_standard.envelope("order.paid", {"order": order}))
    headers = samples_standard.headers_for(body, WHSEC, msg_id="msg_1")
    parsed = standard.parse(body, headers).order
    assert parsed is not None
    return parsed


# --- Stripe -------------------------------------------------------------------------------


def test_stripe_intent_with_latest_charge_as_an_id() -> None:
    """What every `payment_intent.succeeded` webhook carries: the charge id, kind from the one
    allowed method type, paid when the event was created; no card details."""
    order = stripe_order(load("stripe", "payment_intent_succeeded_ils.json"))
    assert paid_with(order) == Payment(
        gateway="stripe",
        kind="card",
        transaction_id="ch_3RkA1b2eZvKYlo2C1nWc8PqL",
        paid_at=datetime.fromtimestamp(1752480002, UTC),
    )


def test_stripe_intent_with_latest_charge_expanded() -> None:
    """An expanded `latest_charge`: its id, card brand and last four, billing name."""
    event = samples_stripe.payment_intent_succeeded("pi_x1", 9000, expand_charge=True)
    payment = paid_with(stripe_order(event))
    charge = event["data"]["object"]["latest_charge"]["id"]
    assert card_fields(payment) == (charge, "card", "Visa", "4242", "Dana Levi")


def test_stripe_intent_of_an_old_api_version_lists_its_charges() -> None:
    """Before 2022-11-15 an intent inlines `charges.data`: the first one is read."""
    event = samples_stripe.payment_intent_succeeded("pi_x2", 9000)
    intent = event["data"]["object"]
    charge = samples_stripe.charge_succeeded("ch_old1", "pi_x2", 9000)["data"]["object"]
    del intent["latest_charge"]
    intent["charges"] = {"object": "list", "data": [charge], "has_more": False}
    payment = paid_with(stripe_order(event))
    assert (payment.transaction_id, payment.card_last4) == ("ch_old1", "4242")


def test_stripe_charge_succeeded_fixture() -> None:
    """A Charge is its own transaction: id, Visa 4242, the billing name."""
    payment = paid_with(stripe_order(load("stripe", "charge_succeeded.json")))
    assert card_fields(payment) == (
        "ch_3RkA1b2eZvKYlo2C1nWc8PqL",
        "card",
        "Visa",
        "4242",
        "Dana Levi",
    )


def test_stripe_paypal_charge_names_the_payer() -> None:
    """`payment_method_details.type` paypal: kind paypal, PayPal's `payer_name`, no card."""
    event = samples_stripe.charge_succeeded("py_1", None, 5000, method="paypal", name="P. Payer")
    assert paid_with(stripe_order(event)) == Payment(
        gateway="stripe",
        kind="paypal",
        transaction_id="py_1",
        payer_name="P. Payer",
        paid_at=datetime.fromtimestamp(samples_stripe.CREATED + 1, UTC),
    )


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        ("customer_balance", "bank_transfer"),
        ("sepa_debit", "bank_transfer"),
        ("us_bank_account", "bank_transfer"),
        ("card_present", "card"),
        ("klarna", "other"),
        ("link", "other"),
    ],
)
def test_stripe_method_types_say_the_kind(method: str, kind: str) -> None:
    """Bank transfers and direct debits are bank transfers; wallets and the rest "other"."""
    event = samples_stripe.charge_succeeded("py_2", None, 5000)
    event["data"]["object"]["payment_method_details"] = {"type": method, method: {}}
    assert paid_with(stripe_order(event)).kind == kind


def test_stripe_checkout_session_has_no_charge_id() -> None:
    """A session names its PaymentIntent, not a charge: no transaction id; the customer pays."""
    payment = paid_with(stripe_order(load("stripe", "checkout_session_completed_paid.json")))
    assert (payment.transaction_id, payment.kind, payment.payer_name) == (None, "card", "Dana Levi")


def test_stripe_checkout_session_with_an_expanded_intent() -> None:
    """An expanded `payment_intent` with its `latest_charge` id gives the charge id."""
    event = load("stripe", "checkout_session_completed_paid.json")
    event["data"]["object"]["payment_intent"] = {"id": "pi_9", "latest_charge": "ch_9"}
    assert paid_with(stripe_order(event)).transaction_id == "ch_9"


def test_stripe_invoice_paid() -> None:
    """A basil invoice has no `charge`: no id, paid at `status_transitions.paid_at`; an older
    one's `charge` id is the transaction."""
    event = load("stripe", "invoice_paid.json")
    payment = paid_with(stripe_order(event))
    assert (payment.transaction_id, payment.payer_name, payment.paid_at) == (
        None,
        "Orly Ben-Ami",
        datetime.fromtimestamp(1752483605, UTC),
    )
    event["data"]["object"]["charge"] = "ch_inv1"
    assert paid_with(stripe_order(event)).transaction_id == "ch_inv1"


def test_stripe_full_card_number_keeps_only_the_last_four() -> None:
    """A card number in `last4` and as the charge id: four digits kept, the id masked."""
    event = samples_stripe.charge_succeeded("ch_3", "pi_3", 5000)
    event["data"]["object"]["payment_method_details"]["card"]["last4"] = VISA
    event["data"]["object"]["id"] = VISA
    order = stripe_order(event)
    assert_only_the_last_four(order)


@pytest.mark.parametrize(
    "odd",
    [
        {"latest_charge": 5},
        {"latest_charge": ["ch_1"]},
        {"latest_charge": {"id": {"x": 1}, "payment_method_details": "card"}},
        {"charges": "none", "latest_charge": None},
        {"payment_method_types": "card"},
    ],
)
def test_stripe_odd_payment_values_never_cost_the_order(odd: dict[str, Any]) -> None:
    """Each odd value reads as missing: the payment is still captured, no 422."""
    event = samples_stripe.payment_intent_succeeded("pi_odd", 9000)
    event["data"]["object"] |= odd
    payment = paid_with(stripe_order(event))
    assert payment.gateway == "stripe" and payment.card_last4 is None


def test_stripe_odd_card_details_never_cost_the_order() -> None:
    """Card details of the wrong shape read as missing; the charge id and payer stay."""
    event = samples_stripe.charge_succeeded("ch_4", None, 5000)
    event["data"]["object"]["payment_method_details"] = {"type": ["card"], "card": "visa"}
    assert paid_with(stripe_order(event)) == Payment(
        gateway="stripe",
        transaction_id="ch_4",
        payer_name="Dana Levi",
        paid_at=datetime.fromtimestamp(samples_stripe.CREATED + 1, UTC),
    )


# --- Standard Webhooks --------------------------------------------------------------------


def test_standard_payment_object_is_read() -> None:
    """Our own schema's optional `payment`: every field as sent."""
    order = standard_order(samples_standard.order_data("44", payment="card")["order"])
    payment = paid_with(order)
    assert (
        payment.gateway,
        payment.kind,
        payment.card_brand,
        payment.card_last4,
        payment.payer_name,
    ) == ("stripe", "card", "Visa", "4242", "Dana Levi")
    assert payment.transaction_id is not None and payment.paid_at is not None


@pytest.mark.parametrize("payment", ["paypal", "bank_transfer", "cash", None])
def test_standard_other_kinds_and_none(payment: str | None) -> None:
    """PayPal, bank transfer, cash, or no `payment` at all (None)."""
    order = standard_order(samples_standard.order_data("45", payment=payment)["order"])
    assert (order.payment.kind if order.payment else None) == payment


def test_standard_card_number_keeps_only_the_last_four() -> None:
    """A card number as `card_last4` and `transaction_id`: four digits, and masked."""
    data = samples_standard.order_data("46")["order"]
    data["payment"] |= {"card_last4": VISA, "transaction_id": VISA}
    order = standard_order(data)
    assert_only_the_last_four(order)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "Card"}, "data.order.payment.kind"),
        ({"transaction_id": "x" * 300}, "data.order.payment.transaction_id"),
        ({"surprise": 1}, "data.order.payment.surprise"),
    ],
)
def test_standard_schema_violations_are_a_422_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    """Our own sender can fix and resend: a bad payment field is a 422 with its path."""
    data = samples_standard.order_data("47")["order"]
    data["payment"] |= change
    with pytest.raises(InvalidPayload, match=field.replace(".", r"\.")):
        standard_order(data)


def test_standard_accepts_what_the_other_sources_make() -> None:
    """A Payment parsed from a shop, as JSON, is a valid Standard `payment`."""
    parsed = paid_with(stripe_order(load("stripe", "charge_succeeded.json")))
    data = samples_standard.order_data("48")["order"]
    data["payment"] = json.loads(parsed.model_dump_json())
    assert standard_order(data).payment == parsed
