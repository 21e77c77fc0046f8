"""The order lifecycle end to end, through the CLI processes: out-of-order Shopify events,
a WooCommerce refund, a Stripe event delivered twice at once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from invoicebridge.samples import shopify as samples
from invoicebridge.samples import stripe as samples_stripe
from invoicebridge.samples import woocommerce as samples_woocommerce
from invoicebridge.stack.local import LocalStack
from tests.e2e.stacks import module_stack
from worker.domain.idempotency import sanity_string

pytestmark = pytest.mark.e2e


stack = module_stack("lifecycle")


def documents_of(
    stack: LocalStack, tenant: str, order_id: str, refund_ids: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Documents the sandbox holds for one order: sale documents and the named credit notes."""
    steps = ["invoice", "invrec", "receipt", *(f"refund:{rid}" for rid in refund_ids)]
    guards = {sanity_string(tenant, order_id, step) for step in steps}
    return [doc for doc in stack.sandbox("documents") if doc["sanity_string"] in guards]


def test_shopify_paid_before_created_yields_one_document(stack: LocalStack) -> None:
    """orders/paid is delivered before orders/create: one invoice-receipt, for the full total."""
    order = samples.with_sale(samples.shopify_order(9101))
    created = {**order, "financial_status": "pending"}
    assert stack.post_order(order, topic="orders/paid")[0] == 200
    stack.wait_quiet(timeout=60)
    assert stack.post_order(created, topic="orders/create")[0] == 200
    stack.wait_quiet(timeout=60)
    docs = documents_of(stack, stack.tenant, "9101")
    assert [(d["doctype"], Decimal(d["totalwithvat"])) for d in docs] == [
        ("invrec", Decimal(order["total_price"]))
    ]


def post_woo(stack: LocalStack, payload: dict[str, Any], topic: str) -> int:
    body = json.dumps(payload).encode()
    headers = samples_woocommerce.headers_for(body, topic=topic, secret=stack.secret)
    return stack.post("woocommerce", "woo", body, headers)[0]


def test_woocommerce_created_then_refunded_gives_invoice_and_credit_note(
    stack: LocalStack,
) -> None:
    """A paid WooCommerce order, then its refund: one invoice-receipt and one credit note."""
    first = datetime(2026, 11, 20, 9, tzinfo=UTC)
    order = samples_woocommerce.woo_order(9201, status="processing", date_modified=first)
    assert post_woo(stack, order, "order.created") == 200
    refunded = samples_woocommerce.woo_order(
        9201,
        status="refunded",
        refunds=[(1, "30.00", "Damaged in transit")],
        date_modified=first + timedelta(hours=2),
    )
    assert post_woo(stack, refunded, "order.updated") == 200
    assert post_woo(stack, refunded, "order.updated") == 200  # WooCommerce fires it twice
    stack.wait_quiet(timeout=60)
    docs = documents_of(stack, "woo", "9201", refund_ids=("1",))
    assert sorted((d["doctype"], d["totalwithvat"]) for d in docs) == [
        ("invrec", order["total"]),
        ("refund", "30.00"),
    ]


def test_stripe_event_delivered_twice_concurrently_has_one_effect(stack: LocalStack) -> None:
    """The same payment_intent.succeeded posted twice at once: one document, one email."""
    event = samples_stripe.payment_intent_succeeded("pi_e2e_1", 11_700, currency="ils")
    body = json.dumps(event).encode()
    headers = samples_stripe.headers_for(body, stack.secret)
    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(lambda _: stack.post("stripe", "pay", body, headers)[0], [1, 2]))
    assert statuses == [200, 200]
    stack.wait_quiet(timeout=60)
    docs = documents_of(stack, "pay", "pi_e2e_1")
    assert [(d["doctype"], d["totalwithvat"]) for d in docs] == [("invrec", "117.00")]
    emails = [e for e in stack.sandbox("emails") if e["docnum"] == docs[0]["docnum"]]
    assert len(emails) == 1
