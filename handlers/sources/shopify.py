"""Shopify: verify `X-Shopify-Hmac-Sha256`; parse `orders/create` and `orders/paid` into Orders.

Pure. Fields follow the REST Order resource (shared/webhooks.md 1.5); money is read as Decimal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from handlers.errors import InvalidPayload, InvalidSignature, MalformedBody
from handlers.sources import Parsed
from worker.domain.events import Customer, EventKind, Line, Order
from worker.domain.money import parse_amount

NAME = "shopify"

#: Topics we act on; every other topic is recorded as `Parsed(kind=None, order=None)`.
_KINDS: dict[str, EventKind] = {
    "orders/create": EventKind.ORDER_CREATED,
    "orders/paid": EventKind.ORDER_PAID,
}
#: `financial_status` values meaning the money was captured at some point.
_PAID_STATUSES = frozenset({"paid", "partially_refunded", "refunded"})
#: At most this many validation problems are listed in one 422 detail.
_MAX_PROBLEMS = 3



def sign(body: bytes, secret: str) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify sends: base64 HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime) -> None:
    """Check the body's HMAC against every configured secret (old and new during a rotation).

    `now` is unused: Shopify signs no timestamp (replays are caught by the dedupe key).

    Raises:
        InvalidSignature: the header is missing or not base64, no secret is configured,
            or no secret matches. The detail never contains a secret or a digest.
    """
    del now
    received = _header(_lowered(headers), "hmac-sha256")
    if received is None:
        raise InvalidSignature("missing X-Shopify-Hmac-Sha256 header")
    keys = [secret.encode() for secret in secrets if secret]
    if not keys:
        raise InvalidSignature("no Shopify signing secret is configured")
    try:
        digest = base64.b64decode(received, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature("X-Shopify-Hmac-Sha256 is not base64") from None
    matched = False
    for key in keys:  # no early exit: the time taken does not say which secret matched
        expected = hmac.new(key, body, hashlib.sha256).digest()
        matched = hmac.compare_digest(expected, digest) or matched
    if not matched:
        raise InvalidSignature("X-Shopify-Hmac-Sha256 does not match the body")



def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _header(lowered: Mapping[str, str], name: str) -> str | None:
    """`X-Shopify-<name>`, or the unprefixed `Shopify-<name>` of event subscriptions."""
    for key in (f"x-shopify-{name}", f"shopify-{name}"):
        value = lowered.get(key, "").strip()
        if value:
            return value
    return None


def _dedupe_key(lowered: Mapping[str, str], topic: str) -> str:
    """`<shop>:<topic>:<event id>`, so equal ids from two shops or topics never collide."""
    event_id = _header(lowered, "event-id") or _header(lowered, "webhook-id")
    if event_id is None:
        raise InvalidPayload("missing X-Shopify-Event-Id and X-Shopify-Webhook-Id headers")
    shop = (_header(lowered, "shop-domain") or "").lower()
    return f"{shop}:{topic}:{event_id}"


def _triggered_at(lowered: Mapping[str, str]) -> datetime | None:
    """`X-Shopify-Triggered-At` as an aware datetime; None when absent or unreadable."""
    raw = _header(lowered, "triggered-at")
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, numbers with a fraction read as Decimal (never float)."""
    try:
        document = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=Decimal)
    except UnicodeDecodeError:
        raise MalformedBody("body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"body is not JSON ({exc.msg} at {exc.lineno}:{exc.colno})") from None
    except (ValueError, RecursionError):  # an int too long to convert; nesting too deep
        raise MalformedBody("body is not JSON") from None
    if not isinstance(document, dict):
        raise MalformedBody("body is not a JSON object")
    return document



def _amount(value: object) -> Decimal:
    try:
        return parse_amount(value)
    except ValueError:
        raise ValueError("not an amount") from None  # parse_amount's message echoes the value


def _identifier(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError("not an id")


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


_Amount = Annotated[Decimal, BeforeValidator(_amount), Field(ge=0)]
_Rate = Annotated[Decimal, BeforeValidator(_amount), Field(ge=0, le=1)]  #: a fraction, 0.17
_Text = Annotated[str | None, BeforeValidator(_blank_to_none)]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)


class _TaxLine(_Wire):
    price: _Amount
    rate: _Rate | None = None


class _Allocation(_Wire):
    amount: _Amount


class _Priced(_Wire):
    title: _Text = None
    price: _Amount
    tax_lines: tuple[_TaxLine, ...] = ()
    discount_allocations: tuple[_Allocation, ...] = ()


class _LineItem(_Priced):
    name: _Text = None
    variant_title: _Text = None
    sku: _Text = None
    quantity: int = Field(gt=0)
    taxable: bool = True
    total_discount: _Amount = Decimal(0)


class _ShippingLine(_Priced):
    code: _Text = None
    discounted_price: _Amount | None = None


class _Person(_Wire):
    """A billing address or the customer record: both carry a name and contact fields."""

    name: _Text = None
    first_name: _Text = None
    last_name: _Text = None
    email: _Text = None
    phone: _Text = None
    company: _Text = None
    address1: _Text = None
    address2: _Text = None
    city: _Text = None
    zip: _Text = None
    country_code: _Text = None


class _ShopifyOrder(_Wire):
    id: Annotated[str, BeforeValidator(_identifier)]
    name: _Text = None
    order_number: int | None = None
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    taxes_included: bool
    total_price: _Amount
    total_tax: _Amount = Decimal(0)
    total_discounts: _Amount = Decimal(0)
    financial_status: _Text = None
    created_at: datetime
    payment_gateway_names: tuple[str, ...] = ()
    gateway: _Text = None
    note: _Text = None
    email: _Text = None
    contact_email: _Text = None
    phone: _Text = None
    customer: _Person | None = None
    billing_address: _Person | None = None
    line_items: tuple[_LineItem, ...] = Field(min_length=1)
    shipping_lines: tuple[_ShippingLine, ...] = ()



def parse(body: bytes, headers: Mapping[str, str]) -> Parsed:
    """Read one delivery; `orders/create` and `orders/paid` become an `Order`.

    Raises:
        MalformedBody: the body is not UTF-8 JSON, or not a JSON object.
        InvalidPayload: a required header is missing, or an order topic's body is not
            a valid order (the detail names the field path, never its value).
    """
    document = _load_object(body)
    lowered = _lowered(headers)
    topic = _header(lowered, "topic")
    if topic is None:
        raise InvalidPayload("missing X-Shopify-Topic header")
    dedupe_key = _dedupe_key(lowered, topic)
    kind = _KINDS.get(topic)
    order = None if kind is None else _order(document, paid=kind is EventKind.ORDER_PAID)
    return Parsed(dedupe_key, topic, kind, order, _triggered_at(lowered))


def _order(document: dict[str, Any], *, paid: bool) -> Order:
    try:
        wire = _ShopifyOrder.model_validate(document)
    except ValidationError as exc:
        raise _invalid(exc) from None
    number = wire.name or (str(wire.order_number) if wire.order_number is not None else None)
    if number is None:
        raise InvalidPayload("name: missing (and no order_number)")
    taxed = wire.total_tax > 0
    lines = [_item_line(n, item, taxed) for n, item in enumerate(wire.line_items)]
    lines += [_shipping_line(shipping, taxed) for shipping in wire.shipping_lines]
    allocated = sum((line.discount for line in lines), Decimal(0))
    try:
        return Order(
            order_id=wire.id,
            number=number,
            currency=wire.currency,
            prices_include_tax=wire.taxes_included,
            lines=_absorb_discount(lines, wire.total_discounts - allocated),
            total=wire.total_price,
            total_tax=wire.total_tax,
            paid=paid or wire.financial_status in _PAID_STATUSES,
            customer=_customer(wire),
            created_at=wire.created_at,
            payment_gateway=next(iter(wire.payment_gateway_names), None) or wire.gateway,
            note=wire.note,
        )
    except ValidationError as exc:
        raise _invalid(exc, prefix="order") from None


def _sum(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal(0))


def _taxes(
    tax_lines: Sequence[_TaxLine], taxable: bool, order_taxed: bool
) -> tuple[Decimal, Decimal | None, bool]:
    """A line's tax, its rate in percent (summed over e.g. state + city tax), and taxable.

    A line without any tax lines (minimal payloads) is taxable if the order has tax.
    """
    tax = _sum(tax_line.price for tax_line in tax_lines)
    rate = _sum(tax_line.rate or Decimal(0) for tax_line in tax_lines) * 100 if tax else None
    has_tax = tax > 0 if tax_lines else order_taxed
    return tax, rate, taxable and has_tax


def _item_line(index: int, item: _LineItem, order_taxed: bool) -> Line:
    description = item.name or " - ".join(filter(None, (item.title, item.variant_title)))
    if not description:
        raise InvalidPayload(f"line_items.{index}.name: missing (and no title)")
    if item.discount_allocations:
        discount = _sum(allocation.amount for allocation in item.discount_allocations)
    else:  # payloads from before discount allocations existed
        discount = item.total_discount
    tax, rate, taxable = _taxes(item.tax_lines, item.taxable, order_taxed)
    return Line(kind="item", description=description, sku=item.sku,
                quantity=Decimal(item.quantity), unit_price=item.price, discount=discount,
                tax=tax, tax_rate=rate, taxable=taxable)


def _shipping_line(shipping: _ShippingLine, order_taxed: bool) -> Line:
    if shipping.discount_allocations:
        discount = _sum(allocation.amount for allocation in shipping.discount_allocations)
    elif shipping.discounted_price is not None:
        discount = max(Decimal(0), shipping.price - shipping.discounted_price)
    else:
        discount = Decimal(0)
    tax, rate, taxable = _taxes(shipping.tax_lines, True, order_taxed)
    return Line(kind="shipping", description=shipping.title or shipping.code or "Shipping",
                quantity=Decimal(1), unit_price=shipping.price, discount=discount,
                tax=tax, tax_rate=rate, taxable=taxable)


def _absorb_discount(lines: list[Line], remainder: Decimal) -> tuple[Line, ...]:
    """Put an order discount that no line carries on the item lines, first line first.

    Current API versions allocate every discount to lines, so the remainder is zero.
    Old payloads only have `total_discounts`; where it goes is ambiguous, and the
    first item line that can absorb it (then the next, if it cannot) takes it.
    """
    result: list[Line] = []
    for line in lines:
        room = line.unit_price * line.quantity - line.discount
        take = min(room, remainder) if line.kind == "item" else Decimal(0)
        if take > 0:
            line = line.model_copy(update={"discount": line.discount + take})
            remainder -= take
        result.append(line)
    if remainder > 0:
        raise InvalidPayload("total_discounts: more than the line items' prices")
    return tuple(result)


def _full_name(person: _Person) -> str | None:
    return person.name or " ".join(filter(None, (person.first_name, person.last_name))) or None


def _customer(wire: _ShopifyOrder) -> Customer:
    billing = wire.billing_address or _Person()
    buyer = wire.customer or _Person()
    email = wire.email or wire.contact_email or buyer.email
    name = _full_name(billing) or _full_name(buyer) or email or "Customer"
    street = ", ".join(filter(None, (billing.address1, billing.address2))) or None
    return Customer(name=name, email=email, phone=wire.phone or billing.phone or buyer.phone,
                    company=billing.company, address=street, city=billing.city,
                    postcode=billing.zip, country=billing.country_code)


def _invalid(exc: ValidationError, prefix: str = "") -> InvalidPayload:
    """A 422 naming each bad field's path; pydantic's own input echo is left out."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False)[:_MAX_PROBLEMS]:
        path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        message = "missing" if error["type"] == "missing" else error["msg"]
        problems.append(f"{path or 'body'}: {message.removeprefix('Value error, ')}")
    return InvalidPayload("; ".join(problems))
