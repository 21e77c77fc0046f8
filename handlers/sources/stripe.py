"""Stripe: verify `Stripe-Signature`; map payment and refund events onto canonical orders.

Pure (shared/webhooks.md 3). Minor-unit integers become exact Decimals by Stripe's own
exponents, which are not ISO 4217's everywhere (worker.domain.money.stripe_exponent): JPY 5000
-> 5000, ISK 500 -> 5, MGA 5000 -> 5000. The wire models and which of their fields may be null
(from Stripe's OpenAPI specification) are in handlers.sources.stripe_wire.

    payment_intent.succeeded     PAYMENT_CAPTURED   order id: metadata.order_id, else id
    charge.succeeded             PAYMENT_CAPTURED   metadata.order_id, payment_intent, id
    checkout.session.completed   PAYMENT_CAPTURED   metadata.order_id, client_reference_id,
                                                    payment_intent, id
    invoice.paid                 PAYMENT_CAPTURED   metadata.order_id, id
    charge.refunded              REFUND_ISSUED      as charge.succeeded; no order snapshot
    other types, uncaptured charges, unpaid sessions: kind None (recorded, ignored)

A payment is a paid order of one VAT-inclusive line for the amount taken (an invoice keeps its
lines when they add up to `amount_paid`), with how it was paid (card brand and last four,
charge id, payer: handlers.sources.stripe_payment). A PaymentIntent and its charge (which gets
a copy of its metadata) share an order id: their two events make one document. A Checkout
Session or Invoice passes no metadata to its PaymentIntent: subscribed to both, set
`metadata.order_id` on both or one payment makes two orders. A refund's id is the newest
`refunds.data` id (API versions before 2022-11-15 include the list), else
`<charge id>:<amount_refunded>` for the rise of `amount_refunded` over
`previous_attributes.amount_refunded` (cumulative, so each partial refund has its own id and a
redelivery, under any event id, the same one).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from functools import partial

from pydantic import ValidationError

from handlers.errors import InvalidPayload, InvalidSignature
from handlers.sources import Identity, Parsed
from handlers.sources.jsonbody import header, invalid, load_object, validate
from handlers.sources.signing import TOLERANCE_S as TOLERANCE_S
from handlers.sources.signing import check_signed
from handlers.sources.stripe_payment import read_payment
from handlers.sources.stripe_wire import Address, Event, Payment, Person, Previous, RefundItem
from worker.domain.events import Customer, EventKind, Line, Order, Refund
from worker.domain.events import Payment as PaidWith
from worker.domain.money import from_stripe_minor_units

NAME = "stripe"
#: Payment types: (amount fields, then order-id fields after metadata.order_id); first set wins.
_CAPTURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "payment_intent.succeeded": (("amount_received", "amount"), ("id",)),
    "charge.succeeded": (("amount_captured", "amount"), ("payment_intent", "id")),
    "checkout.session.completed": (
        ("amount_total",),
        ("client_reference_id", "payment_intent", "id"),
    ),
    "invoice.paid": (("amount_paid",), ("id",)),
}


#: the event types we act on: a refund, and the captures
_ACTED_ON = frozenset({"charge.refunded", *_CAPTURES})


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` value Stripe sends: `t=<ts>,v1=<hex HMAC-SHA256 of "t.body">`."""
    return f"t={timestamp},v1={_digest(body, secret, str(timestamp))}"


def _digest(body: bytes, secret: str, timestamp: str) -> str:
    # the whsec_ string itself is the key, unlike Standard Webhooks (shared/webhooks.md 3.1)
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime) -> None:
    """Accept if any `v1` signature matches any secret and `t` is within `TOLERANCE_S` of now.

    Non-v1 schemes (the test-mode `v0` decoy) are ignored. Raises `InvalidSignature`, whose
    detail never holds a secret or a digest.
    """
    signature = header(headers, "Stripe-Signature", invalid=InvalidSignature)
    if signature is None:
        raise InvalidSignature("missing Stripe-Signature header")
    timestamp, candidates = _split_header(signature)
    keys = [secret for secret in secrets if secret]  # an empty key signs for anyone
    if not keys:
        raise InvalidSignature("no Stripe signing secret is configured")
    sign = partial(_digest, body, timestamp=timestamp)
    check_signed(keys, candidates, sign, timestamp, now, header="Stripe-Signature")


def _split_header(header: str) -> tuple[str, list[str]]:
    """`t` and the v1 values of `t=…,v1=…,v0=…`: split on ",", then on the first "="."""
    items = [[part.strip() for part in item.partition("=")[::2]] for item in header.split(",")]
    timestamp = next((value for scheme, value in items if scheme == "t"), "")
    candidates = [v for k, v in items if k == "v1" and v.isascii()]  # compare_digest: ASCII only
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise InvalidSignature("Stripe-Signature has no unix timestamp t=")
    if not candidates:
        raise InvalidSignature("Stripe-Signature has no v1 signature")
    return timestamp, candidates


def identify(body: bytes, headers: Mapping[str, str]) -> Identity:
    """The event's id and type, and whether the type is one we act on (the module
    docstring). Raises `MalformedBody` (not a UTF-8 JSON object) or `InvalidPayload` (not a
    Stripe event)."""
    document = load_object(body)
    event = validate(Event, document, "")
    return Identity(event.id, event.type, event.type in _ACTED_ON, document, event.created)


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """Read one event; the types in the module docstring become payments or refunds.

    Raises `MalformedBody` (not a UTF-8 JSON object) or `InvalidPayload` (not a Stripe event,
    or an ill-typed field: the detail names the field path, never its value).
    """
    event = validate(Event, load_object(body), "")
    if not isinstance(event.data.get("object"), dict):
        raise InvalidPayload("data.object: missing, or not an object")
    base = Parsed(dedupe_key=event.id, topic=event.type, kind=None, occurred_at=event.created)
    if event.type not in _ACTED_ON:
        return base
    payment = validate(Payment, event.data["object"], "data.object")
    if event.type == "charge.refunded":
        return _refunded(event, payment, base)
    unpaid = event.type.startswith("checkout.") and payment.payment_status != "paid"
    if unpaid or not payment.captured:  # a delayed method, or an authorisation only
        return base  # they end in checkout.session.async_payment_succeeded, charge.captured
    return _captured(base, event, payment, read_payment(event.data["object"], event.created))


def _captured(base: Parsed, event: Event, payment: Payment, paid_with: PaidWith | None) -> Parsed:
    """A PAYMENT_CAPTURED result: a paid, VAT-inclusive order for the amount taken, and how it
    was paid (handlers.sources.stripe_payment). Dated by the object's `created`, else (a Checkout
    Session of an older API version has none) by the event's."""
    amounts, references = _CAPTURES[event.type]
    reference, minor = payment.first(references), payment.first(amounts)
    order_id = payment.meta("order_id") or reference
    currency = payment.money()
    try:
        order = Order(
            order_id=order_id,
            number=payment.meta("order_number") or payment.number or reference,
            currency=currency,
            prices_include_tax=True,
            paid=True,
            total=from_stripe_minor_units(minor, currency),
            lines=_lines(payment, currency, reference, minor),
            customer=_customer(payment),
            created_at=payment.created or event.created,
            payment_gateway=NAME,
            payment=paid_with,
        )
    except ValidationError as exc:
        raise invalid(exc, "order") from None
    return replace(base, kind=EventKind.PAYMENT_CAPTURED, order=order, order_id=order_id)


def _lines(payment: Payment, currency: str, reference: str, minor: int) -> tuple[Line, ...]:
    """An invoice's own lines when all are inlined, none is a credit and they add up to the
    amount (no tax on top, discount or customer balance); else one line for the amount."""
    amounts = [line.amount for line in payment.lines.data]
    if payment.lines.has_more or min(amounts, default=-1) < 0 or sum(amounts) != minor:
        text = (
            payment.description
            or payment.meta("description")
            or (f"Invoice {payment.number}" if payment.number else f"Payment {reference}")
        )
        amount = from_stripe_minor_units(minor, currency)
        return (Line(description=text, quantity=Decimal(1), unit_price=amount),)
    return tuple(
        Line(
            description=line.text(n),
            quantity=Decimal(1),
            unit_price=from_stripe_minor_units(line.amount, currency),
        )
        for n, line in enumerate(payment.lines.data, start=1)
    )


def _customer(payment: Payment) -> Customer:
    """The buyer: billing details, Checkout's customer details, shipping, or the invoice's."""
    person = (
        payment.billing_details
        or payment.customer_details
        or payment.shipping
        or Person(name=payment.customer_name, address=payment.customer_address)
    )
    email = (
        person.email
        or payment.receipt_email
        or payment.customer_email
        or payment.meta("customer_email")
    )
    address = person.address or Address()  # null when no address was collected
    street = ", ".join(filter(None, (address.line1, address.line2))) or None
    return Customer(
        name=person.name or payment.meta("customer_name") or email or "Customer",
        email=email,
        phone=person.phone,
        address=street,
        city=address.city,
        postcode=address.postal_code,
        country=address.country,
    )


def _refunded(event: Event, charge: Payment, base: Parsed) -> Parsed:
    """A REFUND_ISSUED result for the newest refund, or for the rise of `amount_refunded`."""
    previous = event.data.get("previous_attributes") or {}
    before = validate(Previous, previous, "data.previous_attributes")
    listed = charge.refunds.data if charge.refunds is not None else ()  # absent, null or []
    # Stripe lists refunds newest first, and max keeps the first of equal timestamps
    newest = max(listed, key=lambda r: r.created or event.created, default=None)
    to_date = None
    if newest is None:  # not included: this refund is what the cumulative amount rose by
        minor = charge.amount_refunded - before.amount_refunded
        if minor <= 0:
            raise InvalidPayload("data.object.amount_refunded: not above its previous value")
        newest = RefundItem(id=f"{charge.id}:{charge.amount_refunded}", amount=minor)
        if "amount_refunded" not in previous:  # nor the previous value: the worker subtracts
            to_date = charge.amount_refunded  # the refunds it already holds (`refunds.added`)
    currency = charge.money()
    try:
        refund = Refund(
            refund_id=newest.id,
            currency=currency,
            reason=newest.reason,
            amount=from_stripe_minor_units(newest.amount, currency),
            created_at=newest.created or event.created,
            refunded_to_date=None
            if to_date is None
            else from_stripe_minor_units(to_date, currency),
        )
    except ValidationError as exc:
        raise invalid(exc, "refund") from None
    order_id = charge.meta("order_id") or charge.payment_intent or charge.id
    return replace(base, kind=EventKind.REFUND_ISSUED, order_id=order_id, refund=refund)


def detect_ping(body: bytes, headers: Mapping[str, str]) -> Parsed | None:
    """Stripe sends no unsigned set-up ping; every delivery is verified."""
    return None
