"""Shopify: verify `X-Shopify-Hmac-Sha256`; parse order topics into Orders, refunds into Refunds,
transactions into payment details.

Pure; fields follow the REST Order and Refund resources (shared/webhooks.md 1.5, 1.6), read
through `shopify_wire`. A refund's amount is the sum of its successful `refund` transactions;
one that moved no money (restock only, a pending or failed transaction) is no refund to us:
`refunds/create` is then recorded as kind None, and a snapshot leaves it out (once a pending
transaction succeeds, the next `orders/updated` lists it). Its lines (items at `subtotal` +
`total_tax`, plus order adjustments) are kept only when they sum exactly to the amount;
otherwise it has none, and the credit note has one line for the amount. How an order was paid
(`_payment`): the gateway always, the card and the transaction only where the payload has them.

Which is seldom: from API version 2023-04 on, the Order resource carries neither the card
(`payment_details`) nor the gateway's transaction id (shopify.dev changelog "Payment properties
deprecation on the Admin API Order resource", 2022-12, effective 2023-04), and no `orders/*`
webhook carries its transactions. They live on the Transaction resource
(shopify.dev/docs/api/admin-rest/latest/resources/transaction: `id`, `order_id`, `kind`,
`status`, `gateway`, `authorization`, `processed_at`, `payment_details` with the masked
`credit_card_number`), which the `order_transactions/create` topic delivers. A successful `sale`
or `capture` becomes a PAYMENT_DETAILS event for its `order_id`, carrying the `Payment` (the
worker keeps it for the order's invoice-receipt); any other transaction (an authorisation
alone, a void, a refund, a failed or pending one), or one without an order id or anything
about the payment, is recorded as ignored. Its fields are read leniently: an odd value reads
as missing, never as a 422, so a signed delivery is kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from handlers.errors import InboundError, InvalidPayload, InvalidSignature, MalformedHeader
from handlers.sources import Identity, Parsed
from handlers.sources.jsonbody import header, invalid, load_object, validate
from handlers.sources.payments import build_payment, gateway_kind
from handlers.sources.shopify_lines import absorb_discount, item_line, refund_lines, shipping_line
from handlers.sources.shopify_wire import (
    ZERO,
    OrderTransaction,
    PaymentDetails,
    Person,
    ShopifyOrder,
    ShopifyRefund,
    ShopifyTransaction,
)
from worker.domain.events import Customer, EventKind, Order, Payment, Refund

NAME = "shopify"

#: Topics whose body is an order snapshot; any other topic but `refunds/create` is recorded
#: as `Parsed(kind=None, order=None)`. A snapshot with `cancelled_at` set under
#: `orders/updated` stays ORDER_UPDATED: the planner reads the flag, and Shopify sends
#: `orders/cancelled` as well.
_ORDER_KINDS = {
    "orders/create": EventKind.ORDER_CREATED,
    "orders/paid": EventKind.ORDER_PAID,
    "orders/updated": EventKind.ORDER_UPDATED,
    "orders/cancelled": EventKind.ORDER_CANCELLED,
}
#: The topic whose body is a Refund resource, not an order.
_REFUND_TOPIC = "refunds/create"
#: The topic whose body is a Transaction resource: how an order was paid (the module docstring).
_TRANSACTION_TOPIC = "order_transactions/create"
#: `financial_status` values meaning the money was captured at some point.
_PAID_STATUSES = frozenset({"paid", "partially_refunded", "refunded"})
#: gateway names that pay a part of an order at most, never the method of its payment
_PARTIAL_GATEWAYS = frozenset({"gift_card"})


def sign(body: bytes, secret: str) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify sends: base64 HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime) -> None:
    """Check the body's HMAC against every secret (old and new during a rotation).

    `now` is unused: Shopify signs no timestamp. Raises `InvalidSignature` (whose detail
    never holds a secret or digest) if the header is missing or no secret matches.
    """
    received = _header(headers, "Hmac-Sha256", InvalidSignature)
    if received is None:
        raise InvalidSignature("missing X-Shopify-Hmac-Sha256 header")
    keys = [secret.encode() for secret in secrets if secret]  # an empty key signs for anyone
    if not keys:
        raise InvalidSignature("no Shopify signing secret is configured")
    try:
        digest = base64.b64decode(received, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII header
        raise InvalidSignature("X-Shopify-Hmac-Sha256 is not base64") from None
    matched = False
    for key in keys:  # no early exit: the time taken does not tell which secret matched
        expected = hmac.new(key, body, hashlib.sha256).digest()
        matched = hmac.compare_digest(expected, digest) or matched
    if not matched:
        raise InvalidSignature("X-Shopify-Hmac-Sha256 does not match the body")


def _header(
    headers: Mapping[str, str], name: str, invalid: type[InboundError] = MalformedHeader
) -> str | None:
    """`X-Shopify-<name>` (or the unprefixed `Shopify-<name>`), any casing; blank is missing.
    Raises `invalid` (400 unless a signature's 401) when the value is not UTF-8 text."""
    return header(headers, f"X-Shopify-{name}", f"Shopify-{name}", invalid=invalid)


def _dedupe_key(headers: Mapping[str, str], topic: str) -> str:
    """`<shop>:<topic>:<event id>`, so equal ids from two shops or topics never collide."""
    event_id = _header(headers, "Event-Id") or _header(headers, "Webhook-Id")
    if event_id is None:
        raise InvalidPayload("missing X-Shopify-Event-Id and X-Shopify-Webhook-Id headers")
    shop = (_header(headers, "Shop-Domain") or "").lower()
    return f"{shop}:{topic}:{event_id}"


def _triggered_at(headers: Mapping[str, str]) -> datetime | None:
    """`X-Shopify-Triggered-At` as an aware datetime; None when absent or unreadable."""
    try:
        moment = datetime.fromisoformat(_header(headers, "Triggered-At") or "")
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def identify(body: bytes, headers: Mapping[str, str]) -> Identity:
    """The delivery's ids, all from its headers, and whether its topic is one we act on.

    Raises `MalformedBody` (not a UTF-8 JSON object) or `InvalidPayload` (a header is
    missing)."""
    document = load_object(body)
    topic = _header(headers, "Topic")
    if topic is None:
        raise InvalidPayload("missing X-Shopify-Topic header")
    acted_on = topic in _ORDER_KINDS or topic in (_REFUND_TOPIC, _TRANSACTION_TOPIC)
    dedupe_key, occurred_at = _dedupe_key(headers, topic), _triggered_at(headers)
    return Identity(dedupe_key, topic, acted_on, document, occurred_at)


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """Read one delivery: an order topic becomes an `Order`, `refunds/create` a `Refund`,
    `order_transactions/create` a `Payment`.

    Raises `MalformedBody` (not a UTF-8 JSON object) or `InvalidPayload` (a header is
    missing, or the body is invalid: the detail names the field path, never its value).
    """
    found = identify(body, headers)
    document, topic, dedupe_key = found.document, found.topic, found.dedupe_key
    occurred_at = found.occurred_at
    if topic == _REFUND_TOPIC:
        return _refund_delivery(validate(ShopifyRefund, document), dedupe_key, topic, occurred_at)
    if topic == _TRANSACTION_TOPIC:
        transaction = validate(ShopifyTransaction, document)
        return _transaction_delivery(transaction, dedupe_key, topic, occurred_at)
    kind = _ORDER_KINDS.get(topic)
    order = None if kind is None else _order(validate(ShopifyOrder, document), kind)
    return Parsed(dedupe_key, topic, kind, order, occurred_at)


def _refund_delivery(
    wire: ShopifyRefund, dedupe_key: str, topic: str, occurred_at: datetime | None
) -> Parsed:
    """`refunds/create`, whose body is a Refund resource: kind None if it moved no money."""
    if wire.order_id is None:
        raise InvalidPayload("order_id: missing")
    refund = _refund(wire, fallback_currency=None)
    kind = None if refund is None else EventKind.REFUND_ISSUED
    return Parsed(dedupe_key, topic, kind, None, occurred_at, order_id=wire.order_id, refund=refund)


def _transaction_delivery(
    wire: ShopifyTransaction, dedupe_key: str, topic: str, occurred_at: datetime | None
) -> Parsed:
    """`order_transactions/create`: PAYMENT_DETAILS for a successful sale or capture that says
    something of the payment, else an ignored delivery (kind None). A gift card's part of a
    split payment is ignored: its id would otherwise stand for the card's."""
    partial = (wire.gateway or "").casefold() in _PARTIAL_GATEWAYS
    payment = None if partial or not wire.took_money() else _sale_payment(wire, wire.gateway, None)
    if payment is None or wire.order_id is None:
        return Parsed(dedupe_key, topic, None, None, occurred_at)
    return Parsed(
        dedupe_key,
        topic,
        EventKind.PAYMENT_DETAILS,
        None,
        occurred_at,
        order_id=wire.order_id,
        payment=payment,
    )


def _order(wire: ShopifyOrder, kind: EventKind) -> Order:
    """The snapshot; the `orders/paid` and `orders/cancelled` topics themselves say paid or
    cancelled, whatever the snapshot's fields show."""
    taxed = wire.total_tax > 0
    refunds = [
        _refund(refund, wire.currency, f"refunds.{n}.") for n, refund in enumerate(wire.refunds)
    ]
    paid = kind is EventKind.ORDER_PAID or wire.financial_status in _PAID_STATUSES
    try:  # the canonical lines and order; a bound they break is named by its path
        lines = [item_line(n, item, taxed) for n, item in enumerate(wire.line_items)]
        lines += [shipping_line(shipping, taxed) for shipping in wire.shipping_lines]
        unallocated = wire.total_discounts - sum((line.discount for line in lines), ZERO)
        return Order(
            order_id=wire.id,
            number=wire.name or str(wire.order_number or wire.id),
            currency=wire.currency,
            prices_include_tax=wire.taxes_included,
            lines=absorb_discount(lines, unallocated),
            total=wire.total_price,
            total_tax=wire.total_tax,
            customer=_customer(wire),
            paid=paid,
            created_at=wire.created_at,
            updated_at=wire.updated_at,
            cancelled=kind is EventKind.ORDER_CANCELLED or wire.cancelled_at is not None,
            payment_gateway=next(iter(wire.payment_gateway_names), None) or wire.gateway,
            payment=_payment(wire),
            note=wire.note,
            refunds=tuple(refund for refund in refunds if refund is not None),
        )
    except ValidationError as exc:
        raise invalid(exc, prefix="order") from None


def _payment(wire: ShopifyOrder) -> Payment | None:
    """How the order was paid. The gateway: the first of `payment_gateway_names` that is not a
    gift card (which pays a part at most), else `gateway`. The card: `payment_details`, which
    orders carry only up to API version 2023-01. The transaction id: the `authorization` of
    the sale in `transactions`, which no `orders/*` webhook carries (`ShopifyOrder.sale`).
    The payer: the card holder, else the billing address's name."""
    sale = wire.sale() or OrderTransaction()
    names = [name for name in wire.payment_gateway_names if name]
    paying = [name for name in names if name.casefold() not in _PARTIAL_GATEWAYS]
    gateway = next(iter(paying or names), None) or wire.gateway or sale.gateway
    if wire.payment_details is not None:
        sale = sale.model_copy(update={"payment_details": wire.payment_details})
    return _sale_payment(sale, gateway, (wire.billing_address or Person()).full_name())


def _sale_payment(sale: OrderTransaction, gateway: str | None, payer: str | None) -> Payment | None:
    """The payment a transaction shows: its card (a card number or brand makes the kind
    "card", else the gateway says), its `authorization` as the transaction id, its time; the
    card holder as the payer, else `payer`."""
    details = sale.payment_details or PaymentDetails()
    card = details.credit_card_number or details.credit_card_company
    return build_payment(
        gateway=gateway,
        kind="card" if card else gateway_kind(gateway),
        card_brand=details.credit_card_company,
        card_last4=details.credit_card_number,
        transaction_id=sale.authorization,
        payer_name=details.credit_card_name or payer,
        paid_at=sale.processed_at or sale.created_at,
    )


def _refund(wire: ShopifyRefund, fallback_currency: str | None, path: str = "") -> Refund | None:
    """The money a refund gave back, or None when it moved none (see the module docstring).

    No header names a refund's currency: it comes from the transactions, else (in an order
    snapshot) the order's. `path` prefixes error details ("refunds.0." inside an order)."""
    amount, currencies = wire.refunded()
    if amount <= 0:
        return None
    if len(currencies) > 1:
        raise InvalidPayload(f"{path}transactions: refunded in more than one currency")
    currency = next(iter(currencies), fallback_currency)
    if currency is None:
        raise InvalidPayload(f"{path}transactions.currency: missing")
    try:
        lines = refund_lines(wire, currency)
        exact = sum((line.gross(True) for line in lines), ZERO) == amount
        return Refund(
            refund_id=wire.id,
            amount=amount,
            currency=currency,
            reason=wire.note,
            lines=lines if exact else (),
            created_at=wire.created_at,
        )
    except ValidationError as exc:
        raise invalid(exc, prefix=f"{path}refund") from None


def _customer(wire: ShopifyOrder) -> Customer:
    billing = wire.billing_address or Person()
    buyer = wire.customer or Person()
    email = wire.email or wire.contact_email or buyer.email
    street = ", ".join(filter(None, (billing.address1, billing.address2))) or None
    return Customer(
        name=billing.full_name() or buyer.full_name() or email or "Customer",
        email=email,
        phone=wire.phone or billing.phone or buyer.phone,
        company=billing.company,
        address=street,
        city=billing.city,
        postcode=billing.zip,
        country=billing.country_code,
    )


def detect_ping(body: bytes, headers: Mapping[str, str]) -> Parsed | None:
    """Shopify sends no unsigned set-up ping; every delivery is verified."""
    return None
