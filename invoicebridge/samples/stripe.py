"""Synthetic Stripe webhook events (API version 2025-06-30.basil) and their signed headers.

Shaped on Stripe's Event, PaymentIntent, Charge, Refund, Checkout Session and Invoice objects
(shared/webhooks.md 3); written for invoicebridge, not copied. Amounts are integers in the
currency's minor unit and currencies lowercase, as Stripe sends them. Ids are derived from the
arguments, so building the same event twice gives the same event id (a re-delivery).

The billing events are built in `stripe_billing` and the shared pieces (ids, the Event
envelope, the Charge) in `stripe_objects`; this module offers them all.
"""

from __future__ import annotations

import json
import time
from typing import Any

from handlers.sources import stripe
from invoicebridge.samples.stripe_billing import (
    checkout_session_completed as checkout_session_completed,
)
from invoicebridge.samples.stripe_billing import invoice_paid as invoice_paid
from invoicebridge.samples.stripe_objects import (
    ADDRESS,
    charge_object,
    stripe_event,
)
from invoicebridge.samples.stripe_objects import API_VERSION as API_VERSION
from invoicebridge.samples.stripe_objects import CREATED as CREATED
from invoicebridge.samples.stripe_objects import LEGACY_API_VERSION as LEGACY_API_VERSION
from invoicebridge.samples.stripe_objects import stripe_id as stripe_id


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
            "address": dict(ADDRESS),
            "carrier": None,
            "name": name,
            "phone": None,
            "tracking_number": None,
        }
    )
    charge = charge_id or stripe_id("ch", pi_id)
    latest: str | dict[str, Any] = charge
    if expand_charge:
        latest = charge_object(
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
    return stripe_event("payment_intent.succeeded", intent, created=created + 2)


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
    charge = charge_object(
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
    return stripe_event("charge.succeeded", charge, created=created + 1)


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
    charge = charge_object(
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
    return stripe_event(
        "charge.refunded", charge, created=moment, previous=previous, api_version=version
    )


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
