"""Synthetic Stripe webhook events (API version 2025-06-30.basil) and their signed headers.

Shaped on Stripe's Event, PaymentIntent, Charge, Refund, Checkout Session and Invoice objects
(shared/webhooks.md 3); written for invoicebridge, not copied. Amounts are integers in the
currency's minor unit and currencies lowercase, as Stripe sends them. Ids are derived from the
arguments, so building the same event twice gives the same event id (a re-delivery).
"""

from __future__ import annotations

import hashlib
import json
import string
import time
import uuid
from collections.abc import Sequence
from typing import Any

from handlers.sources import stripe

API_VERSION = "2025-06-30.basil"
#: An endpoint pinned to this older version still gets a charge's `refunds` list inlined.
LEGACY_API_VERSION = "2022-08-01"
#: 2025-07-14T08:00:00Z: when sample payments are made unless the caller says otherwise.
CREATED = 1_752_480_000
_ALPHABET = string.digits + string.ascii_letters
_ADDRESS = {
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


def _event(
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


def payment_intent_succeeded(
    pi_id: str,
    amount_minor: int,
    *,
    currency: str = "ils",
    email: str | None = "dana.levi@example.com",
    metadata: dict[str, str] | None = None,
    name: str | None = "Dana Levi",
    description: str | None = None,
    charge_id: str | None = None,
    created: int = CREATED,
    expand_charge: bool = False,
) -> dict[str, Any]:
    """`payment_intent.succeeded`; `name` None sends no shipping details. `latest_charge` is the
    charge's id, as in every webhook; `expand_charge` puts the Charge object there instead, as
    a relay that retrieved the intent with `expand[]=latest_charge` would send it."""
    shipping = (
        None
        if name is None
        else {
            "address": dict(_ADDRESS),
            "carrier": None,
            "name": name,
            "phone": None,
            "tracking_number": None,
        }
    )
    charge = charge_id or stripe_id("ch", pi_id)
    latest: str | dict[str, Any] = charge
    if expand_charge:
        latest = _charge(
            charge,
            pi_id,
            amount_minor,
            currency=currency,
            name=name,
            email=email,
            metadata=metadata,
            captured=True,
            created=created + 1,
        )
    intent = {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount_minor,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": amount_minor,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"allow_redirects": "always", "enabled": True},
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{pi_id}_secret_{stripe_id('s', pi_id)[2:27]}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": stripe_id("cus", email)[:18] if email else None,
        "description": description,
        "last_payment_error": None,
        "latest_charge": latest,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": stripe_id("pm", pi_id),
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": email,
        "review": None,
        "setup_future_usage": None,
        "shipping": shipping,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }
    return _event("payment_intent.succeeded", intent, created=created + 2)


def _charge(
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
            "address": dict(_ADDRESS),
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


def charge_succeeded(
    charge_id: str,
    pi_id: str | None,
    amount_minor: int,
    *,
    currency: str = "ils",
    name: str | None = "Dana Levi",
    email: str | None = "dana.levi@example.com",
    metadata: dict[str, str] | None = None,
    captured: bool = True,
    created: int = CREATED,
    method: str = "card",
) -> dict[str, Any]:
    """`charge.succeeded` of a card (or `method="paypal"`) payment; `captured=False` is an
    authorisation only."""
    charge = _charge(
        charge_id,
        pi_id,
        amount_minor,
        currency=currency,
        name=name,
        email=email,
        metadata=metadata,
        captured=captured,
        created=created,
        method=method,
    )
    return _event("charge.succeeded", charge, created=created + 1)


def charge_refunded(
    charge_id: str,
    pi_id: str | None,
    amount_minor: int,
    refunded_minor: int,
    *,
    refund_id: str | None = None,
    previous_refunded_minor: int = 0,
    currency: str = "ils",
    reason: str | None = "requested_by_customer",
    metadata: dict[str, str] | None = None,
    created: int = CREATED,
    refunded_at: int | None = None,
) -> dict[str, Any]:
    """`charge.refunded` after `refunded_minor` in all (cumulative) has been given back.

    With `refund_id` the charge lists its refunds, newest first: this one for the difference
    to `previous_refunded_minor`, and one earlier refund for that. Stripe lists them only for
    endpoints on an API version before 2022-11-15, so that event says `LEGACY_API_VERSION`.
    """
    moment = refunded_at or created + 86_400
    charge = _charge(
        charge_id,
        pi_id,
        amount_minor,
        currency=currency,
        name="Dana Levi",
        email="dana.levi@example.com",
        metadata=metadata,
        captured=True,
        created=created,
    )
    fully = refunded_minor >= amount_minor
    charge |= {"amount_refunded": refunded_minor, "refunded": fully}
    previous: dict[str, Any] = {"amount_refunded": previous_refunded_minor}
    if fully:
        previous["refunded"] = False
    if refund_id is not None:
        charge["refunds"] = _refund_list(charge, refund_id, previous_refunded_minor, reason, moment)
    version = API_VERSION if refund_id is None else LEGACY_API_VERSION
    return _event("charge.refunded", charge, created=moment, previous=previous, api_version=version)


def _refund_list(
    charge: dict[str, Any], refund_id: str, previous_minor: int, reason: str | None, created: int
) -> dict[str, Any]:
    """The charge's expanded `refunds`, newest first: `refund_id` for what the cumulative
    `amount_refunded` rose by, then one earlier refund for `previous_minor` if any."""
    latest = charge["amount_refunded"] - previous_minor
    refunds = [_refund(refund_id, charge, latest, reason, created)]
    if previous_minor:
        earlier = stripe_id("re", charge["id"], previous_minor)
        refunds.append(_refund(earlier, charge, previous_minor, reason, created - 3_600))
    return {
        "object": "list",
        "data": refunds,
        "has_more": False,
        "total_count": len(refunds),
        "url": f"/v1/charges/{charge['id']}/refunds",
    }


def _refund(
    refund_id: str, charge: dict[str, Any], amount_minor: int, reason: str | None, created: int
) -> dict[str, Any]:
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount_minor,
        "balance_transaction": stripe_id("txn", refund_id),
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "destination_details": {
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def checkout_session_completed(
    session_id: str,
    amount_minor: int,
    *,
    currency: str = "ils",
    payment_status: str = "paid",
    payment_intent: str | None = None,
    client_reference_id: str | None = None,
    name: str | None = "Dana Levi",
    email: str | None = "dana.levi@example.com",
    metadata: dict[str, str] | None = None,
    created: int = CREATED,
) -> dict[str, Any]:
    """`checkout.session.completed` in payment mode; `payment_status="unpaid"` is a delayed
    method (a bank debit) that ends in `checkout.session.async_payment_succeeded`."""
    delayed = payment_status == "unpaid"
    session: dict[str, Any] = {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount_minor,
        "amount_total": amount_minor,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": "https://acme-store.example/cart",
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "collected_information": {"shipping_details": None},
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": None,
        "customer_creation": "if_required",
        "customer_details": {
            "address": dict(_ADDRESS),
            "email": email,
            "name": name,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
        "customer_email": None,
        "discounts": [],
        "expires_at": created + 86_400,
        "invoice": None,
        "invoice_creation": {"enabled": False, "invoice_data": {}},
        "livemode": False,
        "locale": None,
        "metadata": dict(metadata or {}),
        "mode": "payment",
        "payment_intent": payment_intent or stripe_id("pi", session_id),
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_options": {},
        "payment_method_types": ["sepa_debit"] if delayed else ["card"],
        "payment_status": payment_status,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "complete",
        "submit_type": None,
        "subscription": None,
        "success_url": "https://acme-store.example/thanks?session_id={CHECKOUT_SESSION_ID}",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": None,
        "wallet_options": None,
    }
    return _event("checkout.session.completed", session, created=created + 40)


def invoice_paid(
    invoice_id: str,
    lines: Sequence[tuple[str, int, int]],
    *,
    currency: str = "ils",
    amount_paid: int | None = None,
    number: str | None = None,
    name: str | None = "Dana Levi",
    email: str | None = "dana.levi@example.com",
    metadata: dict[str, str] | None = None,
    created: int = CREATED,
) -> dict[str, Any]:
    """`invoice.paid` of a subscription invoice; `lines` are (description, amount, quantity)
    with the line's total amount in minor units; `amount_paid` defaults to their sum."""
    total = sum(amount for _, amount, _ in lines)
    paid = total if amount_paid is None else amount_paid
    customer = stripe_id("cus", email)[:18]
    items = [_invoice_line(invoice_id, n, line, currency, created) for n, line in enumerate(lines)]
    invoice: dict[str, Any] = {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "IL",
        "account_name": "Acme Store Ltd",
        "account_tax_ids": None,
        "amount_due": paid,
        "amount_overpaid": 0,
        "amount_paid": paid,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 1,
        "attempted": True,
        "auto_advance": False,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": customer,
        "customer_address": dict(_ADDRESS),
        "customer_email": email,
        "customer_name": name,
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": created,
        "ending_balance": 0,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1Acme/test_{invoice_id[3:]}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_1Acme/test_{invoice_id[3:]}/pdf",
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": items,
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_payment_attempt": None,
        "number": number,
        "on_behalf_of": None,
        "parent": {
            "quote_details": None,
            "type": "subscription_details",
            "subscription_details": {"metadata": {}, "subscription": stripe_id("sub", customer)},
        },
        "period_end": created,
        "period_start": created - 30 * 86_400,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "paid",
        "status_transitions": {
            "finalized_at": created + 3_600,
            "marked_uncollectible_at": None,
            "paid_at": created + 3_605,
            "voided_at": None,
        },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": created,
    }
    return _event("invoice.paid", invoice, created=created + 3_606)


def _invoice_line(
    invoice_id: str, index: int, line: tuple[str, int, int], currency: str, created: int
) -> dict[str, Any]:
    description, amount, quantity = line
    return {
        "id": stripe_id("il", invoice_id, index),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "period": {"end": created, "start": created - 30 * 86_400},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {
                "price": stripe_id("price", description),
                "product": stripe_id("prod", description),
            },
            "type": "price_details",
            "unit_amount_decimal": str(amount // max(quantity, 1)),
        },
        "quantity": quantity,
        "taxes": [],
    }


def headers_for(body: bytes, secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers Stripe sends with `body`, signed with `secret` at `timestamp` (default now)."""
    moment = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Accept": "*/*; q=0.5, application/xml",
        "Cache-Control": "no-cache",
        "Stripe-Signature": stripe.sign(body, secret, moment),
    }


def encode_body(event: dict[str, Any]) -> bytes:
    """An event as Stripe sends it: JSON pretty-printed with two spaces, UTF-8."""
    return json.dumps(event, indent=2, ensure_ascii=False).encode()
