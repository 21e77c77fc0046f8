"""A dead worker's orders run again within the heartbeat timeout and a small margin, with no
traffic to roll dramatiq's maintenance dice: the clocked maintenance pass hands its fetched
messages back (Redis), RabbitMQ redelivers them, and its order locks expire with the same
timeout. The queue and provider settings are the defaults but for the heartbeat (5 s, so the
test stays short); the stack's own receiver knobs (a 2 s requeue) are left as they are."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from invoicebridge.samples import shopify as samples
from invoicebridge.stack.local import LocalStack, StackOptions
from worker.domain.idempotency import sanity_string

pytestmark = pytest.mark.e2e

HEARTBEAT_MS = 5_000
THREADS = 2
ORDERS = 6
FIRST_ORDER = 9100
#: the promise: back and done within the heartbeat timeout plus this
MARGIN_S = 15.0


def _acked_by_workers(stack: LocalStack) -> int:
    """Messages the workers have fetched and not acknowledged (dramatiq's ack sets)."""
    client = stack.redis_client()
    try:
        keys = client.keys("invoicebridge:__acks__.*.events")
        return sum(int(client.scard(key)) for key in keys)
    finally:
        client.close()


def _slow_calls_left(stack: LocalStack) -> int:
    """Slow steps of the sandbox's fault plans not yet taken by a call."""
    return sum(len(plan["remaining"]) for plan in stack.sandbox("faults")["plans"])


def _wait(check: Callable[[], bool], what: str, timeout: float, stack: LocalStack) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout} s: {stack.ledger_states()}"
        time.sleep(0.05)


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_killed_workers_orders_are_done_within_the_heartbeat_timeout(
    tmp_path: Path, broker: str
) -> None:
    options = StackOptions(
        workers=1,
        threads=THREADS,
        heartbeat_timeout_ms=HEARTBEAT_MS,
        order_lock_ttl_ms=None,  # the default: the heartbeat timeout
        maintenance_chance=None,  # dramatiq's default dice, 0.1 % of broker calls
        icount_timeout_s=20.0,  # the settings' defaults, where the stack has test values
        time_limit_ms=120_000,
        min_backoff_ms=1_000,
        max_backoff_ms=300_000,
        rescue_after_s=900.0,
        broker=broker,
        worker_metrics=False,
    )
    stack = LocalStack(tmp_path, options)
    try:
        stack.up()
        if broker == "redis":
            stack.wait_workers(1)
        # every thread stuck in a slow iCount call; the calls after them are quick
        stuck = {"latency_ms": 20_000}
        plan = [stuck] * THREADS
        stack.set_faults({"path": "doc/create", "match": "Stuck teapot", "plan": plan})
        for n in range(ORDERS):
            order = samples.with_sale(
                samples.shopify_order(FIRST_ORDER + n, lines=[("Stuck teapot", "40.00", 1)])
            )
            assert stack.post_order(order)[0] == 200
        busy = lambda: stack.ledger_states().get("running") == THREADS  # noqa: E731
        _wait(busy, "every thread on an event", 20, stack)
        # and in its iCount call: the sandbox has taken every slow step of the plan
        _wait(lambda: _slow_calls_left(stack) == 0, "every thread in a call", 20, stack)
        if broker == "redis":  # what a crash can strand: one message per thread, no more
            assert _acked_by_workers(stack) == THREADS
        stack.kill_workers()
        killed_at = time.monotonic()
        stack.start_workers()  # no further traffic: only the new workers' own calls
        done = lambda: stack.ledger_states().get("done") == ORDERS  # noqa: E731
        bound = HEARTBEAT_MS / 1000 + MARGIN_S
        _wait(done, "every order done", bound, stack)
        took = time.monotonic() - killed_at
        print(f"{broker}: every order done {took:.1f} s after the kill (bound {bound:g} s)")
        time.sleep(1)  # nothing more arrives late
        guards = {
            sanity_string(stack.tenant, str(FIRST_ORDER + n), "invrec"): FIRST_ORDER + n
            for n in range(ORDERS)
        }
        per_order = Counter(
            guards[d["sanity_string"]]
            for d in stack.sandbox("documents")
            if d["sanity_string"] in guards
        )
    finally:
        stack.down()
    assert took <= bound
    assert per_order == Counter(guards.values()), "one document per order, none doubled"
