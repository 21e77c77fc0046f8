"""Paid orders end to end (issue #16): paid by card, by PayPal and by bank transfer, each
yields one invoice-receipt whose payment block is the documented one for how it was paid,
with every worker SIGKILLed while the documents are being made.

The Standard Webhooks tenant `std` (iCount sandbox, `bank_account_id = 1`) receives the
orders through the receiver process; the workers are CLI processes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from invoicebridge.samples import standard as samples_standard
from invoicebridge.stack.local import LocalStack, StackOptions, running_stack
from worker.domain.idempotency import sanity_string

pytestmark = pytest.mark.e2e

DAY = samples_standard.PLACED.date().isoformat()
PAYMENTS: dict[str, dict[str, Any]] = {
    "p-card": {
        "gateway": "shopify_payments",
        "kind": "card",
        "card_brand": "Mastercard",
        "card_last4": "5100",
        "transaction_id": "auth-77812",
        "payer_name": "Dana Levi",
    },
    "p-paypal": {
        "gateway": "paypal",
        "kind": "paypal",
        "transaction_id": "8MC585209K746392H",
        "payer_name": "Dana P. Levi",
    },
    "p-bank": {"gateway": "bacs", "kind": "bank_transfer"},
}
#: the block each order must be recorded in, exactly
BLOCKS: dict[str, dict[str, Any]] = {
    "p-card": {
        "cc": {
            "sum": "117.00",
            "date": DAY,
            "num_of_payments": 1,
            "card_type": "MASTERCARD",
            "confirmation_code": "auth-77812",
            "holder_name": "Dana Levi",
        }
    },
    "p-paypal": {
        "paypal": {
            "sum": "117.00",
            "date": DAY,
            "txn_id": "8MC585209K746392H",
            "payer_name": "Dana P. Levi",
        }
    },
    "p-bank": {"banktransfer": {"sum": "117.00", "date": DAY, "account": 1}},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(workers=1, threads=4)
    with running_stack(tmp_path_factory.mktemp("payments"), options) as local:
        yield local


def post_paid_order(stack: LocalStack, order_id: str) -> None:
    data = samples_standard.order_data(order_id, lines=(("Mug", "117.00", 1),))
    data["order"]["payment"] = PAYMENTS[order_id]
    body = json.dumps(samples_standard.envelope("order.paid", data)).encode()
    headers = samples_standard.headers_for(body, stack.whsec, msg_id=f"msg-{order_id}")
    assert stack.post("standard", "std", body, headers)[0] == 200


def invrecs(stack: LocalStack, order_id: str) -> list[dict[str, Any]]:
    guard = sanity_string("std", order_id, "invrec")
    return [d for d in stack.sandbox("documents") if d["sanity_string"] == guard]


def test_each_payment_is_recorded_once_in_its_block_through_a_worker_kill(
    stack: LocalStack,
) -> None:
    """Card → `cc` (type, the gateway's authorisation id), PayPal → `paypal`, bank transfer
    → `banktransfer` with the tenant's account; one document each after a SIGKILL."""
    stack.set_faults({"path": "doc/create", "plan": [{"latency_ms": 1500}] * 3})
    for order_id in PAYMENTS:
        post_paid_order(stack, order_id)
    client = redis.Redis(port=stack.redis_port, decode_responses=True)
    deadline = time.monotonic() + 20
    while not any(client.hget(f"ib:job:std:{o}:invrec", "state") == "running" for o in PAYMENTS):
        assert time.monotonic() < deadline, "no invoice-receipt started"
        time.sleep(0.02)
    client.close()
    time.sleep(0.3)  # inside the slow doc/create
    stack.kill_workers()
    time.sleep(1)
    stack.start_workers()
    stack.wait_quiet(timeout=90)
    for order_id, block in BLOCKS.items():
        [document] = invrecs(stack, order_id)
        assert document["payments"] == block, order_id
    sent = json.dumps(stack.sandbox("requests"))
    assert "5100" not in sent  # the last four stay in our ledger
