"""Ingest: signed Shopify webhooks per second that one receiver process verifies, dedupes,
records and queues, beside a bare aiohttp handler that only reads the body and answers 200,
driven by the same load generator in the same run; then latency at half the receiver's
maximum rate, and the receiver's CPU per webhook and peak memory.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from benchmarks.procstats import cpu_seconds, family, peak_rss_mb
from benchmarks.targets import Section, Target
from invoicebridge.loadgen.plan import LoadPlan
from invoicebridge.loadgen.runner import LoadReport, run_load
from invoicebridge.stack.local import LocalStack, StackOptions, free_port, http_json

COUNT = 10_000
CONCURRENCY = 64


def _load(
    stack: LocalStack, url: str, first: int, count: int, rate: float | None = None
) -> LoadReport:
    plan = LoadPlan(
        **stack.shopify_target(url),
        count=count,
        rate=rate,
        concurrency=CONCURRENCY,
        first_order=first,
        max_seconds=300,
        retries=1,
    )
    report = asyncio.run(run_load(plan))
    if len(report.acknowledged) != count:
        raise RuntimeError(f"{url}: only {len(report.acknowledged)} of {count} acknowledged")
    return report


def _start_bare(stack: LocalStack) -> str:
    port = free_port()
    stack.spawn("bare", [sys.executable, "-m", "benchmarks.bare_server", "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    stack.wait_ready(lambda: http_json("GET", url + "/healthz")[0] == 200, "bare")
    return url


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.1f}"


def run(workdir: Path) -> Section:
    """The ingest table for BENCHMARKS.md and the targets it measures."""
    stack = LocalStack(workdir, StackOptions(log_level="warning", rate_limit_per_s=1e6))
    stack.write_config()
    try:
        stack.start_redis()
        stack.start_receiver()
        bare_url = _start_bare(stack)
        bare = _load(stack, bare_url, 1, COUNT)
        receiver = family(stack.procs["receiver"].pid)
        cpu_before = cpu_seconds(receiver)
        full = _load(stack, stack.receiver_url, 1_000_000, COUNT)
        cpu_ms = (cpu_seconds(receiver) - cpu_before) * 1000 / COUNT
        half = _load(stack, stack.receiver_url, 2_000_000, COUNT // 2, rate=full.rate / 2)
        rss = peak_rss_mb(stack.procs["receiver"].pid)
    finally:
        stack.stop("bare")
        stack.down()
    replicated = _on_sentinel(workdir / "sentinel")
    p99 = (half.percentile(99) or 0) * 1000
    targets = [
        Target("ingest, one receiver process", 3000, full.rate, "webhooks/s"),
        Target("ingest, share of the bare aiohttp rate", 50, full.rate / bare.rate * 100, "%"),
        Target("ingest p99 latency at half the maximum rate", 10, p99, "ms", False),
        Target("receiver peak RSS", 150, rss, "MB", False),
    ]
    return Section(_table(bare, full, half, replicated, cpu_ms, rss), targets)


def _on_sentinel(workdir: Path) -> LoadReport:
    """The same receiver on Redis under Sentinel with `min_replicas = 1`: each webhook is
    answered only once a replica has its record (Redis WAIT), one more round trip."""
    options = StackOptions(log_level="warning", rate_limit_per_s=1e6, redis="sentinel")
    stack = LocalStack(workdir, options)
    stack.write_config()
    try:
        stack.start_redis()
        stack.start_receiver()
        return _load(stack, stack.receiver_url, 3_000_000, COUNT // 2)
    finally:
        stack.down()


def _table(
    bare: LoadReport,
    full: LoadReport,
    half: LoadReport,
    replicated: LoadReport,
    cpu_ms: float,
    rss: float,
) -> list[str]:
    ratio = full.rate / bare.rate
    p50, p99 = half.percentile(50), half.percentile(99)
    return [
        f"### Ingest: {COUNT:,} signed Shopify webhooks, {CONCURRENCY} connections",
        "",
        "| server | webhooks/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        f"| bare aiohttp handler (reads the body, answers 200) | {bare.rate:,.0f} | "
        f"{_ms(bare.percentile(50))} | {_ms(bare.percentile(99))} |",
        f"| invoicebridge receiver (verify, dedupe, record, queue) | {full.rate:,.0f} | "
        f"{_ms(full.percentile(50))} | {_ms(full.percentile(99))} |",
        f"| receiver at half its maximum ({full.rate / 2:,.0f}/s offered) | {half.rate:,.0f} | "
        f"{_ms(p50)} | {_ms(p99)} |",
        f"| receiver on Sentinel, answering once a replica has it ({COUNT // 2:,}) | "
        f"{replicated.rate:,.0f} | {_ms(replicated.percentile(50))} | "
        f"{_ms(replicated.percentile(99))} |",
        "",
        f"- receiver / bare: **{ratio:.0%}** (target ≥ 50 %)",
        f"- on Sentinel with `min_replicas = 1` / on one Redis: "
        f"**{replicated.rate / full.rate:.0%}** (the replicas and sentinels share the cores)",
        f"- receiver CPU per webhook: {cpu_ms:.2f} ms; peak RSS {rss:.0f} MB (target ≤ 150 MB)",
        f"- p99 at half rate: {_ms(p99)} ms (target ≤ 10 ms)",
        "- the load generator runs on the same 2 cores, so both rates are lower bounds.",
        "",
    ]


if __name__ == "__main__":  # a quick look without the other benchmarks
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print("\n".join(run(Path(tmp)).lines))
