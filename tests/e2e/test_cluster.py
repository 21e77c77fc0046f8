"""Three hosts on one machine (network namespaces on a bridge): Redis, RabbitMQ and the
sandboxes on `db`; the receiver and a worker process on `a`; another worker on `b`. Orders
flow while host `b` is cut off the network mid-run; every acknowledged order still ends with
exactly one document. Once with the queue on Redis, once on RabbitMQ."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from invoicebridge.cluster import ClusterStack, Forwarder, Net, namespaces_forbidden
from invoicebridge.loadgen import LoadPlan, reconcile, run_load
from invoicebridge.stack import StackOptions

pytestmark = pytest.mark.e2e
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
    options = StackOptions(workers=1, threads=8, worker_metrics=False, log_level="warning",
                           rate_limit_per_s=10_000, broker=broker)  # fmt: skip
    return ClusterStack(tmp_path, options, db_host=net.ip("db"), receiver_host=net.ip("a"),
                        net=net)  # fmt: skip


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_worker_host_cut_off_mid_run_loses_and_doubles_nothing(
    tmp_path: Path, net: Net, broker: str
) -> None:
    stack = _stack(tmp_path, net, broker)
    forwards = [Forwarder(net.ip("a"), stack.receiver_port),
                Forwarder(net.ip("db"), stack.redis_port),
                Forwarder(net.ip("db"), int(stack.urls["icount"].rpartition(":")[2]))]  # fmt: skip
    try:
        stack.up()
        stack.start_workers("workers-1")  # the worker on host b
        if broker == "redis":
            stack.wait_workers(2)
        receiver, redis_port, sandbox = (forward.start() for forward in forwards)
        plan = LoadPlan(url=f"http://127.0.0.1:{receiver}", source="shopify",
                        tenant=stack.tenant, secret=stack.secret, count=400, rate=100,
                        duplicates=0.2, max_seconds=120)  # fmt: skip
        cutter = threading.Timer(1.5, net.cut, args=("b",))
        cutter.start()
        report = asyncio.run(run_load(plan))
        cutter.join()
        stack.wait_quiet(timeout=150, settle=2.0)
        result = asyncio.run(reconcile(report, sandbox_url=f"http://127.0.0.1:{sandbox}",
                                       redis_url=f"redis://127.0.0.1:{redis_port}/0"))  # fmt: skip
    finally:
        for forward in forwards:
            forward.stop()
        stack.down()
    assert len(report.acknowledged) == 400
    assert result.missing == [] and result.doubled == [] and result.wrong_total == {}, (
        result.table()
    )
    assert len(result.with_one_document) == 400, result.table()
