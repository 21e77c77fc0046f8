"""Reading Shopify's wire format: the REST Order, Refund and Transaction resources.

Pure. The models hold only the fields we read (shared/webhooks.md 1.5 and 1.6); money is read
as Decimal, never float. `handlers.sources.shopify` maps them onto the canonical events.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from handlers.sources.jsonbody import WholeNumber
from handlers.sources.jsonbody import read_amount as _amount
from handlers.sources.payments import LenientMoment, LenientText, lenient, lenient_tuple
from worker.domain.events import CurrencyCode
from worker.domain.money import MAX_QUANTITY
from worker.domain.text import Identifier, wire_text

ZERO = Decimal(0)


Amount = Annotated[Decimal, BeforeValidator(_amount), Field(ge=0)]
#: order adjustments are signed: money going back to the buyer is negative
SignedAmount = Annotated[Decimal, BeforeValidator(_amount)]
Rate = Annotated[Decimal, BeforeValidator(_amount), Field(ge=0, le=1)]  #: a fraction: 0.17
Text = Annotated[str | None, BeforeValidator(wire_text)]  #: cleaned; blank is None
Currency = CurrencyCode  #: ISO 4217 with a minor unit, upper-cased


class Wire(BaseModel):  # only the fields we read; the rest is ignored
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)


class TaxLine(Wire):
    price: Amount
    rate: Rate | None = None


class Allocation(Wire):
    amount: Amount


class Priced(Wire):
    title: Text = None
    price: Amount
    #: None when the key is missing (or null): the parser falls back to the order's tax;
    #: an empty list says the line carries no tax (untaxed shipping, an exempt product)
    tax_lines: tuple[TaxLine, ...] | None = None
    discount_allocations: tuple[Allocation, ...] = ()

    def discount(self, fallback: Decimal) -> Decimal:
        """Σ discount_allocations; `fallback` for payloads from before allocations existed."""
        amounts = [allocation.amount for allocation in self.discount_allocations]
        return sum(amounts, ZERO) if amounts else fallback


class LineItem(Priced):
    name: Text = None
    variant_title: Text = None
    sku: Text = None
    quantity: WholeNumber = Field(gt=0, le=MAX_QUANTITY)
    taxable: bool = True
    total_discount: Amount = ZERO


class ShippingLine(Priced):
    code: Text = None
    discounted_price: Amount | None = None


class Person(Wire):  # a billing address or the customer record
    name: Text = None
    first_name: Text = None
    last_name: Text = None
    email: Text = None
    phone: Text = None
    company: Text = None
    address1: Text = None
    address2: Text = None
    city: Text = None
    zip: Text = None
    country_code: Text = None

    def full_name(self) -> str | None:
        return self.name or " ".join(filter(None, (self.first_name, self.last_name))) or None


class RefundedItem(Wire):
    """The order's line item as a refund line item embeds it; only what describes it."""

    name: Text = None
    title: Text = None
    variant_title: Text = None
    sku: Text = None
    taxable: bool = True
    tax_lines: tuple[TaxLine, ...] = ()

    def description(self) -> str:
        return self.name or " - ".join(filter(None, (self.title, self.variant_title))) or "Item"


class RefundLineItem(Wire):
    """What a refund gives back for one order line; `subtotal` + `total_tax` is the gross."""

    quantity: WholeNumber = Field(
        ge=0, le=MAX_QUANTITY
    )  #: 0 when only money (no units) is returned
    subtotal: Amount
    total_tax: Amount = ZERO
    line_item: RefundedItem | None = None


class Transaction(Wire):
    kind: str | None = None
    status: str | None = None
    amount: Amount
    currency: Currency | None = None


class PaymentDetails(Wire):
    """A card as an order (API versions up to 2023-01) or a transaction shows it: the number
    masked by Shopify ("•••• •••• •••• 4242"); `Payment` keeps only its last four."""

    credit_card_company: LenientText = None  #: "Visa"
    credit_card_number: LenientText = None
    credit_card_name: LenientText = None  #: the card holder (transactions, API 2023-01 on)


class OrderTransaction(Wire):
    """A payment transaction, in the payloads that carry one (see `ShopifyOrder.sale`)."""

    kind: LenientText = None  #: sale, capture, authorization, void, refund, ...
    status: LenientText = None  #: success, pending, failure, error
    gateway: LenientText = None
    authorization: LenientText = None  #: the gateway's authorisation or transaction id
    processed_at: LenientMoment = None
    created_at: LenientMoment = None
    payment_details: Annotated[PaymentDetails | None, lenient] = None


class ShopifyTransaction(OrderTransaction):
    """The `order_transactions/create` body: one Transaction resource (shopify.dev/docs/api/
    admin-rest/latest/resources/transaction). Every field is read leniently, so an odd value
    reads as missing and the delivery is still kept (as ignored, when it cannot be used)."""

    order_id: Annotated[Identifier | None, lenient] = None  #: an int64 on the wire

    def took_money(self) -> bool:
        """A successful sale (authorised and captured at once) or capture; an authorisation
        alone, a void, a refund, or one that failed or is pending took nothing."""
        kind, status = (self.kind or "").casefold(), (self.status or "").casefold()
        return kind in ("sale", "capture") and status == "success"


class OrderAdjustment(Wire):
    """Shipping given back (`shipping_refund`) or the gap between the calculated and the
    refunded amount (`refund_discrepancy`); `amount` excludes `tax_amount`."""

    kind: str | None = None
    reason: Text = None
    amount: SignedAmount
    tax_amount: SignedAmount = ZERO


class ShopifyRefund(Wire):
    """The `refunds/create` body, and each entry of an order's `refunds`."""

    id: str = Field(min_length=1)  #: an int64 on the wire
    order_id: str | None = None  #: required for refunds/create, checked by the parser
    created_at: datetime | None = None
    note: Text = None
    refund_line_items: tuple[RefundLineItem, ...] = ()
    transactions: tuple[Transaction, ...] = ()
    order_adjustments: tuple[OrderAdjustment, ...] = ()

    def refunded(self) -> tuple[Decimal, set[str]]:
        """What the successful `refund` transactions gave back, and the currencies they name;
        failed and pending attempts moved nothing."""
        moved = [t for t in self.transactions if t.kind == "refund" and t.status == "success"]
        currencies = {t.currency for t in moved if t.currency}
        return sum((t.amount for t in moved), ZERO), currencies


class ShopifyOrder(Wire):
    id: str = Field(min_length=1)  #: an int64 on the wire
    name: Text = None
    order_number: int | None = None
    currency: Currency
    taxes_included: bool
    total_price: Amount
    total_tax: Amount = ZERO
    total_discounts: Amount = ZERO
    financial_status: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    cancelled_at: datetime | None = None
    #: payment fields are read leniently: an odd value reads as missing, never as a 422
    payment_gateway_names: Annotated[tuple[str, ...], lenient_tuple] = ()
    gateway: LenientText = None  #: deprecated, gone from API 2023-04 on (as is payment_details)
    payment_details: Annotated[PaymentDetails | None, lenient] = None
    #: not in any order webhook we know of; read when a payload (an app's relay) carries it
    transactions: Annotated[tuple[OrderTransaction, ...], lenient_tuple] = ()
    note: Text = None
    email: Text = None
    contact_email: Text = None
    phone: Text = None
    customer: Person | None = None
    billing_address: Person | None = None
    line_items: tuple[LineItem, ...] = Field(min_length=1)
    shipping_lines: tuple[ShippingLine, ...] = ()
    refunds: tuple[ShopifyRefund, ...] = ()

    def sale(self) -> OrderTransaction | None:
        """The successful sale or capture that paid the order, else its successful
        authorisation; None when the payload carries no transactions (no `orders/*` webhook
        does: they live on the Transaction resource and `order_transactions/create`)."""
        done = [t for t in self.transactions if t.status == "success"]
        taken = [t for t in done if t.kind in ("sale", "capture")]
        held = [t for t in done if t.kind == "authorization"]
        return next(iter(taken or held), None)
