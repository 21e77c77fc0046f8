"""WooCommerce: verify `X-WC-Webhook-Signature`, spot the set-up ping, parse order topics.

Pure; a body is the REST v3 order (shared/webhooks.md 2.6), a snapshot built at send time.
order.created -> ORDER_CREATED. order.updated/restored: cancelled -> ORDER_CANCELLED; else a
non-zero refund listed -> REFUND_ISSUED with the newest (highest id), as the topic fires on
refund creation too and a partial refund leaves the order processing/completed; else
processing/completed with date_paid_gmt -> ORDER_PAID; else ORDER_UPDATED. order.deleted: a
full order -> ORDER_CANCELLED (marked cancelled); a bare {"id": N}, other topics -> None.

Lines are VAT-exclusive whatever the shop's setting (prices_include_tax=False), as the REST
API's line subtotal/total are: unit_price = subtotal / quantity if that is a whole minor unit,
else quantity 1 at the subtotal, "× n" in the description; discount = subtotal - total; tax =
total_tax. A line's gross is then exactly total + total_tax: the lines make `total` whenever
the shop's numbers do (else it still parses; the worker carries or refuses the gap). Negative
fees become discount and less tax on the largest items; coupon lines only inform. A line's
VAT percent: `woocommerce_wire.line_rate` (`rate_percent`, else derived from the line: #18).
How it was paid (`_payment`): the gateway id, its transaction id and the time paid; no card
details. Gift cards (WooCommerce Gift Cards' `gift_cards[].amount`) are a means of payment,
not a discount: WooCommerce's `total` is what is left after them, so the order's total is
that plus the cards (the sale), and `Order.gift_cards` says what they paid (#18).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qs

from pydantic import ValidationError

from handlers.errors import InboundError, InvalidPayload, InvalidSignature, MalformedHeader
from handlers.sources import Identity, Parsed
from handlers.sources.jsonbody import header, invalid, load_object
from handlers.sources.payments import build_payment, gateway_kind
from handlers.sources.woocommerce_wire import Fee, Item, WooOrder, line_rate
from worker.domain.events import Customer, EventKind, Line, Order, Payment, Refund
from worker.domain.money import exponent, from_minor_units

NAME = "woocommerce"

_PING = re.compile(r"webhook_id=([0-9]{1,20})")  #: the whole set-up ping body, form-encoded
#: Exactly what WordPress's `wp_specialchars_decode(text, ENT_QUOTES)` decodes.
_WP_ENTITY = re.compile(r"&(?:#0*(39|34|60|62|38)|#[xX]0*(27|22|26)|(quot|lt|gt|amp));")
_WP_CHARS = {
    "39": "'", "34": '"', "60": "<", "62": ">", "38": "&",
    "27": "'", "22": '"', "26": "&",
    "quot": '"', "lt": "<", "gt": ">", "amp": "&",
}  # fmt: skip  # a table: one row per alternative of _WP_ENTITY (decimal, hex, named)
_ZERO = Decimal(0)


def sign(body: bytes, secret: str) -> str:
    """The `X-WC-Webhook-Signature` WooCommerce sends: base64 HMAC-SHA256 of the raw body, keyed
    with `wp_specialchars_decode(secret, ENT_QUOTES)` as WordPress may keep the secret escaped
    (`a&amp;b`). Not `html.unescape`: it decodes far more (`&copy1` -> `©1`), and generated
    secrets contain `&`."""
    key = _WP_ENTITY.sub(lambda m: _WP_CHARS[m.group(m.lastindex or 0)], secret).encode()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime) -> None:
    """Check the HMAC against every secret (rotation), or raise `InvalidSignature` (no secret or
    digest in its detail); `now` is unused: WooCommerce signs no timestamp."""
    received = _header(headers, "Signature", InvalidSignature)
    keys = [secret for secret in secrets if secret]  # an empty key would sign for anyone
    if received is None or not keys:
        raise InvalidSignature(
            "missing X-WC-Webhook-Signature header"
            if received is None
            else "no WooCommerce signing secret is configured"
        )
    try:
        digest = base64.b64decode(received, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII header
        raise InvalidSignature("X-WC-Webhook-Signature is not base64") from None
    expected = [base64.b64decode(sign(body, key)) for key in keys]
    if not any([hmac.compare_digest(e, digest) for e in expected]):  # a list: no early exit
        raise InvalidSignature("X-WC-Webhook-Signature does not match the body")


def detect_ping(body: bytes, headers: Mapping[str, str]) -> Parsed | None:
    """The unsigned `webhook_id=<id>` form POST sent on activation (webhooks.md 2.3), else None."""
    if len(body) > 100 or _header(headers, "Signature", InvalidSignature) is not None:
        return None
    fields = parse_qs(body.decode("ascii", "replace"), keep_blank_values=True)
    match = _PING.fullmatch("&".join(f"{k}={v}" for k, values in fields.items() for v in values))
    return Parsed(f"ping:{int(match[1])}", "ping", None, ping=True) if match else None


def _header(
    headers: Mapping[str, str], name: str, invalid: type[InboundError] = MalformedHeader
) -> str | None:
    """`X-WC-Webhook-<name>`, any casing; blank is missing. Raises `invalid` (400 unless a
    signature's 401) when the value is not UTF-8 text."""
    return header(headers, f"X-WC-Webhook-{name}", invalid=invalid)


def _dedupe_key(body: bytes, doc: dict[str, Any], headers: Mapping[str, str], topic: str) -> str:
    """`<shop host>:<webhook id>:<topic>:<resource>/<id>:<date_modified_gmt or body sha256>`; the
    Delivery-ID hashes (webhook id, current second): neither stable nor unique (webhooks.md 0.1)."""
    webhook_id = _header(headers, "ID")
    if webhook_id is None:
        raise InvalidPayload("missing X-WC-Webhook-ID header")
    host = (_header(headers, "Source") or "").split("://")[-1].rstrip("/").lower()
    resource = _header(headers, "Resource") or topic.partition(".")[0]
    mod = doc.get("date_modified_gmt")
    version = mod if isinstance(mod, str) and mod else hashlib.sha256(body).hexdigest()
    return f"{host}:{webhook_id}:{topic}:{resource}/{doc.get('id', '')}:{version}"


def identify(body: bytes, headers: Mapping[str, str]) -> Identity:
    """The delivery's ids (`_dedupe_key`) and whether it is an order topic we act on: not an
    order trashed, whose body is only its id. Raises `MalformedBody` (not a UTF-8 JSON
    object) or `InvalidPayload` (a header is missing)."""
    document = load_object(body)
    topic = (_header(headers, "Topic") or "").lower()
    if not topic:
        raise InvalidPayload("missing X-WC-Webhook-Topic header")
    key = _dedupe_key(body, document, headers, topic)
    resource, _, event = topic.partition(".")
    acted_on = resource == "order" and event in ("created", "updated", "restored", "deleted")
    trashed = event == "deleted" and "line_items" not in document  # only {"id": N}
    return Identity(key, topic, acted_on and not trashed, document)


def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """Read one delivery. Raises `MalformedBody` (not a UTF-8 JSON object) or `InvalidPayload`
    (a header is missing or the order is invalid; the detail names the path, never the value)."""
    found = identify(body, headers)
    document, topic, key = found.document, found.topic, found.dedupe_key
    if not found.acted_on:  # an order trashed says its id
        order_id = str(document.get("id", "")) or None if topic == "order.deleted" else None
        return Parsed(key, topic, None, order_id=order_id)
    event = topic.partition(".")[2]
    wire, order = _order(document, deleted=event == "deleted")
    kind, refund = _kind(event, wire, order)
    return Parsed(key, topic, kind, order, order.updated_at, order.order_id, refund)


def _kind(event: str, wire: WooOrder, order: Order) -> tuple[EventKind, Refund | None]:
    if event == "created":
        return EventKind.ORDER_CREATED, None
    if order.cancelled:
        return EventKind.ORDER_CANCELLED, None
    if order.refunds:
        return EventKind.REFUND_ISSUED, max(order.refunds, key=lambda r: int(r.refund_id))
    if wire.status in ("processing", "completed") and wire.date_paid_gmt:
        return EventKind.ORDER_PAID, None
    return EventKind.ORDER_UPDATED, None


def _order(document: dict[str, Any], *, deleted: bool) -> tuple[WooOrder, Order]:
    try:
        wire = WooOrder.model_validate(document)
        return wire, Order(
            order_id=str(wire.id),
            number=wire.number or str(wire.id),
            currency=wire.currency,
            prices_include_tax=False,
            lines=_lines(wire),
            total=wire.total + wire.gift_card_total(),
            gift_cards=wire.gift_card_total(),
            total_tax=wire.total_tax,
            customer=_customer(wire.billing),
            paid=bool(wire.date_paid_gmt) or wire.status in ("processing", "completed", "refunded"),
            cancelled=deleted or wire.status == "cancelled",
            created_at=wire.date_created_gmt,
            updated_at=wire.date_modified_gmt,
            note=wire.customer_note,
            payment_gateway=wire.payment_method_title or wire.payment_method,
            payment=_payment(wire),
            refunds=tuple(
                Refund(
                    refund_id=str(ref.id),
                    amount=abs(ref.total),
                    reason=ref.reason,
                    currency=wire.currency,
                )
                for ref in wire.refunds
                if ref.total
            ),
        )
    except ValidationError as exc:  # in the wire order, or in the canonical order built from it
        raise invalid(exc, prefix="" if exc.title == WooOrder.__name__ else "order") from None


def _payment(wire: WooOrder) -> Payment | None:
    """The gateway id and what kind it is (`payments.gateway_kind`), its `transaction_id` (a
    Stripe charge id; WooPayments' PaymentIntent id; none for bacs, cod, cheque), and when it
    was paid (`date_paid_gmt`). Core WooCommerce sends no card details; WooPayments stores a
    `last4` meta for WooPay payments (class-wc-payment-gateway-wcpay.php). The title ("Credit
    Card (Visa)") is free text a merchant sets: nothing is read from it."""
    last4 = None
    if wire.payment_method == "woocommerce_payments":
        last4 = next((meta.value for meta in wire.meta_data if meta.key == "last4"), None)
    return build_payment(
        gateway=wire.payment_method,
        kind=gateway_kind(wire.payment_method),
        card_last4=last4,
        transaction_id=wire.transaction_id,
        paid_at=_gmt(wire.date_paid_gmt),
    )


def _gmt(text: str | None) -> datetime | None:
    """A `*_gmt` date (no offset: it is UTC) as an aware datetime; None when unreadable."""
    try:
        moment = datetime.fromisoformat(text or "")
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _lines(wire: WooOrder) -> tuple[Line, ...]:
    rates = {tax.rate_id: tax.rate_percent for tax in wire.tax_lines}

    def rate(line: Fee) -> Decimal | None:
        return line_rate(line, rates, wire.currency)

    items = [_item(n, item, wire.currency, rate(item)) for n, item in enumerate(wire.line_items)]
    shipping = [
        _line("shipping", ship.method_title or "Shipping", ship.total, ship, rate(ship))
        for ship in wire.shipping_lines
    ]
    credits = [f for f in wire.fee_lines if f.total < 0 or (f.total_tax < 0 and not f.total)]
    fees = [
        _line("fee", fee.name or "Fee", fee.total, fee, rate(fee))
        for fee in wire.fee_lines
        if fee not in credits
    ]
    return (*_absorb(items, credits), *shipping, *fees)


def _item(index: int, item: Item, currency: str, rate: Decimal | None) -> Line:
    if item.name is None:
        raise InvalidPayload(f"line_items.{index}.name: missing")
    base = max(item.subtotal if item.subtotal is not None else item.total, item.total)
    description, quantity, unit = item.name, item.quantity, base
    if quantity > 1:
        units = base.scaleb(exponent(currency))
        if units == units.to_integral_value() and int(units) % quantity == 0:
            unit = from_minor_units(int(units) // quantity, currency)
        else:  # "3 for 100.00": one line for the lot keeps the total exact
            description, quantity = f"{description} × {quantity}", 1
    return _line("item", description, unit, item, rate, item.sku, quantity, base - item.total)


def _line(
    kind: Literal["item", "shipping", "fee"],
    description: str,
    unit_price: Decimal,
    taxed: Fee,
    rate: Decimal | None,
    sku: str | None = None,
    quantity: int = 1,
    discount: Decimal = _ZERO,
) -> Line:
    """A canonical line at its VAT percent (`woocommerce_wire.line_rate`); untaxed without tax."""
    return Line(
        kind=kind,
        description=html.unescape(description),
        sku=sku,
        discount=discount,
        quantity=Decimal(quantity),
        unit_price=unit_price,
        tax=taxed.total_tax,
        tax_rate=rate,
        taxable=taxed.total_tax > 0,
    )


def _absorb(items: list[Line], negative_fees: list[Fee]) -> list[Line]:
    """Spread negative fees over the item lines, largest net first, as discount and less tax;
    no line's net or tax goes below zero, so no document shows a negative price."""
    credit = -sum((fee.total for fee in negative_fees), _ZERO)
    credit_tax = -sum((fee.total_tax for fee in negative_fees), _ZERO)  # < 0: adds tax
    result, net = list(items), [line.unit_price * line.quantity - line.discount for line in items]
    for n in sorted(range(len(items)), key=lambda i: -net[i]):
        line = result[n]
        take, take_tax = min(net[n], credit), min(line.tax, credit_tax)
        discount, tax = line.discount + take, line.tax - take_tax
        # copy only a line that changes, down to the Decimal's exponent (compare_total):
        # copying every line was ~17 % of parsing a 50-line order (BENCHMARKS.md)
        if discount.compare_total(line.discount) or tax.compare_total(line.tax):
            result[n] = line.model_copy(update={"discount": discount, "tax": tax})
        credit, credit_tax = credit - take, credit_tax - take_tax
    if credit > 0 or credit_tax > 0:
        raise InvalidPayload("fee_lines: a negative fee is larger than the items it discounts")
    return result


def _customer(billing: Mapping[str, str | None]) -> Customer:
    get = billing.get
    name = " ".join(filter(None, (get("first_name"), get("last_name"))))
    street = ", ".join(filter(None, (get("address_1"), get("address_2")))) or None
    return Customer(
        name=name or get("company") or get("email") or "Customer",
        email=get("email"),
        phone=get("phone"),
        company=get("company"),
        address=street,
        city=get("city"),
        postcode=get("postcode"),
        country=get("country"),
    )
