"""Graceful lifecycle of the real processes: SIGTERM to the receiver during load answers
what it accepted and exits cleanly; SIGTERM to the workers mid-call finishes or hands back
the job, and the order still gets exactly one document."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from invoicebridge.loadgen import LoadPlan, run_load
from invoicebridge.samples import shopify as samples
from invoicebridge.stack.local import LocalStack, StackOptions, running_stack
from tests.e2e.test_cli_processes import documents_for
from tests.receiver_process import ReceiverProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    with running_stack(
        tmp_path, StackOptions(workers=1, threads=4, rate_limit_per_s=10_000)
    ) as local:
        yield local


def test_sigterm_to_the_receiver_mid_load_loses_nothing_it_answered(stack: LocalStack) -> None:
    plan = LoadPlan(
        **stack.shopify_target(),
        count=600,
        rate=200,
        retries=1,
        max_seconds=30,
        first_order=70_000,
    )
    receiver = stack.procs["receiver"]
    stopper = threading.Timer(1.0, receiver.terminate)  # SIGTERM while requests are in flight
    stopper.start()
    report = asyncio.run(run_load(plan))
    started = time.monotonic()
    assert receiver.wait(timeout=40) == 0  # it finished what it had and exited cleanly
    assert time.monotonic() - started < 35
    statuses = report.statuses
    answered = {s for s in statuses if not s.startswith("error:")}
    assert answered <= {"200"}, statuses  # nothing it started was answered 5xx or cut off
    assert 0 < len(report.acknowledged) < 600  # the run really straddled the shutdown
    stack.procs.pop("receiver")
    stack.start_receiver()
    stack.wait_quiet(timeout=90)
    for order_id in report.acknowledged:  # every order it said yes to is made, once
        assert len(documents_for(stack, int(order_id))) == 1, order_id


def test_sigterm_to_the_workers_mid_call_still_makes_one_document(stack: LocalStack) -> None:
    stack.set_faults({"path": "doc/create", "plan": [{"latency_ms": 1500}]})
    status, _ = stack.post_order(
        samples.with_sale(samples.shopify_order(71_001)), topic="orders/paid"
    )
    assert status == 200
    deadline = time.monotonic() + 20
    while stack.job("acme:71001:invrec").get("state") != "running":
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    started = time.monotonic()
    stack.stop("workers", timeout=30)  # SIGTERM; dramatiq lets the call finish or requeues
    assert time.monotonic() - started < 15  # within the worker shutdown timeout (5 s) + start
    stack.start_workers()
    stack.wait_quiet(timeout=60)
    assert len(documents_for(stack, 71_001)) == 1
    assert stack.ledger_states().get("done") == 1


def test_a_second_sigterm_stops_the_receiver_without_waiting_for_the_drain(
    redis_server: str, tmp_path: Path
) -> None:
    """The first SIGTERM lets a request under way finish (here one whose body never comes,
    so the drain would last the whole shutdown timeout); a second one stops at once."""
    tenant = (
        '[tenants.shop]\nsource = "shopify"\nsecret = "s"\nprovider = "icount"\n'
        '[tenants.shop.icount]\ncid = "c"\nuser = "u"\npass = "p"\n'
        'base_url = "http://127.0.0.1:9"\n'
    )
    receiver = ReceiverProcess(tmp_path, f'[redis]\nurl = "{redis_server}"\n' + tenant)
    receiver.start()
    process = receiver.proc
    assert process is not None
    head = (
        b"POST /webhooks/shopify/shop HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    try:
        with socket.create_connection(("127.0.0.1", receiver.port)) as held:
            held.sendall(head)
            time.sleep(0.3)
            process.terminate()
            time.sleep(1.0)
            assert process.poll() is None  # draining: the request under way is waited for
            started = time.monotonic()
            process.terminate()
            assert process.wait(timeout=10) == 0
            assert time.monotonic() - started < 5
    finally:
        receiver.stop()
