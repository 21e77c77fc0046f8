"""The demo's story: which webhooks are posted, and what each should end up as."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from invoicebridge.samples import shopify as samples
from invoicebridge.samples import shopify_refunds as samples_shopify_refunds
from invoicebridge.samples import stripe as samples_stripe
from invoicebridge.samples import woocommerce as samples_woocommerce
from invoicebridge.stack.local import LocalStack


@dataclass
class Scene:
    """One order of one tenant: what we post, and the documents it must end with."""

    tenant: str
    order_id: str
    label: str
    story: str
    expected: list[tuple[str, Decimal]] = field(default_factory=list)  #: (step, total)


def _say(label: str, answer: tuple[int, Any], note: str = "") -> None:
    from invoicebridge.demo.run import console

    status, body = answer
    console.print(f"  POST {label:<28} -> {status} {body.get('status', body)} {note}")


def shopify_scenes(stack: LocalStack) -> list[Scene]:
    """Six Shopify orders into iCount, each paid one followed by its transaction (its card and
    the gateway's id): duplicates, a lost answer, an unpaid one, a refund."""
    orders = samples.demo_orders()
    paid = [o for o in orders if o["financial_status"] == "paid"]
    unpaid = [o for o in orders if o["financial_status"] != "paid"]
    repeated, slow, refunded = paid[0], paid[1], paid[2]
    stack.set_faults(
        {"path": "doc/create", "match": slow["name"], "plan": ["timeout-after-commit"], "hang_s": 4}
    )
    scenes = []
    for order in paid + unpaid:
        _say(f"shopify {order['name']}", stack.post_order(order))
        if order in paid:  # from API 2023-04 on, only the transaction names the card and its id
            transaction = samples.shopify_transaction(order)
            answer = stack.post_order(transaction, topic="order_transactions/create")
            _say(f"shopify transaction {order['name']}", answer)
        story = {
            repeated["id"]: "delivered 3 times",
            slow["id"]: "1st answer lost",
            refunded["id"]: "paid, then refunded",
        }.get(order["id"], "")
        step = "invrec" if order in paid else "invoice"
        scenes.append(
            Scene(
                "acme",
                str(order["id"]),
                f"shopify {order['name']}",
                story or ("unpaid" if step == "invoice" else "paid"),
                [(step, Decimal(order["total_price"]))],
            )
        )
    for attempt in (2, 3):
        _say(f"shopify {repeated['name']}", stack.post_order(repeated), f"(delivery {attempt})")
    refund = samples_shopify_refunds.shopify_refund(9001, refunded, lines=[(0, 1)])
    _say(
        f"shopify refund of {refunded['name']}",
        stack.post_order(refund, topic="refunds/create", event_id="refund-9001"),
    )
    amount = sum((Decimal(t["amount"]) for t in refund["transactions"]), Decimal(0))
    scenes[2].expected.append(("refund:9001", amount))
    return scenes


def woocommerce_scene(stack: LocalStack) -> Scene:
    """A WooCommerce order into iCount, then refunded: invoice-receipt + credit note."""
    from datetime import UTC, datetime, timedelta

    first = datetime(2026, 11, 20, 9, tzinfo=UTC)
    order = samples_woocommerce.woo_order(5101, date_modified=first)
    refunded = samples_woocommerce.woo_order(
        5101,
        status="refunded",
        date_modified=first + timedelta(hours=2),
        refunds=[(77, "40.00", "")],
    )
    for payload, topic in ((order, "order.created"), (refunded, "order.updated")):
        body = json.dumps(payload).encode()
        headers = samples_woocommerce.headers_for(body, topic=topic, secret=stack.secret)
        _say(f"woocommerce {topic}", stack.post("woocommerce", "woo", body, headers))
    return Scene(
        "woo",
        "5101",
        "woocommerce #5101",
        "paid, then refunded",
        [("invrec", Decimal(order["total"])), ("refund:77", Decimal("40.00"))],
    )


def stripe_scene(stack: LocalStack) -> Scene:
    """A Stripe payment into iCount, the same event delivered twice."""
    event = samples_stripe.payment_intent_succeeded("pi_demo_1", 24_900, currency="ils")
    body = json.dumps(event).encode()
    headers = samples_stripe.headers_for(body, stack.secret)
    for attempt in (1, 2):
        _say(
            "stripe payment_intent.succeeded",
            stack.post("stripe", "pay", body, headers),
            f"(delivery {attempt})",
        )
    return Scene(
        "pay", "pi_demo_1", "stripe pi_demo_1", "delivered twice", [("invrec", Decimal("249.00"))]
    )


def provider_scenes(stack: LocalStack) -> list[Scene]:
    """One Shopify order into iDoklad (emailed by iDoklad) and one into iCash (by SMTP)."""
    scenes = []
    for tenant, provider, order_id in (("dok", "idoklad", 6201), ("cash", "icash", 6202)):
        bulgarian = provider == "icash"  # iCash sells at Bulgaria's rates: EUR at 20 %
        order = samples.shopify_order(
            order_id,
            customer_name="Jana Nováková",
            email="jana@example.cz",
            discount="10.00",
            currency="EUR" if bulgarian else "ILS",
            vat_rate="0.20" if bulgarian else "0.18",
        )
        _say(f"shopify → {provider} {order['name']}", stack.post_order(order, tenant=tenant))
        scenes.append(
            Scene(
                tenant,
                str(order_id),
                f"shopify {order['name']}",
                f"into {provider}",
                [("invrec", Decimal(order["total_price"]))],
            )
        )
    return scenes
