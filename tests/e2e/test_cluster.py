"""Three hosts on one machine (network namespaces on a bridge): Redis, RabbitMQ and the
sandboxes on `db`; a receiver and a worker process on `a`, another receiver and worker on
`b`. Orders flow through both receivers while host `b` is cut off the network mid-run;
every order acknowledged by either still ends with exactly one document. Once with the
queue on Redis, once on RabbitMQ."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from invoicebridge.loadgen import LoadPlan, LoadReport, reconcile, run_load
from invoicebridge.stack.cluster import ClusterStack, Forwarder, Net, namespaces_forbidden
from invoicebridge.stack.local import StackOptions, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]
REASON = namespaces_forbidden()


@pytest.fixture
def net() -> Iterator[Net]:
    if REASON is not None:
        pytest.skip(REASON)
    made = Net(key=100 + os.getpid() % 150).up()
    try:
        yield made
    finally:
        made.down()


def _stack(tmp_path: Path, net: Net, broker: str) -> ClusterStack:
    options = StackOptions(
        workers=1,
        threads=8,
        worker_metrics=False,
        log_level="warning",
        rate_limit_per_s=10_000,
        broker=broker,
    )
    return ClusterStack(tmp_path, options, db_host=net.ip("db"), receiver_host=net.ip("a"), net=net)


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_worker_host_cut_off_mid_run_loses_and_doubles_nothing(
    tmp_path: Path, net: Net, broker: str
) -> None:
    stack = _stack(tmp_path, net, broker)
    b_port = free_port()
    forwards = [
        Forwarder(net.ip("a"), stack.receiver_port),
        Forwarder(net.ip("b"), b_port),
        Forwarder(net.ip("db"), stack.redis_port),
        Forwarder(net.ip("db"), int(stack.urls["icount"].rpartition(":")[2])),
    ]
    try:
        stack.up()
        stack.start_receiver("receiver-1", net.ip("b"), b_port)  # the receiver on host b
        stack.start_workers("workers-1")  # and its worker
        if broker == "redis":
            stack.wait_workers(2)
        on_a, on_b, redis_port, sandbox = (forward.start() for forward in forwards)
        cutter = threading.Timer(1.5, net.cut, args=("b",))
        cutter.start()
        report_a, report_b = asyncio.run(_load(stack, on_a, on_b))
        cutter.join()
        stack.wait_quiet(timeout=150, settle=2.0)
        results = [
            asyncio.run(
                reconcile(
                    report,
                    sandbox_url=f"http://127.0.0.1:{sandbox}",
                    redis_url=f"redis://127.0.0.1:{redis_port}/0",
                )
            )
            for report in (report_a, report_b)
        ]
    finally:
        for forward in forwards:
            forward.stop()
        stack.down()
    assert len(report_a.acknowledged) == 300  # host a stayed up: everything it was sent
    assert 0 < len(report_b.acknowledged) < 300  # host b answered until it was cut off
    for result in results:
        problems = (result.missing, result.doubled, result.wrong_total)
        assert problems == ([], [], {}), result.table()
    assert len(results[0].with_one_document) == 300
    assert len(results[1].with_one_document) >= len(report_b.acknowledged)


async def _load(stack: ClusterStack, on_a: int, on_b: int) -> tuple[LoadReport, LoadReport]:
    """300 orders to each receiver at once, 20 % of them delivered twice; the run against
    host b is bounded, since its requests hang once b is cut off."""
    plans = [
        LoadPlan(
            **stack.shopify_target(f"http://127.0.0.1:{port}"),
            count=300,
            rate=75,
            duplicates=0.2,
            first_order=first,
            max_seconds=bound,
            retries=retries,
        )
        for port, first, bound, retries in ((on_a, 1, 60, 3), (on_b, 10_001, 8, 1))
    ]
    report_a, report_b = await asyncio.gather(*(run_load(plan) for plan in plans))
    return report_a, report_b
