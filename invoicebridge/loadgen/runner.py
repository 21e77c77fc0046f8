"""Send a plan's deliveries: paced or flat out, `concurrency` at a time, retried as shops do.

Built for speed from one process: every body is built and signed before the clock starts,
one `ClientSession` with a `TCPConnector(limit=concurrency)` keeps connections alive,
`concurrency` sender tasks pull the next delivery from a shared cursor (no queue, no task
per request), and nothing is logged per request. The run is bounded: no delivery starts,
and no retry waits, past `max_seconds`; a request in flight then has until the deadline.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence

import aiohttp
from yarl import URL

from invoicebridge.loadgen.pacing import backoff, due, retry_after_seconds, schedule
from invoicebridge.loadgen.payloads import Delivery, build_deliveries, current_headers
from invoicebridge.loadgen.plan import LoadPlan
from invoicebridge.loadgen.report import DeliveryResult, Expected, LoadReport

__all__ = ["REQUEST_TIMEOUT_S", "LoadReport", "expectations", "run_load"]

#: one attempt's longest wait for an answer (Shopify gives up after 5 s; we are more patient)
REQUEST_TIMEOUT_S = 10.0
#: sockets to loopback come and go fast; keep them open between requests
_KEEPALIVE_S = 30.0

Answer = tuple[str, str | None, float | None]  #: (status, receiver's status field, Retry-After)
#: told the number of deliveries finished (answered, or given up on) so far, after each one
OnProgress = Callable[[int], None]


class _Run:
    """One run's shared state; its `concurrency` senders share the cursor and the counters."""

    def __init__(
        self,
        plan: LoadPlan,
        built: Sequence[Delivery],
        session: aiohttp.ClientSession,
        on_progress: OnProgress | None = None,
    ):
        self.plan, self.built, self.session = plan, built, session
        self.on_progress, self.finished = on_progress, 0
        self.order = schedule(len(built), plan.duplicate_count)
        self.repeats = _repeats(self.order)
        self.results: list[DeliveryResult | None] = [None] * len(self.order)
        self.url = URL(plan.target)
        self.cursor = 0
        self.truncated = False
        self.attempt_statuses: Counter[str] = Counter()
        loop = asyncio.get_running_loop()
        self.clock = loop.time
        self.start = self.clock()
        self.deadline = self.start + plan.max_seconds
        self.timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)

    async def sender(self) -> None:
        """Send deliveries in schedule order until none is left or the time is up."""
        while self.cursor < len(self.order):
            position = self.cursor
            when = due(self.start, position, self.plan.rate)
            if when >= self.deadline or self.clock() >= self.deadline:
                self.truncated = True
                return
            self.cursor += 1
            wait = when - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            delivery = self.built[self.order[position]]
            self.results[position] = await self.deliver(delivery, self.repeats[position])
            self.finished += 1
            if self.on_progress is not None:
                self.on_progress(self.finished)

    async def deliver(self, delivery: Delivery, duplicate: bool) -> DeliveryResult:
        """Attempt `delivery` until a 2xx, `retries` attempts, or the deadline."""
        first = self.clock()
        attempt = 0
        while True:
            attempt += 1
            sent = self.clock()
            status, answer, retry_after = await self.attempt(delivery)
            took = self.clock() - sent
            self.attempt_statuses[status] += 1
            acked = status.startswith("2")
            if acked or attempt >= self.plan.retries:
                break
            wait = backoff(attempt, retry_after)
            if self.clock() + wait >= self.deadline:
                break
            await asyncio.sleep(wait)
        return DeliveryResult(
            delivery.order_id,
            duplicate,
            status,
            answer,
            attempt,
            self.clock() - first,
            took if acked else None,
        )

    async def attempt(self, delivery: Delivery) -> Answer:
        """One POST: (status, the receiver's `status` field, Retry-After seconds)."""
        headers = current_headers(delivery, self.plan.source, self.plan.secret, int(time.time()))
        left = max(self.deadline - self.clock(), 0.05)
        # never None: aiohttp reads a None timeout as "wait for ever"
        timeout = self.timeout if left > REQUEST_TIMEOUT_S else aiohttp.ClientTimeout(left)
        try:
            async with self.session.post(
                self.url, data=delivery.body, headers=headers, timeout=timeout
            ) as response:
                raw = await response.read()
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                return str(response.status), _answer(raw), retry_after
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return f"error:{type(exc).__name__}", None, None


def _repeats(order: Sequence[int]) -> list[bool]:
    """For each position of the send order: does it repeat a delivery scheduled before it?"""
    seen: set[int] = set()
    flags = []
    for index in order:
        flags.append(index in seen)
        seen.add(index)
    return flags


def _answer(raw: bytes) -> str | None:
    """The `status` field of a JSON answer ("accepted", "duplicate"…), if there is one."""
    if not raw.startswith(b"{"):
        return None
    try:
        value = json.loads(raw).get("status")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def expectations(built: Sequence[Delivery]) -> dict[str, Expected]:
    """What each order must end as, from its delivery."""
    return {d.order_id: Expected(d.event_id, d.total, d.currency) for d in built}


async def run_load(
    plan: LoadPlan,
    deliveries: Sequence[Delivery] | None = None,
    *,
    on_progress: OnProgress | None = None,
) -> LoadReport:
    """Run `plan` against its receiver and report every delivery's outcome.

    `deliveries` (one per order, e.g. from `build_deliveries(plan)`) may be built ahead by the
    caller; by default they are built here, before the clock starts. `on_progress` is told
    how many of the plan's `deliveries` (duplicates included) are finished, after each one.
    """
    built = list(deliveries) if deliveries is not None else build_deliveries(plan)
    if len(built) != plan.count:
        raise ValueError(f"deliveries: expected {plan.count}, got {len(built)}")
    connector = aiohttp.TCPConnector(
        limit=plan.concurrency, limit_per_host=plan.concurrency, keepalive_timeout=_KEEPALIVE_S
    )
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:
        started = time.time()
        run = _Run(plan, built, session, on_progress)
        await asyncio.gather(*(run.sender() for _ in range(plan.concurrency)))
        elapsed = run.clock() - run.start
    results = [result for result in run.results if result is not None]
    return LoadReport(
        plan, started, elapsed, expectations(built), results, run.truncated, run.attempt_statuses
    )
