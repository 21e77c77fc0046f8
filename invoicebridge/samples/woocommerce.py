"""Synthetic WooCommerce order webhooks whose lines, taxes and totals agree to the cent.

Shaped on the REST v3 order (shared/webhooks.md 2.6) as a store with prices entered without
tax sends it; written for invoicebridge, not copied. Used by the demo and the tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from handlers.sources import woocommerce
from invoicebridge.samples.shopify import encode_body as encode_body  # the same compact JSON
from invoicebridge.samples.stripe_objects import stripe_id
from invoicebridge.samples.woocommerce_lines import (
    MoneyFormat,
    formatter,
    line_item,
    order_rows,
    order_totals,
    shipping_line,
    tax_lines,
)
from worker.domain.money import parse_amount, quantize

#: The shop every sample comes from, as WooCommerce writes it in X-WC-Webhook-Source.
SOURCE = "https://shop.example.com/"
#: WooCommerce's webhook User-Agent ("WooCommerce/<wc> Hookshot (WordPress/<wp>)").
USER_AGENT = "WooCommerce/9.4.0 Hookshot (WordPress/6.7)"
#: An order's lines when the caller gives none: (name, unit price without tax, quantity).
DEFAULT_LINES: tuple[tuple[str, str, int], ...] = (
    ("Ceramic mug - Sand", "49.00", 2),
    ("Olive wood serving board", "127.35", 1),
)
#: How a sample order can be paid: the gateway id and title WooCommerce stores (core's `bacs`
#: and `cod`, the Stripe plugin's `stripe`, PayPal Payments' `ppcp-gateway`).
PAYMENT_METHODS = {
    "stripe": ("stripe", "Credit Card (Stripe)"),
    "paypal": ("ppcp-gateway", "PayPal"),
    "bacs": ("bacs", "Direct bank transfer"),
    "cod": ("cod", "Cash on delivery"),
}
_PAID_STATUSES = frozenset({"processing", "completed", "refunded"})
#: Orders are placed one minute apart by id; the site runs on Israel winter time (UTC+2).
_PLACED = datetime(2025, 3, 2, 7, 0, tzinfo=UTC)
_SITE_OFFSET = timedelta(hours=2)


def woo_order(
    order_id: int,
    *,
    status: str = "processing",
    lines: Sequence[tuple[str, str, int]] = DEFAULT_LINES,
    tax_rate: str = "17",
    shipping: str | None = "20.00",
    coupon: str | None = None,
    currency: str = "ILS",
    customer: tuple[str, str, str] = ("Dana", "Levi", "dana@example.com"),
    refunds: Sequence[tuple[int, str, str]] = (),
    date_modified: datetime | None = None,
    payment: str | None = None,
) -> dict[str, Any]:
    """An `order.*` webhook body whose totals agree exactly with its lines.

    `lines` are (name, unit price without tax, quantity); `tax_rate` is a percent, rounded
    half-up per line as WooCommerce does; `coupon` is a fixed amount off the cart ("15.00")
    or a percentage ("10%"), spread over the lines pro rata in whole minor units; `shipping`
    None means no shipping line; `refunds` are (id, amount, reason), listed newest first.
    `date_paid_gmt` is set for processing, completed and refunded orders. `payment` is a key of
    `PAYMENT_METHODS`, by default "stripe" for a paid order and "bacs" for an unpaid one; a paid
    order's `transaction_id` is the gateway's (a Stripe charge id, a PayPal capture id), and
    empty for bank transfers and cash, as WooCommerce sends it.

    Raises:
        ValueError: no lines, a negative price, a quantity below 1, a coupon larger than the
            lines, refunds above the order's total, or an unknown `payment`.
    """
    rate = parse_amount(tax_rate) / 100
    rows = order_rows(lines, coupon, rate, currency)
    ship = None if shipping is None else quantize(parse_amount(shipping), currency)
    ship_tax = quantize((ship or Decimal(0)) * rate, currency)
    money = formatter(currency)
    order = _identity(order_id, status, currency, date_modified)
    paid = status in _PAID_STATUSES
    order |= _people(customer)
    order |= _paid_with(order_id, payment or ("stripe" if paid else "bacs"), paid=paid)
    order |= order_totals(rows, ship or Decimal(0), ship_tax, money)
    order["line_items"] = [line_item(order_id, n, row, money) for n, row in enumerate(rows)]
    order["tax_lines"] = tax_lines(order_id, order, rate)
    order["shipping_lines"] = (
        [] if ship is None else [shipping_line(order_id, ship, ship_tax, money)]
    )
    return order | _tail(order_id, order, coupon, _refunds(refunds, order["total"], money))


def _tail(
    order_id: int, totals: dict[str, Any], coupon: str | None, refunds: list[dict[str, Any]]
) -> dict[str, Any]:
    """Fee, coupon and refund lists, and the links that end every order."""
    coupons = (
        []
        if coupon is None
        else [
            {
                "id": order_id * 100 + 97,
                "code": "save" + coupon.replace("%", "pct").replace(".", ""),
                "discount": totals["discount_total"],
                "discount_tax": totals["discount_tax"],
                "meta_data": [],
            }
        ]
    )
    return {
        "fee_lines": [],
        "coupon_lines": coupons,
        "refunds": refunds,
        "payment_url": f"{SOURCE}checkout/order-pay/{order_id}/?pay_for_order=true",
        "_links": {"self": [{"href": f"{SOURCE}wp-json/wc/v3/orders/{order_id}"}]},
    }


def _stamp(moment: datetime) -> dict[str, str]:
    """One date as WooCommerce writes it twice: site-local and GMT, neither with an offset."""
    gmt = moment.astimezone(UTC).replace(tzinfo=None)
    return {
        "": (gmt + _SITE_OFFSET).isoformat(timespec="seconds"),
        "_gmt": gmt.isoformat(timespec="seconds"),
    }


def _identity(
    order_id: int, status: str, currency: str, date_modified: datetime | None
) -> dict[str, Any]:
    created = _PLACED + timedelta(minutes=order_id % 100_000)
    modified = date_modified or created + timedelta(minutes=3)
    paid = created + timedelta(seconds=40) if status in _PAID_STATUSES else None
    completed = modified if status == "completed" else None
    order: dict[str, Any] = {
        "id": order_id,
        "parent_id": 0,
        "status": status,
        "currency": currency,
        "version": "9.4.0",
        "prices_include_tax": False,
    }
    for field, moment in (
        ("date_created", created),
        ("date_modified", modified),
        ("date_completed", completed),
        ("date_paid", paid),
    ):
        for suffix, text in (_stamp(moment) if moment else {"": None, "_gmt": None}).items():
            order[field + suffix] = text
    order["number"] = str(order_id)
    order["order_key"] = "wc_order_" + hashlib.sha256(f"{order_id}".encode()).hexdigest()[:13]
    order["created_via"] = "checkout"
    order["cart_hash"] = hashlib.sha256(f"cart-{order_id}".encode()).hexdigest()[:32]
    return order


def _paid_with(order_id: int, payment: str, *, paid: bool) -> dict[str, Any]:
    """The gateway fields, the gateway's transaction id once paid, and the Stripe plugin's
    order meta (woocommerce-gateway-stripe's `_stripe_intent_id`, `_stripe_charge_captured`)."""
    if payment not in PAYMENT_METHODS:
        raise ValueError(f"payment is one of {', '.join(PAYMENT_METHODS)}")
    method, title = PAYMENT_METHODS[payment]
    transaction, meta = "", [{"id": order_id * 10 + 1, "key": "_order_source", "value": "web"}]
    if paid and method == "stripe":
        transaction = stripe_id("ch", "woo", order_id)
        meta += [
            {
                "id": order_id * 10 + 2,
                "key": "_stripe_intent_id",
                "value": stripe_id("pi", "woo", order_id),
            },
            {"id": order_id * 10 + 3, "key": "_stripe_charge_captured", "value": "yes"},
        ]
    elif paid and method == "ppcp-gateway":  # a PayPal capture id: "7HX21398TB345812K"
        digest = hashlib.sha256(f"paypal-{order_id}".encode()).hexdigest().upper()
        transaction = f"{digest[:2]}X{digest[2:7]}TB{digest[7:13]}K"
    return {
        "payment_method": method,
        "payment_method_title": title,
        "transaction_id": transaction,
        "meta_data": meta,
    }


def _people(customer: tuple[str, str, str]) -> dict[str, Any]:
    first, last, email = customer
    address = {
        "first_name": first,
        "last_name": last,
        "company": "",
        "address_1": "Rothschild Blvd 22",
        "address_2": "",
        "city": "Tel Aviv",
        "state": "",
        "postcode": "6688218",
        "country": "IL",
    }
    return {
        "customer_id": 0,
        "customer_note": "",
        "customer_ip_address": "192.0.2.10",
        "customer_user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0",
        "billing": {**address, "email": email, "phone": "+972501234567"},
        "shipping": {**address, "phone": ""},
    }


def _refunds(
    refunds: Sequence[tuple[int, str, str]], total: str, money: MoneyFormat
) -> list[dict[str, Any]]:
    """`refunds[]` as WooCommerce lists them: newest first, each total negative."""
    amounts = [parse_amount(amount) for _, amount, _ in refunds]
    if any(amount <= 0 for amount in amounts) or sum(amounts, Decimal(0)) > Decimal(total):
        raise ValueError("refunds must be positive and add up to at most the order's total")
    listed = sorted(zip(refunds, amounts, strict=True), key=lambda pair: -pair[0][0])
    return [
        {"id": refund_id, "reason": reason, "total": "-" + money(amount)}
        for (refund_id, _, reason), amount in listed
    ]


def headers_for(
    body: bytes,
    *,
    topic: str,
    secret: str,
    webhook_id: int = 7,
    source: str = SOURCE,
    delivered_at: datetime | None = None,
) -> dict[str, str]:
    """The full header set WooCommerce sends with `body`, signed with `secret`.

    X-WC-Webhook-Delivery-ID mimics WooCommerce's `wp_hash(webhook id . current second)`: the
    same for any two deliveries of one webhook within a second, different on a re-delivery
    later. `delivered_at` (default now) picks that second.
    """
    resource, _, event = topic.partition(".")
    second = int((delivered_at or datetime.now(UTC)).timestamp())
    delivery = hashlib.md5(f"{webhook_id}{second}".encode(), usedforsecurity=False).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-WC-Webhook-Source": source,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": woocommerce.sign(body, secret),
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": delivery,
    }


def ping_body(webhook_id: int) -> bytes:
    """The unsigned form body WooCommerce POSTs when a webhook is created or activated."""
    return f"webhook_id={webhook_id}".encode()
