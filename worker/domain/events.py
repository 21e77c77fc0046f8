"""Canonical events: what every webhook source is parsed into, and what the queue carries.

Money is `Decimal` in the order's currency; nothing here is a float. The receiver
builds these from verified bytes; workers read them back from the ledger.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from worker.domain.money import quantize


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventKind(StrEnum):
    """What happened to an order, independent of the source that told us."""

    ORDER_CREATED = "order.created"
    ORDER_UPDATED = "order.updated"  #: a snapshot with no single meaning; the planner reads it
    ORDER_PAID = "order.paid"
    ORDER_CANCELLED = "order.cancelled"
    REFUND_ISSUED = "refund.issued"
    PAYMENT_CAPTURED = "payment.captured"  #: a payment processor took the money (Stripe)


#: kinds whose event must carry an order snapshot
SNAPSHOT_KINDS = frozenset({EventKind.ORDER_CREATED, EventKind.ORDER_UPDATED, EventKind.ORDER_PAID,
                            EventKind.ORDER_CANCELLED, EventKind.PAYMENT_CAPTURED})  # fmt: skip


class Customer(_Frozen):
    """The buyer as the document should name them."""

    name: str
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    vat_id: str | None = None
    address: str | None = None
    city: str | None = None
    postcode: str | None = None
    country: str | None = None


class Line(_Frozen):
    """One priced line of an order: a product, the shipping, or a fee.

    `unit_price` is the price as the shop lists it: VAT-inclusive when the
    order's `prices_include_tax` is true, VAT-exclusive otherwise. `discount`
    is the total discount allocated to the whole line (not per unit), in the
    same basis. `tax` is the VAT the shop computed for the line.
    """

    kind: Literal["item", "shipping", "fee"] = "item"
    description: str = Field(min_length=1)
    sku: str | None = None
    quantity: Decimal = Field(gt=0)
    unit_price: Decimal = Field(ge=0)
    discount: Decimal = Field(default=Decimal(0), ge=0)
    tax: Decimal = Field(default=Decimal(0), ge=0)
    tax_rate: Decimal | None = Field(default=None, ge=0, le=100)  #: percent, e.g. 18
    taxable: bool = True

    def gross(self, prices_include_tax: bool) -> Decimal:
        """What the customer pays for this line, VAT included, after its discount."""
        net_or_gross = self.unit_price * self.quantity - self.discount
        return net_or_gross if prices_include_tax else net_or_gross + self.tax


class Refund(_Frozen):
    """Money given back to the customer: one credit note each, keyed by `refund_id`.

    `amount` is what was returned, VAT included, in the order's currency. `lines`
    say what was refunded when the source tells us; their gross amounts then sum
    to `amount`. Without lines the credit note has one line for the amount.
    """

    refund_id: str = Field(min_length=1)
    amount: Decimal = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reason: str | None = None
    lines: tuple[Line, ...] = ()
    created_at: datetime | None = None

    @field_validator("currency", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class ChargeRequest(_Frozen):
    """Ask for the order's total to be charged to a card the customer stored at the provider.

    No card data travels or is stored: only whose stored card (`customer_ref`, the
    provider's client id) and how (installments). The worker fetches the stored
    card's token from the provider at charge time and never keeps it.
    """

    customer_ref: str = Field(min_length=1)
    num_of_payments: int = Field(default=1, ge=1, le=36)
    first_payment: Decimal | None = Field(default=None, gt=0)


class Order(_Frozen):
    """A shop order snapshot at the moment the event was sent."""

    order_id: str = Field(min_length=1)  #: the source's stable id
    number: str = Field(min_length=1)  #: what the merchant and the customer see, e.g. "#1001"
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    prices_include_tax: bool
    lines: tuple[Line, ...] = Field(min_length=1)
    total: Decimal = Field(ge=0)  #: the shop's grand total, VAT included
    total_tax: Decimal = Field(default=Decimal(0), ge=0)
    paid: bool
    customer: Customer
    created_at: datetime
    payment_gateway: str | None = None
    note: str | None = None
    cancelled: bool = False
    #: when the source last changed the order; orders snapshots so a stale one is spotted
    updated_at: datetime | None = None
    #: refunds the snapshot already shows (WooCommerce and Shopify list them on the order)
    refunds: tuple[Refund, ...] = ()
    #: charge a stored card for this unpaid order (when the tenant allows it)
    charge: ChargeRequest | None = None
    #: the order's exchange rate to the merchant's home currency, when the shop gives one
    exchange_rate: Decimal | None = Field(default=None, gt=0)

    @field_validator("currency", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def lines_total(self) -> Decimal:
        """Sum of the lines' gross amounts, rounded to the currency's smallest unit."""
        raw = sum((line.gross(self.prices_include_tax) for line in self.lines), Decimal(0))
        return quantize(raw, self.currency)


class OrderEvent(_Frozen):
    """A verified, parsed event about one order of one tenant; what workers act on.

    Order events carry the order snapshot; a refund event may carry only the
    refund (Shopify `refunds/create`), and the worker finds the order it belongs
    to by `order_id` in the ledger.
    """

    event_id: str
    tenant: str
    source: str
    topic: str  #: the source's own name for it, e.g. "orders/paid"
    kind: EventKind
    delivery_id: str  #: the source's idempotency id for this delivery
    occurred_at: datetime | None = None
    order_id: str = Field(min_length=1)
    order: Order | None = None
    refund: Refund | None = None

    @model_validator(mode="after")
    def _consistent(self) -> OrderEvent:
        if self.order is not None and self.order.order_id != self.order_id:
            raise ValueError("order_id differs from the order snapshot's id")
        if self.kind in SNAPSHOT_KINDS and self.order is None:
            raise ValueError(f"a {self.kind.value} event needs the order")
        if self.kind is EventKind.REFUND_ISSUED and self.refund is None:
            raise ValueError("a refund.issued event needs the refund")
        return self


class IgnoredDelivery(_Frozen):
    """A verified delivery of a topic we do not act on; recorded so ops can see it arrived."""

    event_id: str
    tenant: str
    source: str
    topic: str
    delivery_id: str
    occurred_at: datetime | None = None
