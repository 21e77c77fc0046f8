"""Stripe: verify `Stripe-Signature`; map payment and refund events onto canonical orders.

Pure (shared/webhooks.md 3). Minor-unit integers become exact Decimals: JPY 5000 -> 5000.

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
`refunds.data` id, else `<charge id>:<amount_refunded>` (cumulative, so each partial refund has
its own id).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from handlers.errors import InvalidPayload, InvalidSignature
from handlers.sources import Parsed
from handlers.sources.jsonbody import header, invalid, load_object
from handlers.sources.stripe_payment import read_payment
from worker.domain.events import CurrencyCode, Customer, EventKind, Line, Order, Payment, Refund
from worker.domain.money import from_minor_units
from worker.domain.text import clean_identifier, wire_text

NAME = "stripe"
#: Seconds a signature's timestamp may lie before or after `now` (the SDK's default).
TOLERANCE_S = 300
#: Payment types: (amount fields, then order-id fields after metadata.order_id); first set wins.
_CAPTURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "payment_intent.succeeded": (("amount_received", "amount"), ("id",)),
    "charge.succeeded": (("amount_captured", "amount"), ("payment_intent", "id")),
    "checkout.session.completed": (("amount_total",),
                                   ("client_reference_id", "payment_intent", "id")),
    "invoice.paid": (("amount_paid",), ("id",)),
}  # fmt: skip


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
    matched = False
    for key in keys:  # no early exit: the time taken does not tell which secret matched
        expected = _digest(body, key, timestamp)
        for candidate in candidates:
            matched = hmac.compare_digest(expected, candidate) or matched
    if not matched:
        raise InvalidSignature("no v1 signature in Stripe-Signature matches the body")
    if abs(now.timestamp() - int(timestamp)) > TOLERANCE_S:  # a replay, or a skewed clock
        raise InvalidSignature("timestamp outside tolerance")


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


#: Integer minor units; below 10**18 so that Decimal's 28 digits keep every amount exact.
_Minor = Annotated[int, Field(strict=True, ge=0, lt=10**18)]
_Text = Annotated[str | None, BeforeValidator(wire_text)]  #: cleaned; blank is None
#: an expandable field's id: the id itself, or an expanded object's `id` (a relayed object)
_Expandable = Annotated[str | None, BeforeValidator(wire_text), BeforeValidator(
    lambda value: value.get("id") if isinstance(value, dict) else value)]  # fmt: skip
_T = TypeVar("_T")
_Model = TypeVar("_Model", bound=BaseModel)


class _Wire(BaseModel):  # only the fields we read; the rest is ignored
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)


class _Event(_Wire):
    id: str = Field(pattern=r"^evt_[A-Za-z0-9_]+$")
    object: Literal["event"]
    type: str = Field(min_length=1)
    created: datetime  #: unix seconds; pydantic makes them an aware UTC datetime
    data: dict[str, Any]  #: `object`, and `previous_attributes` (old values of changed fields)


class _Address(_Wire):
    line1: _Text = None
    line2: _Text = None
    city: _Text = None
    postal_code: _Text = None
    country: _Text = None


class _Person(_Wire):  # billing_details, shipping, customer_details
    name: _Text = None
    email: _Text = None
    phone: _Text = None
    address: _Address = _Address()


class _List(_Wire, Generic[_T]):
    data: tuple[_T, ...] = ()
    has_more: bool = False  #: only the first entries are inlined; the rest needs the API


class _RefundItem(_Wire):
    id: str = Field(min_length=1)
    amount: _Minor
    reason: _Text = None
    created: datetime | None = None


class _InvoiceLine(_Wire):
    description: _Text = None
    amount: int = Field(strict=True)  # the line's total; negative for credits and prorations
    quantity: int | None = Field(default=None, strict=True)

    def text(self, number: int) -> str:
        """The description with the quantity as a suffix (`amount` is the line's total, so the
        canonical line has quantity 1), unless Stripe's own `3 × …` prefix already says it."""
        text = self.description or f"Invoice line {number}"
        told = (self.quantity or 1) < 2 or text.startswith(f"{self.quantity} ×")
        return text if told else f"{text} × {self.quantity}"


class _Payment(_Wire):
    """The fields read from a PaymentIntent, Charge, Checkout Session or Invoice."""

    id: str = Field(min_length=1)
    currency: CurrencyCode
    created: datetime
    metadata: dict[str, str] = {}
    description: _Text = None
    number: _Text = None  # Invoice
    amount: _Minor | None = None  # PaymentIntent, Charge
    amount_received: _Minor | None = None  # PaymentIntent
    amount_captured: _Minor | None = None  # Charge
    amount_refunded: _Minor = 0  # Charge, cumulative
    amount_total: _Minor | None = None  # Checkout Session
    amount_paid: _Minor | None = None  # Invoice
    captured: bool = True  # Charge: False for an authorisation only
    payment_status: str | None = None  # Checkout Session: paid, unpaid, no_payment_required
    payment_intent: _Expandable = None
    client_reference_id: _Text = None
    billing_details: _Person | None = None  # Charge
    customer_details: _Person | None = None  # Checkout Session
    shipping: _Person | None = None  # PaymentIntent
    customer_name: _Text = None  # Invoice
    customer_email: _Text = None
    customer_address: _Address = _Address()
    receipt_email: _Text = None
    refunds: _List[_RefundItem] = _List()  # Charge; not expanded by default since 2022-11-15
    lines: _List[_InvoiceLine] = _List()  # Invoice

    def first(self, fields: tuple[str, ...]) -> Any:
        """The first of `fields` that is set; InvalidPayload naming the last if none is."""
        value = next((getattr(self, f) for f in fields if getattr(self, f) is not None), None)
        if value is None:
            raise InvalidPayload(f"data.object.{fields[-1]}: missing")
        return value

    def meta(self, key: str) -> str | None:
        return clean_identifier(self.metadata.get(key, "")) or None


class _Previous(_Wire):
    amount_refunded: _Minor = 0


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """Read one event; the types in the module docstring become payments or refunds.

    Raises `MalformedBody` (not a UTF-8 JSON object) or `InvalidPayload` (not a Stripe event,
    or an ill-typed field: the detail names the field path, never its value).
    """
    event = _validate(_Event, load_object(body), "")
    if not isinstance(event.data.get("object"), dict):
        raise InvalidPayload("data.object: missing, or not an object")
    base = Parsed(dedupe_key=event.id, topic=event.type, kind=None, occurred_at=event.created)
    if event.type != "charge.refunded" and event.type not in _CAPTURES:
        return base
    payment = _validate(_Payment, event.data["object"], "data.object")
    if event.type == "charge.refunded":
        return _refunded(event, payment, base)
    unpaid = event.type.startswith("checkout.") and payment.payment_status != "paid"
    if unpaid or not payment.captured:  # a delayed method, or an authorisation only
        return base  # they end in checkout.session.async_payment_succeeded, charge.captured
    amounts, references = _CAPTURES[event.type]
    paid_with = read_payment(event.data["object"], event.created)
    return _captured(base, payment, payment.first(references), payment.first(amounts), paid_with)


def _captured(base: Parsed, payment: _Payment, reference: str, minor: int,
              paid_with: Payment | None) -> Parsed:  # fmt: skip
    """A PAYMENT_CAPTURED result: a paid, VAT-inclusive order for the amount taken, and how it
    was paid (handlers.sources.stripe_payment)."""
    order_id = payment.meta("order_id") or reference
    try:
        order = Order(
            order_id=order_id, number=payment.meta("order_number") or payment.number or reference,
            currency=payment.currency, prices_include_tax=True, paid=True,
            total=from_minor_units(minor, payment.currency),
            lines=_lines(payment, reference, minor),
            customer=_customer(payment), created_at=payment.created, payment_gateway=NAME,
            payment=paid_with,
        )  # fmt: skip
    except ValidationError as exc:
        raise invalid(exc, "order") from None
    return replace(base, kind=EventKind.PAYMENT_CAPTURED, order=order, order_id=order_id)


def _lines(payment: _Payment, reference: str, minor: int) -> tuple[Line, ...]:
    """An invoice's own lines when all are inlined, none is a credit and they add up to the
    amount (no tax on top, discount or customer balance); else one line for the amount."""
    amounts = [line.amount for line in payment.lines.data]
    if payment.lines.has_more or min(amounts, default=-1) < 0 or sum(amounts) != minor:
        text = payment.description or payment.meta("description") or (
            f"Invoice {payment.number}" if payment.number else f"Payment {reference}")  # fmt: skip
        amount = from_minor_units(minor, payment.currency)
        return (Line(description=text, quantity=Decimal(1), unit_price=amount),)
    return tuple(
        Line(description=line.text(n), quantity=Decimal(1),
             unit_price=from_minor_units(line.amount, payment.currency))
        for n, line in enumerate(payment.lines.data, start=1)
    )  # fmt: skip


def _customer(payment: _Payment) -> Customer:
    """The buyer: billing details, Checkout's customer details, shipping, or the invoice's."""
    person = payment.billing_details or payment.customer_details or payment.shipping or _Person(
        name=payment.customer_name, address=payment.customer_address)  # fmt: skip
    email = (person.email or payment.receipt_email or payment.customer_email
             or payment.meta("customer_email"))  # fmt: skip
    street = ", ".join(filter(None, (person.address.line1, person.address.line2))) or None
    return Customer(name=person.name or payment.meta("customer_name") or email or "Customer",
                    email=email, phone=person.phone, address=street, city=person.address.city,
                    postcode=person.address.postal_code,
                    country=person.address.country)  # fmt: skip


def _refunded(event: _Event, charge: _Payment, base: Parsed) -> Parsed:
    """A REFUND_ISSUED result for the newest refund, or for the rise of `amount_refunded`."""
    previous = event.data.get("previous_attributes") or {}
    before = _validate(_Previous, previous, "data.previous_attributes")
    # Stripe lists refunds newest first, and max keeps the first of equal timestamps
    newest = max(charge.refunds.data, key=lambda r: r.created or event.created, default=None)
    if newest is None:  # not expanded: this refund is what the cumulative amount rose by
        minor = charge.amount_refunded - before.amount_refunded
        if minor <= 0:
            raise InvalidPayload("data.object.amount_refunded: not above its previous value")
        newest = _RefundItem(id=f"{charge.id}:{charge.amount_refunded}", amount=minor)
    try:
        refund = Refund(refund_id=newest.id, currency=charge.currency, reason=newest.reason,
                        amount=from_minor_units(newest.amount, charge.currency),
                        created_at=newest.created or event.created)  # fmt: skip
    except ValidationError as exc:
        raise invalid(exc, "refund") from None
    order_id = charge.meta("order_id") or charge.payment_intent or charge.id
    return replace(base, kind=EventKind.REFUND_ISSUED, order_id=order_id, refund=refund)


def _validate(model: type[_Model], data: object, prefix: str) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc, prefix) from None


def detect_ping(body: bytes, headers: Mapping[str, str]) -> Parsed | None:
    """Stripe sends no unsigned set-up ping; every delivery is verified."""
    return None
