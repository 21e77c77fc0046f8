"""Shopify: verify `X-Shopify-Hmac-Sha256`; parse `orders/create` and `orders/paid` into Orders.

Pure. Fields follow the REST Order resource (shared/webhooks.md 1.5); money is read as Decimal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from handlers.errors import InvalidPayload, InvalidSignature, MalformedBody
from handlers.sources import Parsed
from worker.domain.events import Customer, EventKind, Line, Order
from worker.domain.money import parse_amount

NAME = "shopify"

#: Topics we act on; any other topic is recorded as `Parsed(kind=None, order=None)`.
_KINDS = {"orders/create": EventKind.ORDER_CREATED, "orders/paid": EventKind.ORDER_PAID}
#: `financial_status` values meaning the money was captured at some point.
_PAID_STATUSES = frozenset({"paid", "partially_refunded", "refunded"})
_ZERO = Decimal(0)


def sign(body: bytes, secret: str) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify sends: base64 HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime) -> None:
    """Check the body's HMAC against every secret (old and new during a rotation).

    `now` is unused: Shopify signs no timestamp. Raises `InvalidSignature` (whose detail
    never holds a secret or digest) if the header is missing or no secret matches.
    """
    received = _header(headers, "hmac-sha256")
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


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """`X-Shopify-<name>` (or the unprefixed `Shopify-<name>`), any casing; blank is missing."""
    wanted = {f"x-shopify-{name}", f"shopify-{name}"}
    for key, value in headers.items():
        if key.lower() in wanted and value.strip():
            return value.strip()
    return None


def _dedupe_key(headers: Mapping[str, str], topic: str) -> str:
    """`<shop>:<topic>:<event id>`, so equal ids from two shops or topics never collide."""
    event_id = _header(headers, "event-id") or _header(headers, "webhook-id")
    if event_id is None:
        raise InvalidPayload("missing X-Shopify-Event-Id and X-Shopify-Webhook-Id headers")
    shop = (_header(headers, "shop-domain") or "").lower()
    return f"{shop}:{topic}:{event_id}"


def _triggered_at(headers: Mapping[str, str]) -> datetime | None:
    """`X-Shopify-Triggered-At` as an aware datetime; None when absent or unreadable."""
    try:
        moment = datetime.fromisoformat(_header(headers, "triggered-at") or "")
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; every non-integer number is read as a Decimal, never a float."""
    try:
        document = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=Decimal)
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"body is not JSON ({exc.msg} at {exc.lineno}:{exc.colno})") from None
    except (ValueError, RecursionError):  # not UTF-8, a too long integer, nesting too deep
        raise MalformedBody("body is not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise MalformedBody("body is not a JSON object")
    return document


def _amount(value: object) -> Decimal:
    try:
        return parse_amount(value)
    except ValueError:
        raise ValueError("not an amount") from None  # parse_amount's message echoes the value


_Amount = Annotated[Decimal, BeforeValidator(_amount), Field(ge=0)]
_Rate = Annotated[Decimal, BeforeValidator(_amount), Field(ge=0, le=1)]  #: a fraction: 0.17
_Text = Annotated[
    str | None, BeforeValidator(lambda v: v.strip() or None if isinstance(v, str) else v)
]


class _Wire(BaseModel):  # only the fields we read; the rest is ignored
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

    def discount(self, fallback: Decimal) -> Decimal:
        """Σ discount_allocations; `fallback` for payloads from before allocations existed."""
        amounts = [allocation.amount for allocation in self.discount_allocations]
        return sum(amounts, _ZERO) if amounts else fallback


class _LineItem(_Priced):
    name: _Text = None
    variant_title: _Text = None
    sku: _Text = None
    quantity: int = Field(gt=0)
    taxable: bool = True
    total_discount: _Amount = _ZERO


class _ShippingLine(_Priced):
    code: _Text = None
    discounted_price: _Amount | None = None


class _Person(_Wire):  # a billing address or the customer record
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

    def full_name(self) -> str | None:
        return self.name or " ".join(filter(None, (self.first_name, self.last_name))) or None


class _ShopifyOrder(_Wire):
    id: str = Field(min_length=1)  #: an int64 on the wire
    name: _Text = None
    order_number: int | None = None
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    taxes_included: bool
    total_price: _Amount
    total_tax: _Amount = _ZERO
    total_discounts: _Amount = _ZERO
    financial_status: str | None = None
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

    Raises `MalformedBody` (not a UTF-8 JSON object) or `InvalidPayload` (a header is
    missing, or the order is invalid: the detail names the field path, never its value).
    """
    document = _load_object(body)
    topic = _header(headers, "topic")
    if topic is None:
        raise InvalidPayload("missing X-Shopify-Topic header")
    dedupe_key = _dedupe_key(headers, topic)
    kind = _KINDS.get(topic)
    order = None if kind is None else _order(document, paid=kind is EventKind.ORDER_PAID)
    return Parsed(dedupe_key, topic, kind, order, _triggered_at(headers))


def _order(document: dict[str, Any], *, paid: bool) -> Order:
    try:
        wire = _ShopifyOrder.model_validate(document)
    except ValidationError as exc:
        raise _invalid(exc) from None
    taxed = wire.total_tax > 0
    lines = [_item_line(n, item, taxed) for n, item in enumerate(wire.line_items)]
    lines += [_shipping_line(shipping, taxed) for shipping in wire.shipping_lines]
    unallocated = wire.total_discounts - sum((line.discount for line in lines), _ZERO)
    try:
        return Order(
            order_id=wire.id, number=wire.name or str(wire.order_number or wire.id),
            currency=wire.currency, prices_include_tax=wire.taxes_included,
            lines=_absorb_discount(lines, unallocated),
            total=wire.total_price, total_tax=wire.total_tax, customer=_customer(wire),
            paid=paid or wire.financial_status in _PAID_STATUSES, created_at=wire.created_at,
            payment_gateway=next(iter(wire.payment_gateway_names), None) or wire.gateway,
            note=wire.note,
        )  # fmt: skip
    except ValidationError as exc:
        raise _invalid(exc, prefix="order") from None


def _item_line(index: int, item: _LineItem, taxed: bool) -> Line:
    description = item.name or " - ".join(filter(None, (item.title, item.variant_title)))
    if not description:
        raise InvalidPayload(f"line_items.{index}.name: missing (and no title)")
    return _line("item", description, item, item.quantity, item.discount(item.total_discount),
                 item.sku, item.taxable, taxed)  # fmt: skip


def _shipping_line(shipping: _ShippingLine, taxed: bool) -> Line:
    discounted = shipping.price if shipping.discounted_price is None else shipping.discounted_price
    discount = shipping.discount(max(_ZERO, shipping.price - discounted))
    description = shipping.title or shipping.code or "Shipping"
    return _line("shipping", description, shipping, 1, discount, None, True, taxed)


def _line(kind: Literal["item", "shipping"], description: str, priced: _Priced, quantity: int,
          discount: Decimal, sku: str | None, taxable: bool, taxed: bool) -> Line:  # fmt: skip
    """A canonical line: rates of several tax lines add up (state + city); a line without
    tax lines (minimal payloads) is taxable if the order has tax."""
    tax = sum((tax_line.price for tax_line in priced.tax_lines), _ZERO)
    rate = sum((tax_line.rate or _ZERO for tax_line in priced.tax_lines), _ZERO) * 100
    has_tax = tax > 0 if priced.tax_lines else taxed
    return Line(kind=kind, description=description, sku=sku, quantity=Decimal(quantity),
                unit_price=priced.price, discount=discount, tax=tax,
                tax_rate=rate if tax else None, taxable=taxable and has_tax)  # fmt: skip


def _absorb_discount(lines: list[Line], remainder: Decimal) -> tuple[Line, ...]:
    """Put an order discount that no line carries on the first item line that can absorb it.

    Current API versions allocate every discount; in old payloads the place is ambiguous."""
    result: list[Line] = []
    for line in lines:
        room = line.unit_price * line.quantity - line.discount
        take = min(room, remainder) if line.kind == "item" else _ZERO
        if take > 0:
            line = line.model_copy(update={"discount": line.discount + take})
            remainder -= take
        result.append(line)
    if remainder > 0:
        raise InvalidPayload("total_discounts: more than the line items' prices")
    return tuple(result)


def _customer(wire: _ShopifyOrder) -> Customer:
    billing = wire.billing_address or _Person()
    buyer = wire.customer or _Person()
    email = wire.email or wire.contact_email or buyer.email
    street = ", ".join(filter(None, (billing.address1, billing.address2))) or None
    return Customer(name=billing.full_name() or buyer.full_name() or email or "Customer",
                    email=email, phone=wire.phone or billing.phone or buyer.phone,
                    company=billing.company, address=street, city=billing.city,
                    postcode=billing.zip, country=billing.country_code)  # fmt: skip


def _invalid(exc: ValidationError, prefix: str = "") -> InvalidPayload:
    """A 422 naming each bad field's path; pydantic's input echo is left out."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:  # enough to fix a payload
        path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        message = "missing" if error["type"] == "missing" else error["msg"]
        problems.append(f"{path or 'body'}: {message.removeprefix('Value error, ')}")
    return InvalidPayload("; ".join(problems))


def detect_ping(body: bytes, headers: Mapping[str, str]) -> Parsed | None:
    """Shopify sends no unsigned set-up ping; every delivery is verified."""
    return None
