"""End to end through the CLI processes: redis-server, sandbox, `serve` and `worker`."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from invoicebridge.samples import shopify as samples
from invoicebridge.stack.local import LocalStack
from tests.e2e.stacks import module_stack
from worker.domain.idempotency import sanity_string

pytestmark = pytest.mark.e2e


stack = module_stack("stack")


def documents_for(stack: LocalStack, order_id: int) -> list[dict]:
    guards = {sanity_string(stack.tenant, str(order_id), k) for k in ("invoice", "invrec")}
    return [d for d in stack.sandbox("documents") if d["sanity_string"] in guards]


def emails_for(stack: LocalStack, docs: list[dict]) -> list[dict]:
    numbers = {(d["doctype"], d["docnum"]) for d in docs}
    return [e for e in stack.sandbox("emails") if (e["doctype"], e["docnum"]) in numbers]


def test_five_concurrent_deliveries_make_one_document_and_one_email(stack: LocalStack) -> None:
    """The same signed delivery posted 5 times at once: one document, one email, exact total."""
    order = samples.with_sale(
        samples.shopify_order(
            5001,
            lines=[("Olive oil 750ml", "59.90", 2), ("Za'atar", "24.50", 3)],
            discount="15.00",
            shipping="25.00",
        )
    )
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: stack.post_order(order), range(5)))
    assert [status for status, _ in answers] == [200] * 5
    stack.wait_quiet(timeout=60)
    docs = documents_for(stack, 5001)
    assert len(docs) == 1
    assert Decimal(docs[0]["totalwithvat"]) == Decimal(order["total_price"])
    assert len(emails_for(stack, docs)) == 1


def test_every_sample_order_total_matches_to_the_agora(stack: LocalStack) -> None:
    """Each demo order (discounts, shipping, VAT in and out, non-ASCII names) is issued exactly."""
    orders = samples.demo_orders()
    for offset, order in enumerate(orders):
        order = {**order, "id": 6000 + offset}
        assert stack.post_order(order)[0] == 200
        if order["financial_status"] == "paid":  # the transaction names the gateway's id
            transaction = samples.shopify_transaction(order)
            assert stack.post_order(transaction, topic="order_transactions/create")[0] == 200
        orders[offset] = order
    stack.wait_quiet(timeout=60)
    for order in orders:
        docs = documents_for(stack, order["id"])
        assert len(docs) == 1, order["name"]
        assert Decimal(docs[0]["totalwithvat"]) == Decimal(order["total_price"]), order["name"]


def test_invalid_signature_leaves_ledger_and_queue_empty(stack: LocalStack) -> None:
    """A wrong signature is a 401 problem; the ledger and the queue do not change."""
    client = redis.Redis(port=stack.redis_port, decode_responses=True)
    before_events = client.zcard("ib:events")
    before_queue = client.hlen("invoicebridge:events.msgs")
    status, problem = stack.post_order(samples.shopify_order(7001), secret="not-the-secret")
    assert status == 401 and problem["title"] == "Invalid signature"
    assert client.zcard("ib:events") == before_events
    assert client.hlen("invoicebridge:events.msgs") == before_queue
    assert not documents_for(stack, 7001)
    client.close()


def wait_for_job_state(stack: LocalStack, key: str, state: str, timeout: float = 20) -> None:
    client = redis.Redis(port=stack.redis_port, decode_responses=True)
    deadline = time.monotonic() + timeout
    while client.hget(f"ib:job:{key}", "state") != state:
        assert time.monotonic() < deadline, f"job {key} never reached {state}"
        time.sleep(0.02)
    client.close()


def test_worker_killed_mid_call_still_yields_one_document(stack: LocalStack) -> None:
    """SIGKILL every worker while iCount is working on the document; a new worker finishes it."""
    order = samples.with_sale(samples.shopify_order(8001, lines=[("Ceramic bowl", "89.00", 1)]))
    stack.set_faults({"path": "doc/create", "match": order["name"], "plan": [{"latency_ms": 1500}]})
    assert stack.post_order(order)[0] == 200
    wait_for_job_state(stack, "acme:8001:invrec", "running")
    time.sleep(0.3)  # the request is on the wire, the sandbox is "working"
    stack.kill_workers()
    time.sleep(2.0)  # the sandbox finishes and commits the document nobody waits for
    assert len(documents_for(stack, 8001)) == 1
    stack.start_workers()
    stack.wait_quiet(timeout=60)
    docs = documents_for(stack, 8001)
    assert len(docs) == 1
    assert len(emails_for(stack, docs)) == 1
    client = redis.Redis(port=stack.redis_port, decode_responses=True)
    job = client.hgetall("ib:job:acme:8001:invrec")
    client.close()
    assert job["state"] == "done" and job["docnum"] == docs[0]["docnum"]
    assert int(job["attempts"]) >= 2


def json_records(text: str) -> Iterator[dict[str, object]]:
    """Every JSON record of a log, each line read to its end. A worker SIGKILLed by an
    earlier test (`test_worker_killed_mid_call_still_yields_one_document`) can lose the
    newline after its last record, and the next worker's first record then follows on the
    same line: both must still be whole JSON objects, and nothing else may be there."""
    decoder = json.JSONDecoder()
    for line in text.splitlines():
        at = 0
        while at < len(line):
            record, at = decoder.raw_decode(line, at)
            assert isinstance(record, dict), line
            yield record
            while at < len(line) and line[at].isspace():
                at += 1


def test_logs_are_redacted_json_lines_with_context(stack: LocalStack) -> None:
    """Receiver and worker logs are JSON lines; document lines name tenant, event and order;
    no line any process wrote holds the webhook secret, the iCount password or a signature."""
    for name in ("receiver", "workers"):
        records = list(json_records((stack.workdir / f"{name}.log").read_text()))
        assert records, name
    created = [r for r in records if r["event"] == "step_done"]
    assert created
    assert all(r["tenant"] == "acme" and r["event_id"] and r["order_id"] for r in created)
    assert stack.signatures_sent
    for log in stack.workdir.glob("*.log"):
        text = log.read_text(errors="replace")
        assert stack.secret not in text, log.name
        assert "sandbox-pass" not in text, log.name
        assert not any(sig in text for sig in stack.signatures_sent), log.name


def scrape_samples(url: str) -> dict[str, float]:
    """Each sample name of a Prometheus text page, summed over its label sets."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback http only)
        text = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def test_worker_and_receiver_metrics_after_orders_flowed(stack: LocalStack) -> None:
    """The workers' exposition server shows dramatiq's metrics and ours side by side (one
    multiprocess directory); the receiver's /metrics counts webhooks and ledger states."""
    assert stack.post_order(samples.with_sale(samples.shopify_order(9101)))[0] == 200
    stack.wait_quiet(timeout=60)
    wanted = (
        "dramatiq_messages_total",
        "invoicebridge_provider_request_duration_seconds_count",
        "invoicebridge_steps_total",
    )
    deadline, worker = time.monotonic() + 20, dict[str, float]()
    while not all(worker.get(name, 0) > 0 for name in wanted):
        assert time.monotonic() < deadline, f"worker metrics never showed {wanted}: {worker}"
        time.sleep(0.2)
        with contextlib.suppress(OSError):  # the exposition server is forked after boot
            worker = scrape_samples(stack.worker_metrics_url)
    receiver = scrape_samples(stack.receiver_url + "/metrics")
    assert receiver["invoicebridge_webhooks_total"] > 0
    assert receiver["invoicebridge_ledger_up"] == 1
    assert receiver["invoicebridge_events"] > 0
