"""Synthetic Shopify order webhooks whose totals, taxes and discounts agree to the agora, and
the transactions that paid them.

Shaped on the REST Order and Transaction resources (shared/webhooks.md 1.5;
shopify.dev/docs/api/admin-rest/latest/resources/transaction); written for invoicebridge,
not copied. Used by the demo, the load generator and the tests.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from handlers.sources import shopify
from invoicebridge.samples.shopify_lines import Money as Money
from invoicebridge.samples.shopify_lines import (
    discount_fields,
    line_item,
    order_rows,
    order_totals,
    shipping_line,
    tax_lines,
    vat,
)
from worker.domain.money import parse_amount, quantize

#: The shop every sample order comes from.
SHOP = "acme-store.myshopify.com"
#: The API version the samples are serialised as.
API_VERSION = "2025-07"
#: An order's lines when the caller gives none: (title, unit price, quantity).
DEFAULT_LINES: tuple[tuple[str, str, int], ...] = (
    ("Ceramic mug - Sand", "59.90", 2),
    ("Olive wood serving board", "149.00", 1),
)
#: `financial_status` values meaning the order was paid (nothing is outstanding).
_PAID_STATUSES = frozenset({"paid", "partially_refunded", "refunded"})
#: How a sample order can be paid: the gateway name Shopify lists in `payment_gateway_names`.
PAYMENT_GATEWAYS = {
    "card": "shopify_payments",
    "paypal": "paypal",
    "bank_deposit": "Bank Deposit",  # a manual method: the order waits, pending, for the money
    "cod": "Cash on Delivery (COD)",
}
#: The card a "card" sample was paid with, as an order's `payment_details` shows it (masked).
SAMPLE_CARD = {
    "credit_card_bin": None,
    "avs_result_code": None,
    "cvv_result_code": None,
    "credit_card_number": "•••• •••• •••• 4242",
    "credit_card_company": "Visa",
}
#: The gateway's authorisation code a sample card sale carries (the transaction's
#: `authorization`, recorded as the invoice-receipt's `confirmation_code`).
SAMPLE_AUTHORIZATION = "53433"
#: What a Transaction shows of a card beyond an order's `payment_details`: its BIN and checks.
_CARD_CHECKS = {"credit_card_bin": "424242", "avs_result_code": "Y", "cvv_result_code": "M"}
#: Orders are placed in Israel time, one minute apart by order number.
_PLACED = datetime(2025, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=2)))
_ZERO = Decimal(0)


def shopify_order(
    order_id: int,
    *,
    customer_name: str = "Dana Levi",
    email: str = "dana.levi@example.com",
    lines: Sequence[tuple[str, str, int]] = DEFAULT_LINES,
    discount: str | None = None,
    shipping: str | None = "25.00",
    currency: str = "ILS",
    taxes_included: bool = True,
    vat_rate: str = "0.18",
    financial_status: str = "paid",
    payment: str | None = None,
) -> dict[str, Any]:
    """An `orders/*` webhook body whose totals agree exactly with its lines.

    `lines` are (title, unit price, quantity); `discount` is one fixed-amount code spread
    over the lines pro rata in whole agorot; `shipping` None means no shipping line. VAT
    is extracted from each line (`taxes_included`) or added to it, rounded half-up per line.
    `payment` is a key of `PAYMENT_GATEWAYS`, by default "card" for a paid order and "cod"
    for an unpaid one. A card order carries the masked card in `payment_details`, and every
    order its gateway in `gateway`: API versions up to 2023-01 send both; from 2023-04 on
    Shopify leaves them out (they moved to the order's transactions), but the samples keep
    them so the demo shows a card's brand and last four.

    Raises:
        ValueError: no lines, a negative price, a quantity below 1, or a discount larger
            than the lines' total.
    """
    money = Money(currency)
    rate = parse_amount(vat_rate)
    rows = order_rows(lines, discount, rate, taxes_included, currency)
    ship = None if shipping is None else quantize(parse_amount(shipping), currency)
    ship_tax = vat(ship or _ZERO, rate, taxes_included, currency)
    paid = financial_status in _PAID_STATUSES
    order = _identity(order_id, financial_status, currency, taxes_included)
    order |= _paid_with(payment or ("card" if paid else "cod"))
    order |= _buyer(customer_name, email)
    order |= order_totals(rows, ship or _ZERO, ship_tax, taxes_included, paid, money)
    order["tax_lines"] = tax_lines(parse_amount(order["total_tax"]), rate, money)
    order["line_items"] = [line_item(order_id, n, row, rate, money) for n, row in enumerate(rows)]
    order["shipping_lines"] = []
    if ship is not None:
        order["shipping_lines"].append(shipping_line(order_id, ship, ship_tax, rate, money))
    if discount is not None:
        order |= discount_fields(parse_amount(order["total_discounts"]), money)
    return order


def _identity(
    order_id: int, financial_status: str, currency: str, taxes_included: bool
) -> dict[str, Any]:
    number = 1000 + order_id % 9000
    placed = (_PLACED + timedelta(minutes=number - 1000)).isoformat()
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}",
        "order_number": number,
        "number": number - 1000,
        "token": hashlib.sha256(f"order-{order_id}".encode()).hexdigest()[:32],
        "test": False,
        "confirmed": True,
        "created_at": placed,
        "updated_at": placed,
        "processed_at": placed,
        "cancelled_at": None,
        "cancel_reason": None,
        "currency": currency,
        "presentment_currency": currency,
        "taxes_included": taxes_included,
        "financial_status": financial_status,
        "fulfillment_status": None,
        "source_name": "web",
        "tags": "",
        "note": None,
        "note_attributes": [],
        "refunds": [],
        "discount_codes": [],
        "discount_applications": [],
    }


def _paid_with(payment: str) -> dict[str, Any]:
    """The gateway fields, and for a card the masked `payment_details`.

    Raises:
        ValueError: `payment` is not a key of `PAYMENT_GATEWAYS`.
    """
    if payment not in PAYMENT_GATEWAYS:
        raise ValueError(f"payment is one of {', '.join(PAYMENT_GATEWAYS)}")
    gateway = PAYMENT_GATEWAYS[payment]
    fields: dict[str, Any] = {"gateway": gateway, "payment_gateway_names": [gateway]}
    if payment == "card":
        fields["payment_details"] = dict(SAMPLE_CARD)
    return fields


def _buyer(customer_name: str, email: str) -> dict[str, Any]:
    first, _, last = customer_name.partition(" ")
    address = {
        "first_name": first,
        "last_name": last or None,
        "name": customer_name,
        "company": None,
        "address1": "Rothschild Blvd 22",
        "address2": None,
        "city": "Tel Aviv",
        "province": None,
        "province_code": None,
        "zip": "6688218",
        "country": "Israel",
        "country_code": "IL",
        "phone": None,
    }
    customer_id = int(hashlib.sha256(email.encode()).hexdigest()[:12], 16)
    return {
        "email": email,
        "contact_email": email,
        "phone": None,
        "customer": {
            "id": customer_id,
            "email": email,
            "first_name": first,
            "last_name": last or None,
            "default_address": dict(address),
        },
        "billing_address": address,
        "shipping_address": dict(address),
    }


#: The demo's orders (#1001-#1006), VAT-inclusive ILS unless a row says otherwise.
_DEMO: tuple[dict[str, Any], ...] = (
    {
        "customer_name": "דנה לוי",
        "email": "dana.levi@example.co.il",
        "lines": [
            ("ספל קרמיקה - חול", "59.90", 2),
            ("Olive wood serving board", "149.00", 1),
            ("Linen napkins (set of 4)", "89.90", 1),
        ],
    },
    {
        "customer_name": "Zoë Ångström",
        "email": "zoe.angstrom@example.se",
        "discount": "20.00",
        "payment": "paypal",
        "lines": [("Espresso cups (pair)", "119.00", 1), ("Coffee beans 1kg", "94.50", 2)],
    },
    {
        "customer_name": "Avi Cohen",
        "email": "avi.cohen@example.com",
        "financial_status": "pending",
        "payment": "bank_deposit",
        "lines": [("Cast iron skillet 28cm", "329.00", 1)],
    },
    {
        "customer_name": "Maya Katz",
        "email": "maya@katz-studio.example",
        "taxes_included": False,
        "shipping": "40.00",
        "lines": [("Studio lamp", "420.00", 2), ("LED bulb E27", "18.50", 4)],
    },
    {
        "customer_name": "Noa Ben-David",
        "email": "noa.bd@example.com",
        "discount": "10.00",
        "shipping": "0.00",
        "lines": [
            ("Tea towel", "33.33", 3),
            ("Wooden spoon", "19.90", 1),
            ("Gift wrapping", "10.00", 1),
        ],
    },
    {
        "customer_name": "Yossi Mizrahi",
        "email": "yossi.m@example.net",
        "shipping": "35.00",
        "lines": [
            ("Chef knife 20cm", "389.00", 1),
            ("Honing steel", "129.90", 1),
            ("Knife roll", "149.90", 1),
            ("Cutting board", "99.00", 2),
        ],
    },
)


def demo_orders() -> list[dict[str, Any]]:
    """Six varied orders for the demo: Hebrew and accented names, discount codes, free
    shipping, one unpaid (`pending`, awaiting a bank deposit) and one VAT-exclusive order;
    paid by card but for one by PayPal."""
    return [shopify_order(6_300_000_000_001 + n, **row) for n, row in enumerate(_DEMO)]


def shopify_transaction(
    order: dict[str, Any],
    *,
    kind: str = "sale",
    status: str = "success",
    authorization: str | None = None,
    transaction_id: int | None = None,
) -> dict[str, Any]:
    """The `order_transactions/create` body that paid `order` (a `shopify_order` payload): a
    Transaction resource for its total, by its gateway, a few seconds after it was placed.

    A card order's transaction carries the masked card in `payment_details` and
    `SAMPLE_AUTHORIZATION`; a PayPal one a PayPal-style transaction id; any other gateway
    none, unless `authorization` is given. `kind` and `status` make other transactions
    (an `authorization`, a `failure`)."""
    gateway = order["payment_gateway_names"][0] if order["payment_gateway_names"] else None
    card = gateway == PAYMENT_GATEWAYS["card"]
    if authorization is None and card:
        authorization = SAMPLE_AUTHORIZATION
    elif authorization is None and gateway == PAYMENT_GATEWAYS["paypal"]:
        authorization = hashlib.sha256(f"paypal-{order['id']}".encode()).hexdigest()[:17].upper()
    number, ok = transaction_id or order["id"] * 10 + 1, status == "success"
    at = (datetime.fromisoformat(order["processed_at"]) + timedelta(seconds=4)).isoformat()
    details = SAMPLE_CARD | _CARD_CHECKS | {"credit_card_name": order["billing_address"]["name"]}
    details |= {"credit_card_expiration_month": 11, "credit_card_expiration_year": 2028}
    unused = dict.fromkeys(("location_id", "user_id", "parent_id", "device_id"), None)
    return unused | {
        "id": number,
        "admin_graphql_api_id": f"gid://shopify/OrderTransaction/{number}",
        "order_id": order["id"],
        "kind": kind,
        "gateway": gateway,
        "status": status,
        "message": "Transaction approved" if ok else "Transaction declined",
        "error_code": None if ok else "card_declined",
        "created_at": at,
        "processed_at": at,
        "test": False,
        "authorization": authorization,
        "source_name": "web",
        "amount": order["total_price"],
        "currency": order["currency"],
        "payment_id": f"c{order['id']}.1",
        "manual_payment_gateway": not card and gateway != PAYMENT_GATEWAYS["paypal"],
        "payment_details": details if card else None,
    }


def with_sale(order: dict[str, Any], **transaction: Any) -> dict[str, Any]:
    """`order` carrying the transaction that paid it in `transactions`, as an app relays an
    order it fetched with its transactions; no `orders/*` webhook carries them, so this is
    for tests that need a paid order complete in one event (`shopify_transaction`'s args)."""
    return copy.deepcopy(order) | {"transactions": [shopify_transaction(order, **transaction)]}


def headers_for(
    body: bytes,
    *,
    topic: str,
    secret: str,
    event_id: str,
    shop: str = SHOP,
    triggered_at: datetime | None = None,
) -> dict[str, str]:
    """The full header set Shopify sends with `body`, signed with `secret`.

    The webhook id is derived from (shop, topic, event id), so re-deliveries of one event
    carry the same ids; `triggered_at` (not signed) defaults to now.
    """
    moment = (triggered_at or datetime.now(UTC)).astimezone(UTC)
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": shopify.sign(body, secret),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": API_VERSION,
        "X-Shopify-Webhook-Id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{shop}/{topic}/{event_id}")),
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Triggered-At": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def encode_body(payload: dict[str, Any]) -> bytes:
    """A payload as our samples send it: compact JSON, UTF-8, non-ASCII text kept as is."""
    return json.dumps(payload, ensure_ascii=False).encode()
