"""Synthetic Standard Webhooks messages carrying our canonical envelope, and their headers.

The envelope is documented in docs/standard-webhook.schema.json; orders here have lines,
VAT and totals that agree to the agora. Written for invoicebridge. Used by the demo and tests.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from handlers.sources import standard
from invoicebridge.samples.stripe_objects import stripe_id
from worker.domain.money import parse_amount, quantize

#: An order's lines when the caller gives none: (description, unit price, quantity).
DEFAULT_LINES: tuple[tuple[str, str, int], ...] = (
    ("Ceramic mug - Sand", "59.90", 2),
    ("Olive wood serving board", "149.00", 1),
)
#: How a sample order can be paid: its `payment` object, less the payer and the time.
PAYMENTS: dict[str, dict[str, Any]] = {
    "card": {"gateway": "stripe", "kind": "card", "card_brand": "Visa", "card_last4": "4242"},
    "paypal": {"gateway": "paypal", "kind": "paypal"},
    "bank_transfer": {"gateway": "bank", "kind": "bank_transfer"},
    "cash": {"gateway": "cash", "kind": "cash"},
}
#: When sample orders were placed (Israel time) unless the caller says otherwise.
PLACED = datetime(2025, 7, 14, 9, 30, tzinfo=timezone(timedelta(hours=3)))


def envelope(
    type: str, data: dict[str, Any], *, timestamp: datetime | None = None
) -> dict[str, Any]:
    """A message body: `{"type", "timestamp", "data"}`; `timestamp` defaults to now (UTC)."""
    moment = timestamp or datetime.now(UTC)
    return {"type": type, "timestamp": moment.isoformat(), "data": data}


def order_data(
    order_id: str,
    *,
    number: str | None = None,
    lines: Sequence[tuple[str, str, int]] = DEFAULT_LINES,
    shipping: str | None = None,
    currency: str = "ILS",
    prices_include_tax: bool = True,
    vat_rate: str = "18",
    customer_name: str = "Dana Levi",
    email: str | None = "dana.levi@example.com",
    paid: bool = True,
    cancelled: bool = False,
    created_at: datetime = PLACED,
    payment: str | None = "card",
) -> dict[str, Any]:
    """`data` of an order event: `{"order": <canonical Order as JSON>}`, money as strings.

    `lines` are (description, unit price, quantity); `shipping` None means no shipping line.
    Each line's VAT at `vat_rate` percent is extracted from (`prices_include_tax`) or added to
    its amount, rounded half-up per line; `total` and `total_tax` are the lines' sums. A paid
    order says how it was paid: `payment` is a key of `PAYMENTS` (None: it does not say); a
    transaction id is made up for a card or PayPal payment, paid two minutes after the order.
    """
    rows = [("item", text, price, quantity) for text, price, quantity in lines]
    if shipping is not None:
        rows.append(("shipping", "Standard shipping", shipping, 1))
    built = [_line(*row, vat_rate, prices_include_tax, currency) for row in rows]
    taxes = sum((Decimal(line["tax"]) for line in built), Decimal(0))
    gross = sum(
        (Decimal(line["unit_price"]) * Decimal(line["quantity"]) for line in built), Decimal(0)
    )
    total = gross if prices_include_tax else gross + taxes
    return {
        "order": {
            "order_id": order_id,
            "number": number or f"#{order_id}",
            "currency": currency,
            "prices_include_tax": prices_include_tax,
            "lines": built,
            "total": str(quantize(total, currency)),
            "total_tax": str(quantize(taxes, currency)),
            "paid": paid,
            "cancelled": cancelled,
            "customer": {
                "name": customer_name,
                "email": email,
                "phone": None,
                "company": None,
                "vat_id": None,
                "address": "Rothschild Blvd 22",
                "city": "Tel Aviv",
                "postcode": "6688218",
                "country": "IL",
            },
            "created_at": created_at.isoformat(),
            "updated_at": created_at.isoformat(),
            "payment_gateway": "card" if paid else None,
            "note": None,
            "refunds": [],
            "payment": _payment(order_id, payment, customer_name, created_at) if paid else None,
        }
    }


def _payment(
    order_id: str, payment: str | None, payer: str, created_at: datetime
) -> dict[str, Any] | None:
    if payment is None:
        return None
    if payment not in PAYMENTS:
        raise ValueError(f"payment is one of {', '.join(PAYMENTS)}")
    reference = {
        "card": stripe_id("ch", "standard", order_id),
        "paypal": stripe_id("PAYID", order_id),
    }.get(payment)
    return {
        **PAYMENTS[payment],
        "transaction_id": reference,
        "payer_name": payer,
        "paid_at": (created_at + timedelta(minutes=2)).isoformat(),
    }


def _line(
    kind: str,
    text: str,
    price: str,
    quantity: int,
    vat_rate: str,
    prices_include_tax: bool,
    currency: str,
) -> dict[str, Any]:
    unit = quantize(parse_amount(price), currency)
    rate = parse_amount(vat_rate) / 100
    amount = unit * quantity
    tax = amount * rate / (1 + rate) if prices_include_tax else amount * rate
    return {
        "kind": kind,
        "description": text,
        "sku": None,
        "quantity": str(quantity),
        "unit_price": str(unit),
        "discount": "0",
        "tax": str(quantize(tax, currency)),
        "tax_rate": vat_rate if rate else None,
        "taxable": bool(rate),
    }


def refund_data(
    order_id: str,
    refund_id: str,
    amount: str,
    *,
    currency: str = "ILS",
    reason: str | None = "Returned by the customer",
    created_at: datetime | None = None,
    order: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`data` of a `refund.issued` event; `order` (an `order_data(...)["order"]`) is optional."""
    moment = created_at or PLACED + timedelta(days=3)
    data: dict[str, Any] = {
        "order_id": order_id,
        "refund": {
            "refund_id": refund_id,
            "amount": amount,
            "currency": currency,
            "reason": reason,
            "lines": [],
            "created_at": moment.isoformat(),
        },
    }
    if order is not None:
        data["order"] = order
    return data


def payment_data(
    order_id: str, *, payment: str = "card", transaction_id: str | None = "ch_3Pq2aE8k1mZ0b4xA"
) -> dict[str, Any]:
    """`data` of a `payment.details` event: how the order was paid (`PAYMENTS[payment]`), with
    the gateway's transaction id, the payer and the time."""
    paid = PAYMENTS[payment] | {"transaction_id": transaction_id, "payer_name": "Dana Levi"}
    return {"order_id": order_id, "payment": paid | {"paid_at": PLACED.isoformat()}}


def headers_for(
    body: bytes,
    secret: str,
    *,
    msg_id: str,
    timestamp: int | None = None,
    svix: bool = False,
) -> dict[str, str]:
    """The headers a Standard Webhooks sender adds (`svix-*` names as Svix's default sends).

    `timestamp` (unix seconds of this attempt) defaults to now; a retry keeps `msg_id`.
    """
    moment = int(datetime.now(UTC).timestamp()) if timestamp is None else timestamp
    prefix = "svix" if svix else "webhook"
    return {
        "Content-Type": "application/json",
        f"{prefix}-id": msg_id,
        f"{prefix}-timestamp": str(moment),
        f"{prefix}-signature": standard.sign(body, secret, msg_id, moment),
    }


def new_secret() -> str:
    """A fresh signing secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
