"""Reading Stripe's wire format: the event envelope and the fields we read of a PaymentIntent,
Charge, Checkout Session, Invoice and Refund (`handlers.sources.stripe` maps them).

Pure. Which fields may be null comes from Stripe's OpenAPI specification, not from examples:
repository stripe/openapi, `openapi/spec3.yaml` at commit
63a674638635c68de26b9f3add13e58198f4df44 (2023-09-12, API version 2023-08-16), cross-checked
against the types stripe/stripe-python generates from it (`stripe/_invoice.py`,
`stripe/_charge.py`, `stripe/checkout/_session.py`, ... at commit
6c6e3736d16dde7a2f0155379ea3cd99b976460b, 2026-07-24). Every field read here that the
specification marks `nullable: true` takes null (tests/fixtures/stripe/spec_fields.json lists
every field we read and its flag; tests/unit/test_stripe_real.py sends null in each nullable
one):

    schema             nullable fields read here
    invoice            metadata description number payment_intent customer_name
                       customer_email customer_address; lines.data[].description, .quantity
    charge             description payment_intent receipt_email billing_details.{name,email,
                       phone,address} shipping shipping.phone refunds; refunds.data[].reason
    payment_intent     description receipt_email shipping shipping.phone
    checkout.session   currency metadata amount_total payment_intent client_reference_id
                       customer_email customer_details customer_details.{name,email,phone,
                       address}
    address            line1 line2 city postal_code country (all of them, wherever it sits)

A null reads as absent: an empty metadata, no address, no refunds list. Where the mapping needs
the value (a paid session's `currency` and `amount_total`), its absence is a 422 naming the
field. A field missing from older API versions is optional as well: a Checkout Session's
`created` (the event's `created` stands in). The nullable fields handlers.sources.stripe_payment
reads (a charge's payment_method_details, card brand and last four, PayPal payer_name;
latest_charge; an invoice's charge and status_transitions.paid_at) are lenient there: null, like
any ill-typed value, is absent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from handlers.errors import InvalidPayload
from worker.domain.events import CurrencyCode
from worker.domain.text import clean_identifier, wire_text

_T = TypeVar("_T")


def _no_metadata(value: object) -> object:
    """`metadata: null` (a Checkout Session's or an Invoice's) is no metadata."""
    return {} if value is None else value


#: Integer minor units; below 10**18 so that Decimal's 28 digits keep every amount exact.
Minor = Annotated[int, Field(strict=True, ge=0, lt=10**18)]
Text = Annotated[str | None, BeforeValidator(wire_text)]  #: cleaned; blank is None
#: an expandable field's id: the id itself, or an expanded object's `id` (a relayed object)
Expandable = Annotated[
    str | None,
    BeforeValidator(wire_text),
    BeforeValidator(lambda value: value.get("id") if isinstance(value, dict) else value),
]
Metadata = Annotated[dict[str, str], BeforeValidator(_no_metadata)]


class Wire(BaseModel):  # only the fields we read; the rest is ignored
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)


class Event(Wire):
    id: str = Field(pattern=r"^evt_[A-Za-z0-9_]+$")
    object: Literal["event"]
    type: str = Field(min_length=1)
    created: datetime  #: unix seconds; pydantic makes them an aware UTC datetime
    data: dict[str, Any]  #: `object`, and `previous_attributes` (old values of changed fields)


class Address(Wire):
    line1: Text = None
    line2: Text = None
    city: Text = None
    postal_code: Text = None
    country: Text = None


class Person(Wire):  # billing_details, shipping, customer_details
    name: Text = None
    email: Text = None
    phone: Text = None
    address: Address | None = None  # nullable in billing_details and customer_details


class ListObject(Wire, Generic[_T]):
    data: tuple[_T, ...] = ()
    has_more: bool = False  #: only the first entries are inlined; the rest needs the API


class RefundItem(Wire):
    id: str = Field(min_length=1)
    amount: Minor
    reason: Text = None
    created: datetime | None = None


class InvoiceLine(Wire):
    description: Text = None
    amount: int = Field(strict=True)  # the line's total; negative for credits and prorations
    quantity: int | None = Field(default=None, strict=True)

    def text(self, number: int) -> str:
        """The description with the quantity as a suffix (`amount` is the line's total, so the
        canonical line has quantity 1), unless Stripe's own `3 × …` prefix already says it."""
        text = self.description or f"Invoice line {number}"
        told = (self.quantity or 1) < 2 or text.startswith(f"{self.quantity} ×")
        return text if told else f"{text} × {self.quantity}"


class Payment(Wire):
    """The fields read from a PaymentIntent, Charge, Checkout Session or Invoice."""

    id: str = Field(min_length=1)
    currency: CurrencyCode | None = None  # nullable on a Checkout Session
    created: datetime | None = None  # absent from Checkout Sessions of older API versions
    metadata: Metadata = {}
    description: Text = None
    number: Text = None  # Invoice
    amount: Minor | None = None  # PaymentIntent, Charge
    amount_received: Minor | None = None  # PaymentIntent
    amount_captured: Minor | None = None  # Charge
    amount_refunded: Minor = 0  # Charge, cumulative
    amount_total: Minor | None = None  # Checkout Session
    amount_paid: Minor | None = None  # Invoice
    captured: bool = True  # Charge: False for an authorisation only
    payment_status: str | None = None  # Checkout Session: paid, unpaid, no_payment_required
    payment_intent: Expandable = None
    client_reference_id: Text = None
    billing_details: Person | None = None  # Charge
    customer_details: Person | None = None  # Checkout Session
    shipping: Person | None = None  # PaymentIntent
    customer_name: Text = None  # Invoice
    customer_email: Text = None
    customer_address: Address | None = None  # Invoice: null when no address was collected
    receipt_email: Text = None
    refunds: ListObject[RefundItem] | None = (
        None  # Charge; not included by default since 2022-11-15
    )
    lines: ListObject[InvoiceLine] = ListObject()  # Invoice

    def first(self, fields: tuple[str, ...]) -> Any:
        """The first of `fields` that is set; InvalidPayload naming the last if none is."""
        value = next((getattr(self, f) for f in fields if getattr(self, f) is not None), None)
        if value is None:
            raise InvalidPayload(f"data.object.{fields[-1]}: missing")
        return value

    def meta(self, key: str) -> str | None:
        return clean_identifier(self.metadata.get(key, "")) or None

    def money(self) -> str:
        """The currency, which every payment and refund needs; InvalidPayload if it is null."""
        return str(self.first(("currency",)))


class Previous(Wire):
    amount_refunded: Minor = 0
