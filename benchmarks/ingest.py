"""Ingest: signed Shopify webhooks per second that one receiver process verifies, dedupes,
records and queues, beside a bare aiohttp handler that only reads the body and answers 200,
both driven by wrk (1 thread, 32 connections) in the same run, taking turns; then latency at
half the receiver's maximum rate (a Poisson stream), the receiver's CPU per webhook and peak
memory, and the same receiver on Redis under Sentinel answering once a replica has each
record.

Every request carries the same signed `orders/paid` body (a one-line order as the load
generator builds it) and a fresh `X-Shopify-Event-Id`, which the signature does not cover:
each one is a new event to the receiver.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.procstats import cpu_seconds, family, peak_rss_mb
from benchmarks.targets import Section, Target
from benchmarks.wrk import WrkRun, run_wrk
from invoicebridge.loadgen.payloads import Delivery, order_lines, shopify_delivery
from invoicebridge.stack.local import LocalStack, StackOptions, free_port, http_json

SECONDS = 10
ROUNDS, ROUND_SECONDS = 3, 5  #: bare and receiver, alternating; the median round is shown
CONNECTIONS = 32
ID_HEADER = "X-Shopify-Event-Id"


@dataclass(frozen=True)
class _Target:
    """Where one wrk run posts: a server's webhook URL and the signed delivery."""

    url: str
    delivery: Delivery
    workdir: Path

    def load(self, name: str, rate: float | None = None, seconds: int = SECONDS) -> WrkRun:
        found = run_wrk(
            self.url,
            self.delivery.body,
            self.delivery.headers,
            workdir=self.workdir,
            id_header=ID_HEADER,
            id_prefix=f"{name}-",
            seconds=seconds,
            connections=CONNECTIONS,
            rate=rate,
        )
        if found.non_2xx or found.socket_errors or not found.requests:
            raise RuntimeError(f"{name}: {found}")
        return found


def _start_bare(stack: LocalStack) -> str:
    port = free_port()
    stack.spawn("bare", [sys.executable, "-m", "benchmarks.bare_server", "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    stack.wait_ready(lambda: http_json("GET", url + "/healthz")[0] == 200, "bare")
    return url


def _target(stack: LocalStack, base_url: str, workdir: Path) -> _Target:
    """The stack's Shopify tenant at `base_url`, with the one-line order every run posts."""
    delivery = shopify_delivery(7, order_lines(7, 1), stack.tenant, stack.secret)
    return _Target(f"{base_url}/webhooks/shopify/{stack.tenant}", delivery, workdir / "wrk")


def run(workdir: Path) -> Section:
    """The ingest table for BENCHMARKS.md and the targets it measures."""
    stack = LocalStack(workdir, StackOptions(log_level="info", rate_limit_per_s=1e6))
    stack.write_config()
    try:
        stack.start_redis()
        stack.start_receiver()
        target = _target(stack, stack.receiver_url, workdir)
        bare_target = replace(
            target, url=target.url.replace(stack.receiver_url, _start_bare(stack))
        )
        receiver = family(stack.procs["receiver"].pid)
        bares, fulls, cpu_s = [], [], 0.0
        for n in range(ROUNDS):  # alternating, so a slow spell of the machine hits both
            bares.append(bare_target.load(f"bare{n}", seconds=ROUND_SECONDS))
            cpu_before = cpu_seconds(receiver)
            fulls.append(target.load(f"full{n}", seconds=ROUND_SECONDS))
            cpu_s += cpu_seconds(receiver) - cpu_before
        cpu_ms = cpu_s * 1000 / sum(run.requests for run in fulls)
        bare, full = _median(bares), _median(fulls)
        ratio = statistics.median(f.rate / b.rate for b, f in zip(bares, fulls, strict=True))
        half = target.load("half", rate=full.rate / 2)
        rss = peak_rss_mb(stack.procs["receiver"].pid)
    finally:
        stack.stop("bare")
        stack.down()
    replicated = _on_sentinel(workdir / "sentinel")
    body_kb = len(target.delivery.body) / 1000
    targets = [
        Target("ingest, one receiver process", 3000, full.rate, "webhooks/s"),
        Target("ingest, share of the bare aiohttp rate", 25, ratio * 100, "%"),
        Target("ingest p99 latency at half the maximum rate", 10, half.p99_ms, "ms", False),
        Target("receiver peak RSS", 150, rss, "MB", False),
    ]
    table = _table(bare, full, half, replicated, ratio, cpu_ms, rss, body_kb)
    return Section(table, targets)


def _median(runs: list[WrkRun]) -> WrkRun:
    """The run whose rate is the median of the rounds'."""
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


def _on_sentinel(workdir: Path) -> WrkRun:
    """The same receiver on Redis under Sentinel with `min_replicas = 1`: each webhook is
    answered only once a replica has its record (Redis WAIT), one more round trip."""
    options = StackOptions(log_level="info", rate_limit_per_s=1e6, redis="sentinel")
    stack = LocalStack(workdir, options)
    stack.write_config()
    try:
        stack.start_redis()
        stack.start_receiver()
        return _target(stack, stack.receiver_url, workdir).load("sentinel")
    finally:
        stack.down()


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _row(what: str, found: WrkRun) -> str:
    return (
        f"| {what} | {found.rate:,.0f} | {_ms(found.p50_ms)} | {_ms(found.p90_ms)} | "
        f"{_ms(found.p99_ms)} |"
    )


def _table(
    bare: WrkRun,
    full: WrkRun,
    half: WrkRun,
    replicated: WrkRun,
    ratio: float,
    cpu_ms: float,
    rss: float,
    body_kb: float,
) -> list[str]:
    return [
        f"### Ingest: wrk, 1 thread × {CONNECTIONS} connections, a {body_kb:.1f} kB signed "
        "Shopify `orders/paid`, a fresh event id per request",
        "",
        f"Bare and receiver alternate, {ROUNDS} rounds of {ROUND_SECONDS} s each (the median "
        f"round is shown, the ratio is the median of the rounds'); the other rows {SECONDS} s.",
        "",
        "| server | webhooks/s | p50 ms | p90 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
        _row("bare aiohttp handler (reads the body, answers 200)", bare),
        _row("invoicebridge receiver (verify, dedupe, record, queue; log level info)", full),
        _row(f"receiver at half its maximum ({full.rate / 2:,.0f}/s offered, Poisson)", half),
        _row("receiver on Sentinel, answering once a replica has it", replicated),
        "",
        f"- receiver / bare: **{ratio:.1%}** (target ≥ 25 %, aim 50 %)",
        f"- on Sentinel with `min_replicas = 1` / on one Redis: "
        f"**{replicated.rate / full.rate:.0%}** (the replicas and sentinels share the cores)",
        f"- receiver CPU per webhook: **{cpu_ms:.3f} ms**; peak RSS {rss:.0f} MB (target ≤ 150 MB)",
        f"- p99 at half rate: {_ms(half.p99_ms)} ms (target ≤ 10 ms)",
        "- wrk, Redis and the server measured share the same 2 cores, so both rates are lower "
        "bounds.",
        "",
    ]


if __name__ == "__main__":  # a quick look without the other benchmarks
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print("\n".join(run(Path(tmp)).lines))
