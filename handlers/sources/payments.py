"""How an order was paid, as the sources read it: lenient wire fields, the kind a gateway
name stands for, and the canonical `Payment` (worker/domain/events.py).

Payment details never make an order unreadable. A wire field of the wrong shape reads as
None (`LenientText`, `lenient`), and a value `Payment` refuses (an id longer than 255
characters, a name of thousands) is dropped while the rest is kept (`build_payment`). No card
data gets through: `Payment` keeps only the last four digits of a card, and a card number in
an id or a name is masked to its last four.

`gateway_kind` reads the Shopify gateway names and WooCommerce gateway ids, case-insensitively:
card processors (``shopify_payments``, ``stripe``, ``woocommerce_payments``, ...) are "card";
a name with "paypal" in it, or WooCommerce PayPal Payments' ``ppcp-gateway``, is "paypal"
(its ``ppcp-credit-card-gateway`` takes cards: "card"); ``bacs`` and Shopify's manual "Bank
Deposit" are "bank_transfer"; ``cod``, "Cash on Delivery (COD)" and POS ``cash`` are "cash";
cheques, money orders and gift cards are "other". A name it does not know (a shop's own manual
method, Shopify's ``manual``, most local gateways) is None: the tenant's settings decide.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationError, ValidatorFunctionWrapHandler, WrapValidator

from worker.domain.events import Payment, PaymentKind
from worker.domain.text import wire_text


def _or_none(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    try:
        return handler(value)
    except ValidationError:
        return None


def _or_empty(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    try:
        return handler(value)
    except ValidationError:
        return ()


#: wraps a wire field so that a value of the wrong shape reads as None (a tuple's as ())
lenient = WrapValidator(_or_none)
lenient_tuple = WrapValidator(_or_empty)
#: text (or a number, in a model that coerces numbers to str), cleaned; blank or ill-typed: None
LenientText = Annotated[str | None, BeforeValidator(wire_text), lenient]
#: a moment the wire gives as ISO-8601 text or unix seconds; unreadable: None
LenientMoment = Annotated[datetime | None, lenient]

#: gateway names and ids, lower-cased, and what they stand for
_KINDS: dict[str, PaymentKind] = {
    **dict.fromkeys(
        (
            "shopify_payments",
            "stripe",
            "woocommerce_payments",
            "authorize_net",
            "braintree",
            "braintree_credit_card",
            "square_credit_card",
            "ppcp-credit-card-gateway",
            "bogus",
            "visa",
        ),  # Shopify's test gateway, and its test notification's names
        "card",
    ),
    **dict.fromkeys(("ppcp-gateway", "ppec_paypal"), "paypal"),
    **dict.fromkeys(("bacs", "bank deposit", "stripe_sepa", "stripe_sepa_debit"), "bank_transfer"),
    **dict.fromkeys(("cod", "cash on delivery (cod)", "cash"), "cash"),
    **dict.fromkeys(("cheque", "money order", "gift_card"), "other"),
}
#: parts of a name that say the kind when the whole name is not known
_HINTS: tuple[tuple[str, PaymentKind], ...] = (
    ("paypal", "paypal"),
    ("cash on delivery", "cash"),
    ("bank deposit", "bank_transfer"),
    ("bank transfer", "bank_transfer"),
    ("wire transfer", "bank_transfer"),
)


def gateway_kind(name: str | None) -> PaymentKind | None:
    """What a gateway name or id says the method was (module docstring), or None."""
    if not name:
        return None
    folded = " ".join(name.casefold().split())
    known = _KINDS.get(folded)
    if known is not None:
        return known
    return next((kind for hint, kind in _HINTS if hint in folded), None)


def build_payment(
    *,
    gateway: str | None = None,
    kind: PaymentKind | None = None,
    card_brand: object = None,
    card_last4: object = None,
    transaction_id: object = None,
    payer_name: object = None,
    paid_at: datetime | None = None,
) -> Payment | None:
    """The canonical Payment of what a source found; None when it found nothing of how the
    order was paid (a payer's name or a time alone is not a payment).

    A value `Payment` refuses is left out, the rest kept: this never raises."""
    fields: dict[str, Any] = {
        "gateway": gateway,
        "kind": kind,
        "card_brand": card_brand,
        "card_last4": card_last4,
        "transaction_id": transaction_id,
        "payer_name": payer_name,
        "paid_at": paid_at,
    }
    found = {name: value for name, value in fields.items() if value is not None}
    while found.keys() & {"gateway", "kind", "card_brand", "card_last4", "transaction_id"}:
        try:
            return Payment.model_validate(found)
        except ValidationError as exc:
            refused = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            if not refused & found.keys():  # not a field's fault: give up on the payment
                return None
            found = {name: value for name, value in found.items() if name not in refused}
    return None
