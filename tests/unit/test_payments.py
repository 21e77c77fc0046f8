"""How each source fills `Order.payment`: gateway, kind, card brand and last four, transaction id,
payer and time, from the platform's own fields; and that odd values never cost the order.

Field names as the platforms publish them (the report of issue #16's payment work lists the
sources): Shopify's REST Order (`payment_gateway_names`, `gateway`, `payment_details`: the last
two gone from API 2023-04 on, shopify.dev changelog "Payment properties deprecation on the Admin
API Order resource") and Transaction (`authorization`); WooCommerce's REST v3 order
(`payment_method`, `transaction_id`, `date_paid_gmt`); Stripe's Charge
(`payment_method_details.card.brand`/`.last4`, `.paypal.payer_name`, `billing_details.name`),
PaymentIntent (`latest_charge`, before 2022-11-15 `charges`), Checkout Session and Invoice.
The Stripe and Standard Webhooks cases are in test_payments_stripe_standard.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from handlers.sources import shopify, woocommerce
from handlers.sources.payments import build_payment, gateway_kind
from invoicebridge.samples import shopify as samples
from invoicebridge.samples import woocommerce as samples_woocommerce
from tests.card_scan import find_card_numbers
from worker.domain.events import Order, Payment

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SECRET = "test-secret"
VISA = "4111111111111111"  #: a published test card number


def load(source: str, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / source / name).read_text())
    return document


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def shopify_order(payload: dict[str, Any], topic: str = "orders/create") -> Order:
    body = encode(payload)
    headers = samples.headers_for(body, topic=topic, secret=SECRET, event_id="1")
    order = shopify.parse(body, headers).order
    assert order is not None
    return order


def woo_order(payload: dict[str, Any], topic: str = "order.updated") -> Order:
    body = encode(payload)
    headers = samples_woocommerce.headers_for(body, topic=topic, secret=SECRET)
    order = woocommerce.parse(body, headers).order
    assert order is not None
    return order


def paid_with(order: Order) -> Payment:
    assert order.payment is not None
    return order.payment


def assert_no_card_number(order: Order) -> None:
    """Nothing in the canonical order, as recorded, holds a card number."""
    assert find_card_numbers(order.model_dump_json()) == []


# --- the shared rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("shopify_payments", "card"),
        ("stripe", "card"),
        ("woocommerce_payments", "card"),
        ("ppcp-credit-card-gateway", "card"),
        ("paypal", "paypal"),
        ("PayPal Express Checkout", "paypal"),
        ("ppcp-gateway", "paypal"),
        ("braintree_paypal", "paypal"),
        ("bacs", "bank_transfer"),
        ("Bank Deposit", "bank_transfer"),
        ("stripe_sepa", "bank_transfer"),
        ("cod", "cash"),
        ("Cash on Delivery (COD)", "cash"),
        ("cheque", "other"),
        ("Money Order", "other"),
        ("gift_card", "other"),
        ("manual", None),
        ("payplus-payment-gateway", None),
        ("", None),
        (None, None),
    ],
)
def test_gateway_names_and_ids_say_the_kind(name: str | None, kind: str | None) -> None:
    """Shopify gateway names and WooCommerce ids map onto kinds; unknown ones onto None."""
    assert gateway_kind(name) == kind


def test_a_refused_value_is_dropped_and_the_rest_kept() -> None:
    """An id over 255 characters and a 3,000-character name go; the gateway and card stay."""
    payment = build_payment(
        gateway="stripe",
        kind="card",
        card_last4="4242",
        transaction_id="x" * 300,
        payer_name="n" * 3000,
    )
    assert payment == Payment(gateway="stripe", kind="card", card_last4="4242")


def test_a_payer_or_a_time_alone_is_no_payment() -> None:
    """Nothing about how the order was paid: no Payment, however much else is known."""
    assert build_payment(payer_name="Dana", paid_at=datetime(2025, 1, 1, tzinfo=UTC)) is None
    assert build_payment() is None


# --- Shopify ------------------------------------------------------------------------------


def test_shopify_card_order_keeps_brand_and_last_four() -> None:
    """A card sample: gateway, Visa, the four digits of "•••• •••• •••• 4242", the billing
    name as payer; no order webhook carries a transaction, so no id and no time."""
    order = shopify_order(samples.shopify_order(6_300_000_000_001, customer_name="Dana Levi"))
    assert paid_with(order) == Payment(
        gateway="shopify_payments",
        kind="card",
        card_brand="Visa",
        card_last4="4242",
        payer_name="Dana Levi",
    )


@pytest.mark.parametrize(
    ("payment", "gateway", "kind"),
    [
        ("paypal", "paypal", "paypal"),
        ("bank_deposit", "Bank Deposit", "bank_transfer"),
        ("cod", "Cash on Delivery (COD)", "cash"),
    ],
)
def test_shopify_paypal_bank_deposit_and_cod(payment: str, gateway: str, kind: str) -> None:
    """Without card details the kind follows the gateway name, and no card is invented."""
    order = shopify_order(samples.shopify_order(6_300_000_000_002, payment=payment))
    assert paid_with(order) == Payment(gateway=gateway, kind=kind, payer_name="Dana Levi")


def test_shopify_fixtures_say_how_they_were_paid() -> None:
    """The repo's captures: Shopify Payments, a gift card listed first, a bank deposit."""
    ils = paid_with(shopify_order(load("shopify", "orders_create_ils_discount.json")))
    assert (ils.gateway, ils.kind, ils.card_last4) == ("shopify_payments", "card", None)
    usd = load("shopify", "orders_create_usd_exclusive.json")
    usd["payment_gateway_names"] = ["gift_card", "shopify_payments"]
    assert paid_with(shopify_order(usd)).gateway == "shopify_payments"
    deposit = paid_with(shopify_order(load("shopify", "orders_cancelled.json")))
    assert (deposit.gateway, deposit.kind) == ("Bank Deposit", "bank_transfer")


def test_shopify_manual_payment_has_no_kind() -> None:
    """`manual` (an order marked paid by hand, as in a 2025 capture) says no method."""
    order = shopify_order(load("shopify", "orders_paid_minimal.json"), "orders/paid")
    assert paid_with(order) == Payment(gateway="manual")


def test_shopify_without_any_gateway_has_no_payment() -> None:
    """No gateway name, no details, no transactions: the order says nothing of its payment."""
    payload = load("shopify", "orders_paid_minimal.json")
    del payload["gateway"]
    assert shopify_order(payload, "orders/paid").payment is None


def test_shopify_full_card_number_keeps_only_the_last_four() -> None:
    """A whole card number where Shopify puts the masked one: four digits kept, nothing more."""
    payload = samples.shopify_order(6_300_000_000_003)
    payload["payment_details"]["credit_card_number"] = "4111 1111 1111 1111"
    order = shopify_order(payload)
    assert paid_with(order).card_last4 == "1111"
    assert_no_card_number(order)


def test_shopify_transactions_give_the_authorization_and_time() -> None:
    """A payload that carries `transactions` (no `orders/*` webhook does; a relay might): the
    successful sale's authorization, its card and time; failed and refund ones are ignored."""
    payload = load("shopify", "orders_create_ils_discount.json")
    payload["transactions"] = [
        {"kind": "sale", "status": "failure", "authorization": "declined"},
        {"kind": "refund", "status": "success", "authorization": "re_1"},
        {
            "kind": "sale",
            "status": "success",
            "gateway": "shopify_payments",
            "authorization": "ch_3PqL2aE8k1mZ0b4x",
            "processed_at": "2025-05-14T18:22:08+03:00",
            "payment_details": {
                "credit_card_company": "Mastercard",
                "credit_card_name": "D. Levi",
                "credit_card_number": "•••• •••• •••• 5100",
            },
        },
    ]
    payment = paid_with(shopify_order(payload))
    assert (payment.transaction_id, payment.card_brand, payment.card_last4, payment.payer_name) == (
        "ch_3PqL2aE8k1mZ0b4x",
        "Mastercard",
        "5100",
        "D. Levi",
    )
    assert payment.paid_at == datetime(2025, 5, 14, 15, 22, 8, tzinfo=UTC)


def test_shopify_card_number_in_an_authorization_is_masked() -> None:
    """A card number as the authorization is kept only as its last four."""
    payload = load("shopify", "orders_create_ils_discount.json")
    payload["transactions"] = [{"kind": "capture", "status": "success", "authorization": VISA}]
    order = shopify_order(payload)
    assert paid_with(order).transaction_id == "[card …1111]"
    assert_no_card_number(order)


def test_shopify_refund_authorizations_are_not_the_payments() -> None:
    """`refunds[].transactions[].authorization` ("re_…") is a refund's, never the payment id."""
    order = shopify_order(load("shopify", "orders_updated_paid.json"), "orders/updated")
    assert paid_with(order).transaction_id is None


@pytest.mark.parametrize(
    "odd",
    [
        {"payment_details": "•••• 4242"},
        {"payment_details": [1, 2]},
        {"payment_details": {"credit_card_number": {"n": 1}, "credit_card_company": ["Visa"]}},
        {"payment_gateway_names": {"a": 1}},
        {"payment_gateway_names": [1, None]},
        {"gateway": {"name": "x"}},
        {"transactions": "none"},
        {
            "transactions": [
                {
                    "kind": "sale",
                    "status": "success",
                    "authorization": "a" * 300,
                    "processed_at": "yesterday",
                }
            ]
        },
    ],
)
def test_shopify_odd_payment_values_never_cost_the_order(odd: dict[str, Any]) -> None:
    """Each odd value reads as missing (or is dropped): the order parses, no 422."""
    order = shopify_order(samples.shopify_order(6_300_000_000_004) | odd)
    assert order.total > 0
    assert order.payment is None or order.payment.transaction_id is None


# --- WooCommerce --------------------------------------------------------------------------


def test_woo_stripe_charge_id_and_paid_time() -> None:
    """`payment_method` stripe: card, the charge id as `transaction_id`, `date_paid_gmt` (UTC)."""
    order = woo_order(load("woocommerce", "order_updated_completed_fees.json"))
    assert paid_with(order) == Payment(
        gateway="stripe",
        kind="card",
        transaction_id="ch_3PNq2vLkdIwHu7ix0KpQ8sZb",
        paid_at=datetime(2025, 6, 2, 7, 5, 44, tzinfo=UTC),
    )


def test_woo_paypal_payments_capture_id() -> None:
    """PayPal Payments (`ppcp-gateway`): paypal, its capture id."""
    payment = paid_with(woo_order(load("woocommerce", "order_updated_refunded_two_refunds.json")))
    assert (payment.gateway, payment.kind, payment.transaction_id) == (
        "ppcp-gateway",
        "paypal",
        "7HX21398TB345812K",
    )


def test_woo_bank_transfer_with_an_empty_transaction_id() -> None:
    """`bacs` with `transaction_id` "" (no gateway took the money): bank transfer, no id."""
    order = woo_order(load("woocommerce", "order_updated_cancelled.json"))
    assert paid_with(order) == Payment(gateway="bacs", kind="bank_transfer")


def test_woo_local_gateway_keeps_its_id_without_a_kind() -> None:
    """PayPlus (an Israeli card gateway we do not list): its id and transaction id, kind None;
    its Hebrew title ("credit card") is free text and is not read."""
    order = woo_order(load("woocommerce", "order_created_processing_coupon.json"), "order.created")
    payment = paid_with(order)
    assert (payment.gateway, payment.kind, payment.card_last4) == (
        "payplus-payment-gateway",
        None,
        None,
    )
    assert payment.transaction_id == "a1b2c3d4-5e6f-7081-92a3-b4c5d6e7f809"


@pytest.mark.parametrize(
    ("payment", "gateway", "kind", "has_id"),
    [
        ("stripe", "stripe", "card", True),
        ("paypal", "ppcp-gateway", "paypal", True),
        ("bacs", "bacs", "bank_transfer", False),
        ("cod", "cod", "cash", False),
    ],
)
def test_woo_samples(payment: str, gateway: str, kind: str, has_id: bool) -> None:
    """Each sample gateway: its kind; a transaction id where the gateway gives one."""
    parsed = paid_with(woo_order(samples_woocommerce.woo_order(5201, payment=payment)))
    assert (parsed.gateway, parsed.kind, parsed.transaction_id is not None) == (
        gateway,
        kind,
        has_id,
    )
    assert parsed.paid_at is not None and parsed.paid_at.tzinfo is not None


def test_woopayments_last4_meta_and_no_card_from_the_title() -> None:
    """WooPayments' `last4` meta gives the last four (of a full number too); "Credit Card
    (Visa)" in the title gives no brand."""
    payload = load("woocommerce", "order_updated_completed_fees.json") | {
        "payment_method": "woocommerce_payments",
        "payment_method_title": "Credit Card (Visa)",
        "transaction_id": "pi_3PNq2vLkdIwHu7ix0abcdefg",
        "meta_data": [
            {"id": 1, "key": "_charge_id", "value": "ch_1"},
            {"id": 2, "key": "last4", "value": VISA},
        ],
    }
    order = woo_order(payload)
    assert paid_with(order).card_last4 == "1111"
    assert paid_with(order).card_brand is None
    assert_no_card_number(order)


def test_woo_last4_meta_of_another_gateway_is_not_read() -> None:
    """A `last4` meta is WooPayments'; another plugin's key of that name is not a card."""
    payload = load("woocommerce", "order_updated_completed_fees.json")
    payload["meta_data"] = [{"id": 1, "key": "last4", "value": "9999"}]
    assert paid_with(woo_order(payload)).card_last4 is None


def test_woo_card_number_in_transaction_id_is_masked() -> None:
    """A card number typed as the transaction id is kept only as its last four."""
    payload = load("woocommerce", "order_updated_completed_fees.json")
    payload["transaction_id"] = f"paid with {VISA}"
    order = woo_order(payload)
    assert paid_with(order).transaction_id == "paid with [card …1111]"
    assert_no_card_number(order)


@pytest.mark.parametrize(
    "odd",
    [
        {"transaction_id": {"id": 1}},
        {"transaction_id": "x" * 300},
        {"payment_method": ["stripe"]},
        {"meta_data": "junk"},
        {"meta_data": [1, {"key": "last4", "value": {"v": 1}}]},
        {"date_paid_gmt": "not a date"},
    ],
)
def test_woo_odd_payment_values_never_cost_the_order(odd: dict[str, Any]) -> None:
    """Each odd value reads as missing (or is dropped): the order parses, no 422."""
    order = woo_order(load("woocommerce", "order_updated_completed_fees.json") | odd)
    assert order.total > 0
    assert order.payment is None or order.payment.transaction_id in (
        None,
        "ch_3PNq2vLkdIwHu7ix0KpQ8sZb",
    )
