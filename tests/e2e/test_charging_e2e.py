"""Stored-card charges end to end, through the CLI processes: never doubled, never lost.

The Standard Webhooks tenant `std` charges stored cards (settle window 2 s). Orders ask
for a charge of the customer's stored card in the iCount sandbox."""

from __future__ import annotations

import json
import re
import time
from typing import Any, cast

import pytest
import redis

from invoicebridge.samples import standard as samples_standard
from invoicebridge.stack.local import LocalStack, http_json
from tests.e2e.stacks import module_stack

pytestmark = pytest.mark.e2e

GOOD_CARD, DECLINED_CARD, CVV = "4580458045804580", "4580000000000002", "737"


stack = module_stack("charging")


def store_card(stack: LocalStack, client_id: str, number: str) -> str:
    body = json.dumps({"client_id": client_id, "card_number": number, "cvv": CVV}).encode()
    status, answer = http_json(
        "POST", stack.urls["icount"] + "/_sandbox/cards", body, {"Content-Type": "application/json"}
    )
    assert status == 200, answer
    return str(answer["cc_token_id"])


def post_charged_order(stack: LocalStack, order_id: str, client_id: str) -> None:
    data = samples_standard.order_data(order_id, paid=False)
    data["order"]["charge"] = {"customer_ref": client_id, "num_of_payments": 1}
    body = json.dumps(samples_standard.envelope("order.created", data)).encode()
    headers = samples_standard.headers_for(body, stack.whsec, msg_id=f"msg-{order_id}")
    assert stack.post("standard", "std", body, headers)[0] == 200


def transactions_for(stack: LocalStack, order_id: str) -> list[dict[str, Any]]:
    from worker.domain.idempotency import sanity_string

    reference = sanity_string("std", order_id, "charge")
    return [t for t in stack.sandbox("transactions") if reference in t["payment_description"]]


def documents_for(stack: LocalStack, order_id: str) -> list[dict[str, Any]]:
    from worker.domain.idempotency import sanity_string

    guard = sanity_string("std", order_id, "invrec")
    return [d for d in stack.sandbox("documents") if d["sanity_string"] == guard]


def event_of(stack: LocalStack, order_id: str) -> dict[str, str]:
    client = redis.Redis(port=stack.redis_port, decode_responses=True)
    try:
        for event_id in [str(m) for m in client.zrange("ib:events", 0, -1)]:
            fields = cast(dict[str, str], client.hgetall(f"ib:event:{event_id}"))
            if fields.get("tenant") == "std" and fields.get("order_id") == order_id:
                return fields
        return {}
    finally:
        client.close()


def test_charge_answer_lost_after_charging_gives_one_transaction(stack: LocalStack) -> None:
    """cc/bill charges, then its answer is lost: one transaction, one invoice-receipt
    carrying that transaction's confirmation code."""
    store_card(stack, "501", GOOD_CARD)
    stack.set_faults({"path": "cc/bill", "plan": ["timeout-after-commit"], "hang_s": 3})
    post_charged_order(stack, "c-501", "501")
    stack.wait_quiet(timeout=60)
    [transaction] = transactions_for(stack, "c-501")
    [document] = documents_for(stack, "c-501")
    assert document["doctype"] == "invrec"
    assert json.dumps(document["payments"]).count(transaction["confirmation_code"]) == 1


def test_worker_killed_mid_charge_gives_one_transaction(stack: LocalStack) -> None:
    """SIGKILL every worker while the sandbox is charging; a new worker finds the charge."""
    store_card(stack, "502", GOOD_CARD)
    stack.set_faults({"path": "cc/bill", "plan": [{"latency_ms": 1500}]})
    post_charged_order(stack, "c-502", "502")
    client = redis.Redis(port=stack.redis_port, decode_responses=True)
    deadline = time.monotonic() + 20
    while client.hget("ib:job:std:c-502:charge", "state") != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    client.close()
    time.sleep(0.3)
    stack.kill_workers()
    time.sleep(2)
    stack.start_workers()
    stack.wait_quiet(timeout=60)
    assert len(transactions_for(stack, "c-502")) == 1
    assert len(documents_for(stack, "c-502")) == 1


def test_declined_card_makes_nothing_and_fails_with_the_reason(stack: LocalStack) -> None:
    """A declined card: no transaction, no document, the event failed saying why."""
    store_card(stack, "503", DECLINED_CARD)
    post_charged_order(stack, "c-503", "503")
    stack.wait_quiet(timeout=60)
    assert transactions_for(stack, "c-503") == []
    assert documents_for(stack, "c-503") == []
    event = event_of(stack, "c-503")
    assert event["state"] == "failed" and "declined" in event["last_error"]


def test_no_card_data_in_logs_or_ledger(stack: LocalStack) -> None:
    """No log line and no ledger value holds a test card number, its CVV or its token."""
    tokens = {store_card(stack, "599", GOOD_CARD)}
    client = redis.Redis(port=stack.redis_port, decode_responses=True)
    values: list[str] = []
    for key in [str(k) for k in client.scan_iter("ib:*")]:
        kind = client.type(key)
        if kind == "hash":
            values += [f"{k!s}={v!s}" for k, v in client.hgetall(key).items()]
        elif kind == "string":
            values.append(str(client.get(key)))
    client.close()
    logs = [p.read_text(errors="replace") for p in stack.workdir.glob("*.log")]
    token_shapes = [re.compile(rf"token[_a-z]*[\"']?\s*[:=]\s*[\"']?{t}\b") for t in tokens]
    for text in values + logs:
        for card in (GOOD_CARD, DECLINED_CARD):
            assert card not in text
        assert not any(shape.search(text) for shape in token_shapes)
        assert not re.search(rf"cvv[\"']?\s*[:=]\s*[\"']?{CVV}", text, re.IGNORECASE)
