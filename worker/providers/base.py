"""The provider interface: what the worker needs from an invoicing service.

Each provider package (`icount`, `idoklad`, `icash`) has a pure `wire` module, a
thin `client`, and a `provider` module whose class satisfies `Provider` (each
one's local sandbox is in `sandboxes/`). The generic step runner
(`worker.jobs.runner`) makes every provider exactly-once, whatever its own
guarantees:

- `idempotent_create`: the service itself refuses a second document for the same
  reference (iCount `sanity_string`), so a retry simply repeats the create, and the
  provider answers with the first document (whether the service returns it or refuses
  the repeat and the provider finds it); otherwise the runner looks the document up by
  our reference before creating, and again after an ambiguous failure.
- `emails_on_create`: the create call emails the customer; otherwise the planner
  adds an email step, which `email_document` carries out (or SMTP, when the
  provider has `can_email = False`).

Errors are those of `worker.errors`: Retryable / RateLimited / Permanent /
OutcomeUnknown (a mutating call whose answer was lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from worker.domain.events import Customer, Order
from worker.settings import DocumentSettings

DocumentKind = Literal["invoice", "invrec", "receipt", "refund"]


@dataclass(frozen=True)
class Capabilities:
    idempotent_create: bool  #: the service refuses duplicates of one reference itself
    emails_on_create: bool  #: creating with `email=True` emails the customer
    can_email: bool  #: `email_document` works (else the runner sends the PDF by SMTP)
    can_cancel: bool = True
    can_charge: bool = False  #: stored-card charges (iCount cc/bill; the money issue)


class DocumentRef(BaseModel):
    """What the worker keeps about a document a provider made (or already had)."""

    model_config = ConfigDict(frozen=True)

    doctype: str  #: the provider's own document type
    docnum: str  #: the number people see
    doc_id: str | None = None  #: the provider's internal id, where it has one
    doc_url: str | None = None
    client_id: str | None = None
    total: Decimal | None = None
    vat: Decimal | None = None  #: the VAT the document shows, when the provider says
    emailed: bool = False
    card_type: str | None = None  #: a card charge's card type ("VISA"); never the number


@dataclass(frozen=True)
class DocumentRequest:
    """One document to make: an order (or a refund shaped as one) as a given kind."""

    kind: DocumentKind
    order: Order
    reference: str  #: ours, stable per tenant+order+step: the lookup key for retries
    email: bool
    documents: DocumentSettings
    issue_date: date
    based_on: DocumentRef | None = None  #: the invoice a receipt or credit note refers to
    customer_id: str | None = None  #: from `ensure_customer`, for services that need one
    charge: ChargeRef | None = None  #: the card charge an invoice-receipt records


@dataclass(frozen=True)
class DocumentHint:
    """What else is known of a document looked up by our reference: the day it was issued
    for and the customer it was made out to. A service that cannot search by our reference
    (iCount `doc/search`) narrows its search with it; the others ignore it. `order` is what
    the document must show: a provider that checks a document it made against the shop's
    order (iCash) checks a found one too."""

    issue_date: date
    customer: Customer
    order: Order | None = None

    @classmethod
    def of(cls, request: DocumentRequest) -> DocumentHint:
        """The hint for the document `request` makes (or made, on an earlier attempt)."""
        return cls(
            issue_date=request.issue_date, customer=request.order.customer, order=request.order
        )


@dataclass(frozen=True)
class ChargeOrder:
    """Charge `amount` to the stored card of `customer_ref`, once: `reference` goes into
    the transaction's description so a lost answer can be looked up."""

    reference: str
    amount: Decimal
    currency: str
    customer_ref: str
    num_of_payments: int = 1
    first_payment: Decimal | None = None
    customer_name: str = ""


class ChargeRef(BaseModel):
    """A card transaction the provider made. Only what a receipt needs: no card data."""

    model_config = ConfigDict(frozen=True)

    confirmation_code: str
    amount: Decimal
    currency: str
    num_of_payments: int = 1
    first_payment: Decimal | None = None
    card_type: str | None = None  #: e.g. "VISA"; never the number
    transaction_id: str | None = None


class Provider(Protocol):
    """An invoicing service, reached through its client. Every call may raise the
    errors of `worker.errors`."""

    capabilities: Capabilities

    async def ensure_customer(self, customer: Customer) -> str | None:
        """Find or create the customer; its id, or None where documents carry the name."""
        ...

    async def create_document(self, request: DocumentRequest) -> DocumentRef: ...

    async def find_document(
        self, kind: DocumentKind, reference: str, *, hint: DocumentHint | None = None
    ) -> DocumentRef | None:
        """The document made earlier for `reference`, if the service has it. `hint` narrows
        the search where the service has no filter for our reference (iCount); a provider
        that needs it answers None without it."""
        ...

    async def email_document(self, ref: DocumentRef, to: str) -> None: ...

    async def document_pdf(self, ref: DocumentRef) -> bytes:
        """The document as PDF bytes, for the SMTP fallback."""
        ...

    async def cancel_document(self, ref: DocumentRef, reason: str) -> None:
        """Cancel (never delete); cancelling a cancelled document is not an error."""
        ...


class ChargingProvider(Provider, Protocol):
    """A provider with `can_charge`: it bills stored cards and finds its transactions."""

    async def charge(self, order: ChargeOrder) -> ChargeRef:
        """Bill the stored card. A decline is `Permanent` with the reason; a lost answer
        `OutcomeUnknown` (look the transaction up before anything else)."""
        ...

    async def find_charge(self, reference: str) -> ChargeRef | None:
        """The transaction made for `reference`, if the provider shows one."""
        ...
