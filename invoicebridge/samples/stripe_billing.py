"""Synthetic Stripe billing events: a completed Checkout Session and a paid Invoice.

Shaped on Stripe's Checkout Session and Invoice objects (shared/webhooks.md 3); written for
invoicebridge, not copied. `samples.stripe` offers them with the payment events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from invoicebridge.samples.stripe_objects import ADDRESS, CREATED, stripe_event, stripe_id


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
            "address": dict(ADDRESS),
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
    return stripe_event("checkout.session.completed", session, created=created + 40)


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
        "customer_address": dict(ADDRESS),
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
    return stripe_event("invoice.paid", invoice, created=created + 3_606)


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
