"""The pieces of the synthetic Stripe events (`samples.stripe`, `samples.stripe_billing`):
the API version, ids derived from their seeds, the Event envelope and the Charge object.

Shaped on Stripe's Event and Charge objects (shared/webhooks.md 3); written for invoicebridge,
not copied. Amounts are integers in the currency's minor unit, currencies lowercase.
"""

from __future__ import annotations

import hashlib
import string
import uuid
from typing import Any

API_VERSION = "2025-06-30.basil"
#: An endpoint pinned to this older version still gets a charge's `refunds` list inlined.
LEGACY_API_VERSION = "2022-08-01"
#: 2025-07-14T08:00:00Z: when sample payments are made unless the caller says otherwise.
CREATED = 1_752_480_000
_ALPHABET = string.digits + string.ascii_letters
ADDRESS = {
    "city": "Tel Aviv",
    "country": "IL",
    "line1": "Rothschild Blvd 22",
    "line2": None,
    "postal_code": "6688218",
    "state": None,
}


def stripe_id(prefix: str, *seed: object) -> str:
    """A Stripe-looking id (`pi_3Rk…`, 24 characters after the prefix) derived from `seed`."""
    digest = hashlib.sha256("/".join(map(str, (prefix, *seed))).encode()).digest()
    return f"{prefix}_" + "".join(_ALPHABET[byte % len(_ALPHABET)] for byte in digest[:24])


def stripe_event(
    type_: str,
    obj: dict[str, Any],
    *,
    created: int,
    previous: dict[str, Any] | None = None,
    api_version: str = API_VERSION,
) -> dict[str, Any]:
    """The Event envelope around a snapshot of `obj`."""
    seed = (type_, obj["id"], created, obj.get("amount_refunded"))
    data: dict[str, Any] = {"object": obj}
    idempotency_key = str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, seed))))
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": stripe_id("evt", *seed),
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": stripe_id("req", *seed)[:18], "idempotency_key": idempotency_key},
        "type": type_,
    }


def charge_object(
    charge_id: str,
    pi_id: str | None,
    amount_minor: int,
    *,
    currency: str,
    name: str | None,
    email: str | None,
    metadata: dict[str, str] | None,
    captured: bool,
    created: int,
    method: str = "card",
) -> dict[str, Any]:
    """A Charge right after the payment, by card (a Visa ending 4242) or `method="paypal"`;
    `refunds` is left out, as Stripe does since API version 2022-11-15 unless it is expanded."""
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount_minor,
        "amount_captured": amount_minor if captured else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": stripe_id("txn", charge_id) if captured else None,
        "billing_details": {
            "address": dict(ADDRESS),
            "email": email,
            "name": name,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "ACME STORE",
        "captured": captured,
        "created": created,
        "currency": currency,
        "customer": None,
        "description": None,
        "destination": None,
        "dispute": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(metadata or {}),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 21,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": pi_id,
        "payment_method": stripe_id("pm", pi_id or charge_id),
        "payment_method_details": _method_details(method, charge_id, amount_minor, name, email),
        "receipt_email": email,
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{stripe_id('r', charge_id)[2:]}",
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def _method_details(
    method: str, charge_id: str, amount_minor: int, name: str | None, email: str | None
) -> dict[str, Any]:
    """A Charge's `payment_method_details`: a card's brand and last four, or the PayPal payer."""
    if method == "paypal":
        return {
            "paypal": {
                "country": "IL",
                "payer_email": email,
                "payer_id": stripe_id("P", charge_id)[2:15],
                "payer_name": name,
                "seller_protection": {
                    "dispute_categories": ["product_not_received", "fraudulent"],
                    "status": "eligible",
                },
                "transaction_id": stripe_id("T", charge_id)[2:19].upper(),
            },
            "type": "paypal",
        }
    if method != "card":
        raise ValueError("method is card or paypal")
    return {
        "card": {
            "amount_authorized": amount_minor,
            "brand": "visa",
            "country": "IL",
            "exp_month": 8,
            "exp_year": 2028,
            "funding": "credit",
            "last4": "4242",
            "network": "visa",
            "three_d_secure": None,
            "wallet": None,
        },
        "type": "card",
    }
