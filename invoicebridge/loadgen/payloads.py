"""Signed, realistic deliveries, one per order, built with the samples the demo and tests use.

Each source's delivery is the event that makes exactly one document for a paid order:
Shopify `orders/paid`, WooCommerce `order.updated` of a processing (paid) order, Stripe
`payment_intent.succeeded` (the order id in `metadata.order_id`) and a Standard Webhooks
`order.paid`. The Shopify order carries its sale in `transactions`, as an app relays an order,
so that one delivery names the card's transaction id (a shop's own webhooks send that apart,
in `order_transactions/create`, as the demo shows). The receiver's dedupe key is worked out
here as its source module does, so the ledger's event id of every order is known without
asking the receiver.

Everything is built and signed before a run's clock starts. Stripe and Standard Webhooks sign
a timestamp the receiver holds to five minutes, so a delivery sent (or retried) more than
`RESIGN_AFTER_S` after it was signed is signed again, as those senders do on every attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from invoicebridge.loadgen.plan import LoadPlan
from invoicebridge.samples import shopify as samples
from invoicebridge.samples import standard as samples_standard
from invoicebridge.samples import stripe as samples_stripe
from invoicebridge.samples import woocommerce as samples_woocommerce
from worker.domain.idempotency import event_id as ledger_event_id
from worker.domain.money import quantize

#: a signature older than this is made again before it is sent (the receivers allow 300 s)
RESIGN_AFTER_S = 60
CURRENCY = "ILS"
SHIPPING = "25.00"
WOO_TOPIC = "order.updated"
SHOPIFY_TOPIC = "orders/paid"
#: what the shop sells: (title, unit price in ILS; VAT-inclusive except for WooCommerce)
CATALOGUE: tuple[tuple[str, str], ...] = (
    ("Ceramic mug - Sand", "59.90"),
    ("Olive wood serving board", "149.00"),
    ("Linen napkins (set of 4)", "89.90"),
    ("Espresso cups (pair)", "119.00"),
    ("Coffee beans 1kg", "94.50"),
    ("Cast iron skillet 28cm", "329.00"),
    ("Tea towel", "33.33"),
    ("Wooden spoon", "19.90"),
    ("Chef knife 20cm", "389.00"),
    ("Honing steel", "129.90"),
    ("Knife roll", "149.90"),
    ("Za'atar 200g", "24.50"),
    ("Olive oil 750ml", "59.90"),
    ("ספל קרמיקה - חול", "64.00"),
    ("Studio lamp", "420.00"),
)
#: who buys: (name, email)
CUSTOMERS: tuple[tuple[str, str], ...] = (
    ("Dana Levi", "dana.levi@example.co.il"),
    ("Avi Cohen", "avi.cohen@example.com"),
    ("Maya Katz", "maya@katz-studio.example"),
    ("Noa Ben-David", "noa.bd@example.com"),
    ("Yossi Mizrahi", "yossi.m@example.net"),
    ("Zoë Ångström", "zoe.angstrom@example.se"),
    ("דנה לוי", "dana.l@example.co.il"),
)

Line = tuple[str, str, int]


@dataclass(frozen=True, eq=False)
class Delivery:
    """One signed webhook, ready to post; a duplicate re-sends the very same object."""

    order_id: str
    event_key: str  #: the source's dedupe key, as the receiver derives it
    event_id: str  #: the ledger's id of the event (`worker.domain.idempotency.event_id`)
    body: bytes
    headers: dict[str, str]
    total: Decimal  #: what the order's document must add up to
    currency: str
    signed_at: int = 0  #: unix seconds inside the signature; 0 when it carries no time

    @classmethod
    def of(
        cls,
        source: str,
        tenant: str,
        order_id: int,
        key: str,
        body: bytes,
        headers: dict[str, str],
        total: Decimal,
        signed_at: int = 0,
    ) -> Delivery:
        """`tenant`'s order from `source`, signed: the ledger's event id is derived from the
        dedupe `key` as the receiver derives it."""
        event_id = ledger_event_id(tenant, source, key)
        return cls(str(order_id), key, event_id, body, headers, total, CURRENCY, signed_at)


def order_lines(order_id: int, count: int) -> list[Line]:
    """`count` lines rotating through the catalogue, quantities 1-3, deterministic per order."""
    return [
        (*CATALOGUE[(order_id * 7 + n) % len(CATALOGUE)], 1 + (order_id + n) % 3)
        for n in range(count)
    ]


def _customer(order_id: int) -> tuple[str, str]:
    return CUSTOMERS[order_id % len(CUSTOMERS)]


def _gross(lines: Sequence[Line], shipping: str) -> Decimal:
    items = sum((Decimal(price) * quantity for _, price, quantity in lines), Decimal(0))
    return quantize(items + Decimal(shipping), CURRENCY)


def shopify_delivery(order_id: int, lines: Sequence[Line], tenant: str, secret: str) -> Delivery:
    """`orders/paid` of a VAT-inclusive ILS order, with its sale; every seventh has a 10.00
    discount code."""
    name, email = _customer(order_id)
    discount = "10.00" if order_id % 7 == 0 else None
    order = samples.shopify_order(
        order_id, customer_name=name, email=email, lines=lines, shipping=SHIPPING, discount=discount
    )
    order = samples.with_sale(order)
    body = samples.encode_body(order)
    event = f"loadgen-{order_id}-paid"
    headers = samples.headers_for(body, topic=SHOPIFY_TOPIC, secret=secret, event_id=event)
    key = f"{samples.SHOP.lower()}:{SHOPIFY_TOPIC}:{event}"
    total = Decimal(order["total_price"])
    return Delivery.of("shopify", tenant, order_id, key, body, headers, total)


def woocommerce_delivery(
    order_id: int, lines: Sequence[Line], tenant: str, secret: str
) -> Delivery:
    """`order.updated` of a processing (paid) order, prices without tax plus 18% VAT."""
    name, email = _customer(order_id)
    first, _, last = name.partition(" ")
    order = samples_woocommerce.woo_order(
        order_id,
        status="processing",
        lines=lines,
        tax_rate="18",
        shipping=SHIPPING,
        customer=(first, last, email),
    )
    body = samples_woocommerce.encode_body(order)
    headers = samples_woocommerce.headers_for(body, topic=WOO_TOPIC, secret=secret)
    host = samples_woocommerce.SOURCE.split("://")[-1].rstrip("/").lower()
    key = f"{host}:{headers['X-WC-Webhook-ID']}:{WOO_TOPIC}:order/{order_id}:"
    key += order["date_modified_gmt"]
    total = Decimal(order["total"])
    return Delivery.of("woocommerce", tenant, order_id, key, body, headers, total)


def stripe_delivery(order_id: int, lines: Sequence[Line], tenant: str, secret: str) -> Delivery:
    """`payment_intent.succeeded` for the lines' gross total, `metadata.order_id` set."""
    name, email = _customer(order_id)
    total = _gross(lines, SHIPPING)
    intent = samples_stripe.stripe_id("pi", "loadgen", order_id)
    event = samples_stripe.payment_intent_succeeded(
        intent,
        int(total * 100),
        currency=CURRENCY.lower(),
        email=email,
        name=name,
        metadata={"order_id": str(order_id)},
        description=f"Order #{order_id}",
    )
    body = samples_stripe.encode_body(event)
    now = int(time.time())
    headers = samples_stripe.headers_for(body, secret, timestamp=now)
    return Delivery.of("stripe", tenant, order_id, event["id"], body, headers, total, now)


def standard_delivery(order_id: int, lines: Sequence[Line], tenant: str, secret: str) -> Delivery:
    """`order.paid` in our canonical envelope, VAT-inclusive ILS lines plus shipping."""
    name, email = _customer(order_id)
    data = samples_standard.order_data(
        str(order_id),
        number=f"#{order_id}",
        lines=lines,
        shipping=SHIPPING,
        customer_name=name,
        email=email,
    )
    body = samples.encode_body(samples_standard.envelope("order.paid", data))
    msg_id = f"msg_loadgen_{order_id}"
    now = int(time.time())
    headers = samples_standard.headers_for(body, secret, msg_id=msg_id, timestamp=now)
    total = Decimal(data["order"]["total"])
    return Delivery.of("standard", tenant, order_id, msg_id, body, headers, total, now)


Builder = Callable[[int, Sequence[Line], str, str], Delivery]
BUILDERS: dict[str, Builder] = {
    "shopify": shopify_delivery,
    "woocommerce": woocommerce_delivery,
    "stripe": stripe_delivery,
    "standard": standard_delivery,
}


def build_deliveries(plan: LoadPlan) -> list[Delivery]:
    """One signed delivery per order of the plan, in order id order."""
    build = BUILDERS[plan.source]
    return [
        build(order_id, order_lines(order_id, plan.lines), plan.tenant, plan.secret)
        for order_id in plan.order_ids()
    ]


def current_headers(delivery: Delivery, source: str, secret: str, now: int) -> dict[str, str]:
    """The headers to send `delivery` with at `now`: as built, or signed again when the
    signature's timestamp is older than `RESIGN_AFTER_S` (Stripe, Standard Webhooks)."""
    if not delivery.signed_at or now - delivery.signed_at <= RESIGN_AFTER_S:
        return delivery.headers
    if source == "stripe":
        return samples_stripe.headers_for(delivery.body, secret, timestamp=now)
    return samples_standard.headers_for(
        delivery.body, secret, msg_id=delivery.event_key, timestamp=now
    )
