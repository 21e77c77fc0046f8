"""Canonical events: what every webhook source is parsed into, and what the queue carries.

Money is `Decimal` in the order's currency; nothing here is a float. The receiver
builds these from verified bytes; workers read them back from the ledger.

Every field is bounded as it is built, whatever the source: amounts and quantities are
read from ASCII digits and kept within `money`'s bounds (an amount at most
`MAX_MINOR_UNITS` of its ISO 4217 currency, a line's price × quantity too, and a line's
arithmetic exact in Decimal's default context), and text is cleaned and capped, with card
numbers masked (`text`). A violation is a ValidationError
whose location names the field (``lines.0.unit_price``).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from worker.domain.amount_bounds import WIDE_CONTEXT, Located, line_amounts, refuse_large
from worker.domain.money import (
    currency_code,
    quantize,
    read_amount,
    read_quantity,
)
from worker.domain.text import (
    Address,
    CardFreeIdentifier,
    DeliveryId,
    Description,
    DisplayIdentifier,
    Email,
    Identifier,
    Key,
    Name,
    Note,
    OptionalDisplayIdentifier,
    Reason,
    RequiredName,
    ShortText,
)

# The constraints come before the reader, so that the JSON Schema shows them.
#: an amount ≥ 0: ASCII decimal text or a number, at most `money.MAX_AMOUNT`, `MAX_PLACES`
Money = Annotated[Decimal, Field(ge=0), BeforeValidator(read_amount)]
#: an amount > 0
PositiveMoney = Annotated[Decimal, Field(gt=0), BeforeValidator(read_amount)]
#: a VAT rate in percent, e.g. 18
Percent = Annotated[Decimal, Field(ge=0, le=100), BeforeValidator(read_amount)]
#: a line's quantity: more than 0, at most `money.MAX_QUANTITY` with `MAX_QUANTITY_PLACES`
Quantity = Annotated[Decimal, Field(gt=0), BeforeValidator(read_quantity)]
#: an ISO 4217 code with a minor unit, upper-cased ("ils" → "ILS"; QQQ and XAU are refused)
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), BeforeValidator(currency_code)]


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
    #: how an order was paid, told apart from the order (Shopify `order_transactions/create`):
    #: carries `payment`, no snapshot; the worker keeps it for the order's documents
    PAYMENT_DETAILS = "payment.details"


#: kinds whose event must carry an order snapshot
SNAPSHOT_KINDS = frozenset(
    {
        EventKind.ORDER_CREATED,
        EventKind.ORDER_UPDATED,
        EventKind.ORDER_PAID,
        EventKind.ORDER_CANCELLED,
        EventKind.PAYMENT_CAPTURED,
    }
)


class Customer(_Frozen):
    """The buyer as the document should name them."""

    name: RequiredName
    email: Email = None
    phone: ShortText = None
    company: Name = None
    vat_id: ShortText = None
    address: Address = None
    city: Name = None
    postcode: ShortText = None
    country: ShortText = None


class Line(_Frozen):
    """One priced line of an order: a product, the shipping, or a fee.

    `unit_price` is the price as the shop lists it: VAT-inclusive when the
    order's `prices_include_tax` is true, VAT-exclusive otherwise. `discount`
    is the total discount allocated to the whole line (not per unit), in the
    same basis. `tax` is the VAT the shop computed for the line.
    """

    kind: Literal["item", "shipping", "fee"] = "item"
    description: Description
    sku: OptionalDisplayIdentifier = None  #: shown only: a card number in it is masked
    quantity: Quantity
    unit_price: Money
    discount: Money = Decimal(0)
    tax: Money = Decimal(0)
    tax_rate: Percent | None = None  #: percent, e.g. 18
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

    refund_id: Identifier
    amount: PositiveMoney
    currency: CurrencyCode
    reason: Reason = None
    lines: tuple[Line, ...] = ()
    created_at: datetime | None = None
    #: all that was refunded of the payment so far, when the source says only that (a Stripe
    #: charge without its refunds listed): `amount` is then what this adds to the refunds the
    #: ledger already holds for the order, worked out by the worker (`refunds.added`)
    refunded_to_date: PositiveMoney | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Refund:
        amounts: list[Located] = [(("amount",), self.amount), *line_amounts(self.lines)]
        if self.refunded_to_date is not None:
            amounts.append((("refunded_to_date",), self.refunded_to_date))
        refuse_large(self.currency, amounts, self.lines)
        return self


class ChargeRequest(_Frozen):
    """Ask for the order's total to be charged to a card the customer stored at the provider.

    No card data travels or is stored: only whose stored card (`customer_ref`, the
    provider's client id) and how (installments). The worker fetches the stored
    card's token from the provider at charge time and never keeps it.
    """

    customer_ref: CardFreeIdentifier  #: refused when it holds a card number
    num_of_payments: int = Field(default=1, ge=1, le=36)
    first_payment: PositiveMoney | None = None


def _last_four(value: object) -> object:
    """The last four digits of whatever the platform shows ("•••• 4242", "4242"), else None."""
    if value is None or isinstance(value, bool):
        return None
    digits = re.sub(r"\D", "", str(value)) if isinstance(value, str | int) else ""
    return digits[-4:] if len(digits) >= 4 else None


#: the last four digits of a card, nothing more (a longer number keeps only its last four)
LastFour = Annotated[str | None, Field(pattern=r"^[0-9]{4}$"), BeforeValidator(_last_four)]
PaymentKind = Literal["card", "paypal", "bank_transfer", "cash", "other"]


class Payment(_Frozen):
    """How the order was actually paid, as the platform reports it; every field is optional.

    A card is recorded by its type and last four digits only; `transaction_id` is the
    gateway's authorisation or transaction id (Shopify transaction `authorization`,
    Stripe charge id, WooCommerce `transaction_id`), never our order number.
    """

    gateway: Name = Field(
        None, description='The platform\'s gateway name, e.g. "shopify_payments", "paypal", "bacs".'
    )
    kind: PaymentKind | None = Field(
        None,
        description="What the platform says the method was, when it says: a card, PayPal, "
        "a bank transfer (or debit), cash; other for anything else (a cheque, a gift card).",
    )
    card_brand: ShortText = Field(None, description='The card\'s brand, e.g. "Visa".')
    card_last4: LastFour = Field(
        None,
        description="The card's last four digits; of a longer number only the last four are kept.",
    )
    transaction_id: OptionalDisplayIdentifier = Field(
        None,
        description="The gateway's authorisation or transaction id (a card number in it "
        "is masked to its last four).",
    )
    payer_name: Name = Field(
        None, description="The card holder or PayPal payer, when the platform names one."
    )
    paid_at: datetime | None = Field(None, description="When the payment was taken.")


class Order(_Frozen):
    """A shop order snapshot at the moment the event was sent."""

    order_id: Identifier  #: the source's stable id
    #: what the merchant and the customer see, e.g. "#1001"; shown only: card numbers masked
    number: DisplayIdentifier
    currency: CurrencyCode
    prices_include_tax: bool
    lines: tuple[Line, ...] = Field(min_length=1)
    total: Money  #: the shop's grand total, VAT included
    total_tax: Money = Decimal(0)
    paid: bool
    customer: Customer
    created_at: datetime
    payment_gateway: Name = None
    #: how it was paid (gateway, card type and last four, transaction id), when known
    payment: Payment | None = None
    note: Note = None
    cancelled: bool = False
    #: when the source last changed the order; orders snapshots so a stale one is spotted
    updated_at: datetime | None = None
    #: refunds the snapshot already shows (WooCommerce and Shopify list them on the order)
    refunds: tuple[Refund, ...] = ()
    #: charge a stored card for this unpaid order (when the tenant allows it)
    charge: ChargeRequest | None = None
    #: the order's exchange rate to the merchant's home currency, when the shop gives one
    exchange_rate: PositiveMoney | None = None
    #: the part of `total` paid by gift cards or store credit: a means of payment, not a
    #: discount (the document is for the whole sale, VAT on all of it); at most `total`
    gift_cards: Money = Decimal(0)

    @model_validator(mode="after")
    def _bounded(self) -> Order:
        if self.gift_cards > self.total:
            raise ValueError(f"gift_cards ({self.gift_cards}) exceed the total ({self.total})")
        if self.gift_cards and self.charge is not None:  # the charge would take the whole total
            raise ValueError("a stored-card charge cannot be asked for an order gift cards paid")
        amounts: list[Located] = [(("total",), self.total), (("total_tax",), self.total_tax)]
        amounts.append((("gift_cards",), self.gift_cards))
        amounts += line_amounts(self.lines)
        if self.charge is not None and self.charge.first_payment is not None:
            amounts.append((("charge", "first_payment"), self.charge.first_payment))
        refuse_large(self.currency, amounts, self.lines)
        return self

    def paid_otherwise(self) -> Decimal:
        """What the order's own payment (`payment`, `payment_gateway`) took: the total, at the
        currency's unit, less what gift cards paid."""
        return quantize(self.total, self.currency) - self.gift_cards

    def lines_total(self) -> Decimal:
        """Sum of the lines' gross amounts, rounded to the currency's smallest unit once:
        each gross is exact in the default context (`amount_bounds.rounds`), and so is their
        sum here."""
        with localcontext(WIDE_CONTEXT):
            raw = sum((line.gross(self.prices_include_tax) for line in self.lines), Decimal(0))
            return quantize(raw, self.currency)


class OrderEvent(_Frozen):
    """A verified, parsed event about one order of one tenant; what workers act on.

    Order events carry the order snapshot; a refund event may carry only the
    refund (Shopify `refunds/create`), and the worker finds the order it belongs
    to by `order_id` in the ledger. A payment-details event carries only `payment`.
    """

    event_id: Key
    tenant: Key
    source: Key
    topic: Key  #: the source's own name for it, e.g. "orders/paid"
    kind: EventKind
    delivery_id: DeliveryId  #: the source's idempotency id for this delivery
    occurred_at: datetime | None = None
    order_id: Identifier
    order: Order | None = None
    refund: Refund | None = None
    payment: Payment | None = None  #: how the order was paid, for a payment.details event

    @model_validator(mode="after")
    def _consistent(self) -> OrderEvent:
        if self.order is not None and self.order.order_id != self.order_id:
            raise ValueError("order_id differs from the order snapshot's id")
        if self.kind in SNAPSHOT_KINDS and self.order is None:
            raise ValueError(f"a {self.kind.value} event needs the order")
        if self.kind is EventKind.REFUND_ISSUED and self.refund is None:
            raise ValueError("a refund.issued event needs the refund")
        if self.kind is EventKind.PAYMENT_DETAILS and self.payment is None:
            raise ValueError("a payment.details event needs the payment")
        return self


class IgnoredDelivery(_Frozen):
    """A verified delivery of a topic we do not act on; recorded so ops can see it arrived."""

    event_id: Key
    tenant: Key
    source: Key
    topic: Key
    delivery_id: DeliveryId
    occurred_at: datetime | None = None


class _AsItCame(_Frozen):
    """A verified delivery kept as it came: its ids, its body (card-number-like digits and
    secret-named values masked, `handlers.kept_body`) and the headers its parser reads."""

    event_id: Key
    tenant: Key
    source: Key
    topic: Key
    delivery_id: DeliveryId
    body: str  #: the body as text, masked
    headers: dict[str, str] = Field(default_factory=dict)  #: what the parser reads of them


class UnreadableDelivery(_AsItCame):
    """A delivery whose signature verified but whose body our parser could not read: a
    business fact kept as it came, so that a replay with a parser that knows its shape makes
    the event it should have been."""

    reason: str = Field(max_length=2000)  #: why the parser refused it, never a value of it


class ReceivedDelivery(_AsItCame):
    """A verified delivery of a topic we act on, recorded and queued as it came before it
    is read in full: the receiver reads only the ids it dedupes by, and the worker that
    takes it reads the rest (DESIGN, step 5). Read, it becomes an `OrderEvent` under the
    same id, or an ignored or unreadable delivery."""


#: what a verified delivery is recorded as: an event to act on (read, or to be read by the
#: worker), a delivery of a topic we do not act on, or one our parser could not read
Delivery = OrderEvent | ReceivedDelivery | IgnoredDelivery | UnreadableDelivery
#: the deliveries a worker is queued for
QUEUED = (OrderEvent, ReceivedDelivery)
