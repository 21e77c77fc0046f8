"""`invoicebridge loadgen`: post signed orders at a receiver, then check what became of them.

Exit codes: 0 every order acknowledged (and, with --reconcile, each has exactly one
document for its total); 1 some order not acknowledged, or reconciliation found orders
missing, doubled or with a wrong total (or could not read the sandbox or the ledger);
2 bad usage: nothing was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from redis.exceptions import RedisError
from rich import box
from rich.console import Console
from rich.table import Table

from invoicebridge.loadgen.ledger import wait_quiet
from invoicebridge.loadgen.payloads import build_deliveries
from invoicebridge.loadgen.plan import SOURCES, LoadPlan, loopback_url
from invoicebridge.loadgen.reconcile import VIEWS, Reconciliation, reconcile
from invoicebridge.loadgen.report import LoadReport
from invoicebridge.loadgen.runner import run_load
from invoicebridge.progress import progress_bar
from worker.redis_clients import primary_url
from worker.settings import TenantSettings, load_settings

OK, FOUND_PROBLEMS, USAGE = 0, 1, 2


class UsageError(Exception):
    """A flag or the configuration does not allow a run; nothing has been sent."""


@dataclass(frozen=True)
class Checking:
    """Where reconciliation reads, and how long it first waits for the workers."""

    sandbox_url: str
    redis_url: str
    provider: str
    wait: float


def add_loadgen_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `loadgen` on the top-level parser's subparsers."""
    parser = subparsers.add_parser(
        "loadgen", help="post signed orders at a local receiver and reconcile", description=__doc__
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="receiver (loopback)")
    parser.add_argument("--source", choices=SOURCES, help="default: the tenant's, from --config")
    parser.add_argument("--tenant", default="acme")
    parser.add_argument("--secret", help="the tenant's webhook secret (or give --config)")
    parser.add_argument("--config", help="TOML settings to read the tenant's secret etc. from")
    parser.add_argument("--count", type=int, default=100, help="distinct orders")
    parser.add_argument("--rate", type=float, help="deliveries/s (default: as fast as possible)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--duplicates", type=float, default=0.0, help="re-deliveries per order")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="hard bound on sending")
    parser.add_argument("--retries", type=int, default=8, help="attempts per delivery")
    parser.add_argument("--first-order", type=int, default=1, help="first order id")
    parser.add_argument("--lines", type=int, default=3, help="order lines per order")
    parser.add_argument("--path", help="post here instead of /webhooks/<source>/<tenant>")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--reconcile", action="store_true", help="check documents afterwards")
    parser.add_argument("--sandbox-url", help="provider sandbox (default: from --config)")
    parser.add_argument("--redis-url", help="the ledger (default: from --config)")
    parser.add_argument("--provider", choices=sorted(VIEWS), help="default: from --config")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for quiet")
    parser.set_defaults(func=loadgen_command)


def _tenant(args: argparse.Namespace) -> TenantSettings | None:
    if not args.config:
        return None
    settings = load_settings(args.config)  # a SettingsError is bad usage, handled by main
    tenant = settings.tenants.get(args.tenant)
    if tenant is None:
        raise UsageError(f"tenant {args.tenant!r} is not in {args.config}")
    args.redis_url = args.redis_url or primary_url(settings.redis)  # under Sentinel: as of now
    return tenant


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def plan_from(args: argparse.Namespace) -> tuple[LoadPlan, Checking | None]:
    """The plan and the reconciliation settings the flags (and --config) describe.

    Raises UsageError or ValueError (a bad field, named), before anything is sent.
    """
    tenant = _tenant(args)
    secrets = tenant.webhook_secrets() if tenant else ()
    secret = args.secret or (secrets[0] if secrets else None)
    source = args.source or (tenant.source if tenant else None)
    if secret is None or source is None:
        raise UsageError("give --secret and --source, or --config with the tenant")
    plan = LoadPlan(
        url=args.url,
        source=source,
        tenant=args.tenant,
        secret=secret,
        count=args.count,
        rate=args.rate,
        concurrency=args.concurrency,
        duplicates=args.duplicates,
        max_seconds=args.max_seconds,
        retries=args.retries,
        first_order=args.first_order,
        lines=args.lines,
        path=args.path,
    )
    return plan, _checking(args, tenant) if args.reconcile else None


def _checking(args: argparse.Namespace, tenant: TenantSettings | None) -> Checking:
    provider = args.provider or (tenant.provider if tenant else None)
    sandbox = args.sandbox_url
    if sandbox is None and tenant is not None:
        sandbox = _origin(getattr(tenant, tenant.provider).base_url)
    if not (provider and sandbox and args.redis_url):
        raise UsageError("--reconcile needs --provider, --sandbox-url, --redis-url (or --config)")
    if args.wait < 0:
        raise UsageError("--wait: expected seconds >= 0")
    return Checking(loopback_url(sandbox, "sandbox_url"), args.redis_url, provider, args.wait)


def loadgen_command(args: argparse.Namespace, *, progress: Console | None = None) -> int:
    """Run the flags' plan; progress bars go to `progress` (default: stderr), if a terminal."""
    try:
        plan, checking = plan_from(args)
    except (UsageError, ValueError) as exc:
        print(f"invoicebridge loadgen: {exc}", file=sys.stderr)
        return USAGE
    return asyncio.run(_run(plan, checking, as_json=args.json, progress=progress))


async def _run(
    plan: LoadPlan, checking: Checking | None, *, as_json: bool, progress: Console | None
) -> int:
    console = Console(stderr=as_json)
    console.print(f"building {plan.count} {plan.source} orders for {plan.target} …")
    deliveries = build_deliveries(plan)
    with progress_bar("webhooks sent", plan.deliveries, console=progress) as bar:
        report = await run_load(plan, deliveries, on_progress=bar.update)
    output: dict[str, Any] = {"report": report.as_dict()}
    if not as_json:
        console.print(summary(report))
    ok = not report.not_acknowledged
    if checking is not None:
        try:
            checked = await _check(report, checking, console, output, progress)
        except (aiohttp.ClientError, RedisError, OSError, ValueError) as exc:
            console.print(f"[red]could not reconcile: {type(exc).__name__}: {exc}[/]")
            output["reconciliation_error"] = f"{type(exc).__name__}: {exc}"
            checked = None
        ok = ok and checked is not None and checked.ok
        if checked is not None and not as_json:
            console.print(reconciliation_table(checked))
    if as_json:
        print(json.dumps(output, indent=2, default=str))
    return OK if ok else FOUND_PROBLEMS


async def _check(
    report: LoadReport,
    checking: Checking,
    console: Console,
    output: dict[str, Any],
    progress: Console | None,
) -> Reconciliation:
    if checking.wait > 0:
        console.print(f"waiting up to {checking.wait:g}s for the ledger to go quiet …")
    with progress_bar("events settled", console=progress) as bar:
        quiet, states = await wait_quiet(checking.redis_url, checking.wait, on_progress=bar.update)
    output["ledger"] = {"quiet": quiet, "states": {s: n for s, n in states.items() if n}}
    if not quiet:
        console.print(f"[yellow]the ledger is still busy: {output['ledger']['states']}[/]")
    checked = await reconcile(
        report,
        sandbox_url=checking.sandbox_url,
        redis_url=checking.redis_url,
        provider=checking.provider,
    )
    output["reconciliation"] = checked.as_dict()
    return checked


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counter.items())) or "-"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def summary(report: LoadReport) -> Table:
    """The run at a glance."""
    table = Table("load", "", title="invoicebridge loadgen", box=box.SIMPLE_HEAD)
    latency = report.latency_ms()
    rows = [
        ("target", report.plan.target),
        ("sent", f"{report.sent} of {report.planned} ({report.duplicates_sent} duplicates)"),
        ("acknowledged orders", f"{len(report.acknowledged)} of {len(report.expected)}"),
        ("final statuses", _counts(report.statuses)),
        ("every attempt", f"{report.attempts}: {_counts(report.attempt_statuses)}"),
        ("receiver said", _counts(report.answers)),
        ("rate", f"{report.rate:,.0f} deliveries/s over {report.elapsed:.2f} s"),
        ("latency p50 / p95 / p99", " / ".join(_ms(latency[p]) for p in ("p50", "p95", "p99"))),
    ]
    if report.truncated:
        rows.append(("truncated", f"max_seconds {report.plan.max_seconds:g} ran out"))
    for row in rows:
        table.add_row(*row)
    return table


def reconciliation_table(checked: Reconciliation) -> Table:
    mark = "[green]ok[/]" if checked.ok else "[red]problems[/]"
    table = Table(
        "reconciliation", mark, title=f"documents at {checked.provider}", box=box.SIMPLE_HEAD
    )
    for label, value in checked.table():
        table.add_row(label, value)
    return table
