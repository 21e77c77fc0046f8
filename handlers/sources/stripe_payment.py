"""Stripe: how a captured payment was paid, from the event's object (handlers.sources.stripe).

Pure, and lenient: a field of the wrong shape reads as missing (handlers.sources.payments).
The transaction id is a charge id (`ch_…`, or `py_…` for some methods), never a PaymentIntent's
or a Checkout Session's. Where each object keeps its charge:

    Charge            itself: `id`, `payment_method_details`, `billing_details`
    PaymentIntent     `latest_charge`: an id in every webhook (objects in events are never
                      expanded), an expanded Charge when one is relayed; `charges.data[0]`
                      on API versions before 2022-11-15, which inline the whole Charge
    Checkout Session  none; its `payment_intent`, when expanded, as above
    Invoice           `charge` (an id or a Charge) on API versions before 2025-03-31.basil

The kind follows the charge's `payment_method_details.type` (`_METHOD_KINDS`): card and
card-present payments (wallets included) are "card", PayPal "paypal"; money from a bank
account, pushed (a bank transfer into the customer balance, `customer_balance`, ACH credit
transfers) or pulled (SEPA, ACH, Bacs, BECS, ACSS and NZ direct debits), is "bank_transfer";
anything else (Link, Klarna, iDEAL, ...) is "other". Without a charge, an object that allows
exactly one `payment_method_types` entry was paid with it. The card's brand and last four come
from `payment_method_details.card` (or `card_present`, `interac_present`); the payer is the
charge's `billing_details.name` (PayPal's `payer_name` first), a session's customer, an
invoice's `customer_name`. Paid at: an invoice's `status_transitions.paid_at`, else the
event's `created` (each of these events is sent when the payment succeeded).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict

from handlers.sources.payments import (
    LenientMoment,
    LenientText,
    build_payment,
    lenient,
    lenient_tuple,
)
from worker.domain.events import Payment, PaymentKind

GATEWAY = "stripe"  #: `Payment.gateway` of every Stripe payment
#: `payment_method_details.type` values and the kind each is (the rest are "other")
_METHOD_KINDS: dict[str, PaymentKind] = {
    **dict.fromkeys(("card", "card_present", "interac_present"), "card"),
    "paypal": "paypal",
    **dict.fromkeys(
        (
            "customer_balance",
            "ach_credit_transfer",
            "sepa_credit_transfer",
            "sepa_debit",
            "us_bank_account",
            "ach_debit",
            "bacs_debit",
            "au_becs_debit",
            "acss_debit",
            "nz_bank_account",
        ),
        "bank_transfer",
    ),
}
#: Stripe's card brand codes as a document shows them ("unknown" and others: as sent)
_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
    "cartes_bancaires": "Cartes Bancaires",
    "eftpos_au": "eftpos",
    "interac": "Interac",
}


class _Wire(BaseModel):  # only the fields we read; the rest is ignored
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)


class _Card(_Wire):  # payment_method_details.card, .card_present, .interac_present
    brand: LenientText = None
    last4: LenientText = None


class _PayPal(_Wire):
    payer_name: LenientText = None


class _Method(_Wire):  # a Charge's payment_method_details
    type: LenientText = None
    card: Annotated[_Card | None, lenient] = None
    card_present: Annotated[_Card | None, lenient] = None
    interac_present: Annotated[_Card | None, lenient] = None
    paypal: Annotated[_PayPal | None, lenient] = None

    def card_used(self) -> _Card:
        return self.card or self.card_present or self.interac_present or _Card()


class _Named(_Wire):  # billing_details, customer_details
    name: LenientText = None


class _Charge(_Wire):
    id: LenientText = None
    payment_method_details: Annotated[_Method | None, lenient] = None
    billing_details: Annotated[_Named | None, lenient] = None


class _Charges(_Wire):  # a PaymentIntent's `charges` list (API versions before 2022-11-15)
    data: Annotated[tuple[_Charge, ...], lenient_tuple] = ()


#: an expandable field: an id, or the object itself
_ChargeRef = Annotated[str | _Charge | None, lenient]


class _Intent(_Wire):  # a PaymentIntent, or a Checkout Session's expanded `payment_intent`
    latest_charge: _ChargeRef = None
    charges: Annotated[_Charges | None, lenient] = None

    def charged(self) -> str | _Charge | None:
        """The latest charge, else (old API versions) the first listed."""
        listed = self.charges.data if self.charges is not None else ()
        return self.latest_charge or next(iter(listed), None)


class _Transitions(_Wire):
    paid_at: LenientMoment = None


class _Object(_Intent, _Charge):
    """The fields read from the event's object: a Charge, PaymentIntent, Session or Invoice."""

    object: LenientText = None
    payment_intent: Annotated[str | _Intent | None, lenient] = None  # Session; Charge: an id
    charge: _ChargeRef = None  # Invoice
    payment_method_types: Annotated[tuple[str, ...], lenient_tuple] = ()
    customer_details: Annotated[_Named | None, lenient] = None  # Checkout Session
    customer_name: LenientText = None  # Invoice
    status_transitions: Annotated[_Transitions | None, lenient] = None  # Invoice


def read_payment(document: Mapping[str, Any], occurred_at: datetime) -> Payment | None:
    """How the payment in the event's `data.object` was made (module docstring); None when it
    says nothing about it. Never raises."""
    source = _Object.model_validate(document)
    charge = _charge_of(source)
    method = (charge.payment_method_details if isinstance(charge, _Charge) else None) or _Method()
    sole = source.payment_method_types[0] if len(source.payment_method_types) == 1 else None
    kind = _kind(method.type or sole)
    card = method.card_used()
    billing = (charge.billing_details if isinstance(charge, _Charge) else None) or _Named()
    customer = source.customer_details or _Named()
    paypal_name = method.paypal.payer_name if method.paypal is not None else None
    transitions = source.status_transitions or _Transitions()
    return build_payment(
        gateway=GATEWAY,
        kind=kind,
        card_brand=_BRANDS.get(card.brand or "", card.brand),
        card_last4=card.last4,
        transaction_id=charge.id if isinstance(charge, _Charge) else charge,
        payer_name=paypal_name or billing.name or customer.name or source.customer_name,
        paid_at=transitions.paid_at or occurred_at,
    )


def _charge_of(source: _Object) -> str | _Charge | None:
    """The charge that took the money: the object itself, or the one it names."""
    if source.object == "charge":
        return source
    if source.object == "invoice":
        return source.charge
    intent = source.payment_intent
    return intent.charged() if isinstance(intent, _Intent) else source.charged()


def _kind(method: str | None) -> PaymentKind | None:
    if method is None:
        return None
    return _METHOD_KINDS.get(method, "other")
