"""End to end: paid Shopify orders per second that become an iCount invoice-receipt, emailed,
with the sandbox answering every call after 50 ms, for 1 and 2 worker processes; beside the
bound that latency and concurrency allow (processes x threads / 50 ms), and the CPU each
order costs across the receiver and the workers, and their peak memory.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procstats import cpu_seconds, family, peak_rss_mb
from benchmarks.targets import Section, Target
from invoicebridge.loadgen.plan import LoadPlan
from invoicebridge.loadgen.runner import run_load
from invoicebridge.stack.local import LocalStack, StackOptions

ORDERS = 3_000
LATENCY_S = 0.050
THREADS = 24


@dataclass(frozen=True)
class Run:
    processes: int
    orders_per_s: float
    bound: float
    cpu_ms: float  #: per order, receiver + every worker process
    receiver_rss: float
    worker_rss: float  #: the largest worker process's peak

    @property
    def ratio(self) -> float:
        return self.orders_per_s / self.bound


def _done(stack: LocalStack) -> int:
    return stack.ledger_states().get("done", 0)


def _measure(workdir: Path, processes: int) -> Run:
    options = StackOptions(
        workers=processes,
        threads=THREADS,
        worker_metrics=False,
        log_level="warning",
        rate_limit_per_s=1e6,
    )
    stack = LocalStack(workdir, options)
    try:
        stack.up()
        stack.wait_workers(processes)
        stack.set_faults({"latency_ms": int(LATENCY_S * 1000)})
        ours = [*family(stack.procs["receiver"].pid), *family(stack.procs["workers"].pid)]
        cpu_before, started = cpu_seconds(ours), time.monotonic()
        plan = LoadPlan(**stack.shopify_target(), count=ORDERS, concurrency=32, max_seconds=300)
        report = asyncio.run(run_load(plan))
        if len(report.acknowledged) != ORDERS:
            raise RuntimeError(f"only {len(report.acknowledged)} of {ORDERS} acknowledged")
        while _done(stack) < ORDERS:
            if time.monotonic() - started > 600:
                raise RuntimeError(f"{_done(stack)} of {ORDERS} done after 600 s")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        cpu_ms = (cpu_seconds(ours) - cpu_before) * 1000 / ORDERS
        workers = family(stack.procs["workers"].pid)[1:]
        worker_rss = max((peak_rss_mb(pid) for pid in workers), default=0.0)
        return Run(
            processes,
            ORDERS / elapsed,
            processes * THREADS / LATENCY_S,
            cpu_ms,
            peak_rss_mb(stack.procs["receiver"].pid),
            worker_rss,
        )
    finally:
        stack.down()


def run(workdir: Path) -> Section:
    """The end-to-end table for BENCHMARKS.md and the targets it measures."""
    runs = [_measure(workdir / f"p{n}", n) for n in (1, 2)]
    lines = [
        f"### End to end: {ORDERS:,} paid orders → invoice-receipt + email, iCount answering "
        f"after {LATENCY_S * 1000:.0f} ms",
        "",
        "| worker processes × threads | orders/s | bound (concurrency / latency) | of bound "
        "| CPU ms per order | receiver peak RSS MB | worker peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.processes} × {THREADS} | {r.orders_per_s:,.0f} | {r.bound:,.0f} | "
        f"{r.ratio:.0%} | {r.cpu_ms:.2f} | {r.receiver_rss:.0f} | {r.worker_rss:.0f} |"
        for r in runs
    ]
    lines += [
        "",
        "Targets: ≥ 500 orders/s on 2 processes, ≥ 80 % of the bound, ≤ 2 ms CPU "
        "per order, receiver ≤ 150 MB, worker ≤ 250 MB. Orders are posted as fast as the "
        "receiver takes them; the clock stops when the last one is done.",
        "",
    ]
    two = runs[-1]
    return Section(
        lines,
        [
            Target(
                "end to end, 2 worker processes, 50 ms provider latency",
                500,
                two.orders_per_s,
                "orders/s",
            ),
            Target("end to end, share of the latency/concurrency bound", 80, two.ratio * 100, "%"),
            Target("CPU per order, receiver + workers", 2, two.cpu_ms, "ms", False),
            Target("worker process peak RSS", 250, max(r.worker_rss for r in runs), "MB", False),
        ],
    )
