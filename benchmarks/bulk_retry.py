"""Bulk retry of N failed events, three ways, side by side on one private Redis (AOF on):
the ops function the CLI and API share, `POST /admin/api/retry` on a real receiver process,
and `invoicebridge jobs retry --failed --yes` as a process. Each run re-fails the same N
events first, so all three do the same work: find them, move them, send N Dramatiq messages.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.targets import Section, Target
from invoicebridge.stack.local import LocalStack
from tests.orders import mug_paid_event
from worker.domain.events import OrderEvent
from worker.ledger.keys import UNQUEUED
from worker.ledger.ledger import Ledger
from worker.ops import actions as ops
from worker.runtime.actors import ACTOR, declare_actors
from worker.runtime.broker import bulk_enqueue, setup_broker
from worker.settings import load_settings


def _event(number: int) -> OrderEvent:
    return mug_paid_event(number, "acme", f"bench-{number}", created_at=datetime.now(UTC))


async def _fail_all(ledger: Ledger, ids: list[str]) -> None:
    """Put every event back to `failed` and empty the queue, so each run starts alike."""
    await ledger.redis.delete("invoicebridge:events", "invoicebridge:events.msgs")
    for start in range(0, len(ids), 100):
        await asyncio.gather(
            *(
                ledger.set_event_state(i, "failed", error="bench: refused")
                for i in ids[start : start + 100]
            )
        )


async def _seed(ledger: Ledger, count: int) -> list[str]:
    events = [_event(100_000 + n) for n in range(count)]
    for start in range(0, count, 100):
        await asyncio.gather(*(ledger.record(e) for e in events[start : start + 100]))
    return [e.event_id for e in events]


def _post_retry(stack: LocalStack) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 (our own receiver on loopback)
        f"{stack.receiver_url}/admin/api/retry",
        data=b'{"failed": true}',
        method="POST",
        headers={
            "Authorization": f"Bearer {stack.admin_token}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310 (loopback)
        return dict(json.loads(answer.read()))


def _cli_retry(stack: LocalStack) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "invoicebridge.cli",
        "jobs",
        "retry",
        "--failed",
        "--yes",
        "--json",
        "--config",
        str(stack.config),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    return dict(json.loads(done.stdout))


async def _timed(ledger: Ledger, ids: list[str], run: Callable[[], Any]) -> tuple[float, int]:
    await _fail_all(ledger, ids)
    started = time.perf_counter()
    outcome = await run()
    elapsed = time.perf_counter() - started
    queued = int(await ledger.redis.hlen("invoicebridge:events.msgs"))
    assert outcome["retried"] == len(ids) == queued, (outcome, queued)
    return elapsed, queued


async def _measure(stack: LocalStack, count: int) -> list[tuple[str, float, int]]:
    settings = load_settings(stack.config)
    ledger = Ledger.from_url(stack.redis_url)
    broker = setup_broker(settings)
    declare_actors(broker, settings, lambda: None)  # type: ignore[arg-type, return-value]
    try:
        ids = await _seed(ledger, count)
        await ledger.redis.delete(UNQUEUED)  # recorded as if queued: the sweeper leaves them be
        stack.start_receiver()

        async def in_process() -> dict[str, int]:
            found = await ops.ids_in_states(ledger, ["failed"])
            retried = await ops.retry(
                ledger, found, who="bench", enqueue=bulk_enqueue(broker), actor_name=ACTOR
            )
            return {"retried": retried}

        runs: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
            "worker.ops.actions ids_in_states + retry (in process)": in_process,
            "POST /admin/api/retry (receiver process, HTTP)": lambda: asyncio.to_thread(
                _post_retry, stack
            ),
            "invoicebridge jobs retry --failed --yes (CLI process)": lambda: asyncio.to_thread(
                _cli_retry, stack
            ),
        }
        return [(name, *await _timed(ledger, ids, run)) for name, run in runs.items()]
    finally:
        broker.close()
        await ledger.close()


def run(workdir: Path, count: int = 10_000) -> Section:
    """The table of the three ways, for BENCHMARKS.md, and the issue's target."""
    stack = LocalStack(workdir)
    stack.write_config()
    try:
        stack.start_redis()
        rows = asyncio.run(_measure(stack, count))
    finally:
        stack.down()
    lines = [
        f"### Bulk retry of {count:,} failed events",
        "",
        "| path | seconds | events/s | messages queued |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {s:.2f} | {n / s:,.0f} | {n:,} |" for name, s, n in rows]
    lines += [
        "",
        "Target (issue 6): under 10 s for 10,000. Each path re-fails the same "
        "events first; Redis runs with AOF on, as in production.",
        "",
    ]
    slowest = max(seconds for _, seconds, _ in rows)
    return Section(
        lines,
        [
            Target(
                f"bulk retry of {count:,} failed events, slowest path",
                10,
                slowest,
                "s",
                higher_is_better=False,
            )
        ],
    )
