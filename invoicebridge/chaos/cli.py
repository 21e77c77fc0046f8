"""`invoicebridge chaos`: run the chaos suite and print what it found (`--json FILE`: also
write it there). Exit 0 when nothing acknowledged went missing or was doubled and every order
a low-traffic kill stranded had its document in time, 1 otherwise, 2 on bad arguments."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from invoicebridge.chaos.suite import ChaosPlan, ChaosResult, run_chaos, start_stack
from invoicebridge.chaos.trickle import TrickleResult

#: `invoicebridge chaos` has the low-traffic phase on (a ChaosPlan has it off): orders, kills
TRICKLE_ORDERS, TRICKLE_KILLS = 30, 3


def summary_rows(result: ChaosResult) -> list[tuple[str, str]]:
    """The table's rows: what was sent and made, what went wrong, what the monkey did."""
    load, rec, counts = result.load, result.reconciliation, result.log.counts
    rows = [
        ("deliveries sent (with duplicates)", f"{load.sent:,}"),
        ("orders acknowledged (2xx)", f"{len(load.acknowledged):,} of {result.plan.events:,}"),
        ("orders with exactly one document", f"{len(rec.with_one_document):,}"),
        ("doubled (more than one document)", f"{len(rec.doubled):,}"),
        ("missing (acknowledged, no document, not failed)", f"{len(rec.missing):,}"),
        ("wrong total", f"{len(rec.wrong_total):,}"),
        (
            "emails missing / doubled",
            f"{len(rec.emails_missing or [])} / {len(rec.emails_doubled or [])}",
        ),
        ("failed / needs attention, with a reason", f"{len(rec.failed_visible):,}"),
        ("load time (s)", f"{load.elapsed:.1f}"),
        ("time to drain after the load (s)", f"{result.drain_s:.1f}"),
    ]
    rows += [(kind, str(n)) for kind, n in sorted(counts.items())]
    rows += [(f"monkey error {i + 1}", text) for i, text in enumerate(result.monkey_errors)]
    return rows + trickle_rows(result)


def trickle_rows(result: ChaosResult) -> list[tuple[str, str]]:
    """The low-traffic phase's rows: its orders, its kills, what they stranded and how long
    the stranded orders took to their documents, against the bound."""
    trickle, plan = result.trickle, result.plan
    if trickle is None:
        off = "off" if not plan.trickle_on else "not run"
        if plan.trickle_orders and plan.trickle_kills and plan.broker != "redis":
            off = "off (Redis broker only: RabbitMQ redelivers at once)"
        return [("low-traffic phase", off)]
    rec = trickle.reconciliation
    acked = f"{len(trickle.load.acknowledged):,} of {trickle.plan.orders:,}"
    rows = [
        ("low traffic: orders acknowledged", f"{acked} at {trickle.plan.rate:g}/s"),
        ("low traffic: with exactly one document", f"{len(rec.with_one_document):,}"),
        ("low traffic: missing / doubled", f"{len(rec.missing)} / {len(rec.doubled)}"),
        ("low traffic: worker kills", str(len(trickle.kills))),
        ("low traffic: orders stranded by the kills", str(trickle.stranded)),
        ("low traffic: worst kill → document (s)", _worst(trickle)),
    ]
    for number, kill in enumerate(trickle.kills, 1):
        worst = "-" if kill.worst_s is None else f"{kill.worst_s:.1f} s"
        what = f"{len(kill.done_after_s)} stranded, worst {worst}"
        rows.append((f"low traffic: kill {number} ({kill.victim} at {kill.at_s:.1f} s)", what))
    late = trickle.late
    if late:
        rows.append(("low traffic: stranded, not done in time", ", ".join(late)))
    rows += [(f"low traffic error {i}", text) for i, text in enumerate(trickle.errors, 1)]
    return rows


def _worst(trickle: TrickleResult) -> str:
    bound = f"bound {trickle.bound_s:g}"
    worst = trickle.worst_s
    return f"- ({bound})" if worst is None else f"{worst:.1f} ({bound})"


def render(result: ChaosResult) -> Table:
    good = "nothing lost, nothing doubled" + (", recovered in time" if result.trickle else "")
    verdict = f"[green]{good}[/]" if result.ok else "[red]FAILED[/]"
    table = Table("", "", title=f"chaos: {verdict}", box=box.SIMPLE_HEAD, title_justify="left")
    for name, value in summary_rows(result):
        table.add_row(name, value)
    return table


def _plan(args: argparse.Namespace) -> ChaosPlan:
    numbers = {field: getattr(args, _dest(flag)) for flag, (field, _) in _NUMBER_FLAGS.items()}
    return ChaosPlan(**numbers, faults=not args.no_faults, seed=args.seed, broker=args.broker)


def report_data(result: ChaosResult) -> dict[str, Any]:
    """What `--json FILE` holds: the verdict, the table's rows, and the run in full."""
    log = result.log
    return {
        "ok": result.ok,
        "summary": dict(summary_rows(result)),
        "plan": asdict(result.plan),
        "load": result.load.as_dict(),
        "reconciliation": result.reconciliation.as_dict(),
        "drain_s": round(result.drain_s, 3),
        "monkey": {"counts": log.counts, "log": log.entries, "errors": result.monkey_errors},
        "trickle": None if result.trickle is None else result.trickle.as_dict(),
    }


def report_path(text: str) -> Path:
    """`--json FILE`, made absolute at once: relative to where the command was run from."""
    return Path(text).expanduser().resolve()


def write_report(path: Path, result: ChaosResult) -> None:
    """Write `result` to `path` as JSON, its folders made; atomically (a temporary file in the
    same folder, renamed over it), so a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report_data(result), indent=1, default=str) + "\n"
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp's 0600 is for secrets; this is a report
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _usable(path: Path | None) -> str | None:
    """Why the report could not be written at `path` (checked before the run), or None."""
    if path is None:
        return None
    if path.is_dir():
        return f"--json {path}: is a folder; name a file"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--json {path}: cannot make its folder: {exc.strerror or exc}"
    return None


def _run(args: argparse.Namespace, *, progress: Console | None = None) -> int:
    """Run the chaos suite the flags describe; bars go to `progress` (default: stderr)."""
    try:
        plan = _plan(args)
    except ValueError as exc:
        print(f"invoicebridge chaos: {exc}", file=sys.stderr)
        return 2
    if problem := _usable(args.json):
        print(f"invoicebridge chaos: {problem}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="invoicebridge-chaos-"))
    console = Console(width=120)
    console.print(f"[bold]chaos[/]: {_what(plan)}; logs in {workdir}")
    stack = start_stack(workdir, plan)
    try:
        result = run_chaos(stack, plan, console=progress)
    finally:
        stack.down()
    console.print(render(result))
    if args.json:
        write_report(args.json, result)
        console.print(f"report written to {args.json}")
    if result.ok and not args.keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if result.ok else 1


def _what(plan: ChaosPlan) -> str:
    """The run in a phrase, for its first line."""
    load = f"{plan.events:,} orders at {plan.rate:g}/s"
    if not plan.trickle_on:
        return load
    trickle = f"{plan.trickle_orders:,} orders at {plan.trickle_rate:g}/s"
    return f"{trickle} with {plan.trickle_kills} worker kills, then {load}"


#: the plan's numbers as flags: flag → (its `ChaosPlan` field, help); each flag's default
#: is the field's in a `ChaosPlan()` (the low-traffic counts: `TRICKLE_*`), of its type
_LOAD_FLAGS: dict[str, tuple[str, str]] = {
    "--events": ("events", "orders to post"),
    "--rate": ("rate", "webhooks per second"),
    "--duplicates": ("duplicates", "re-deliveries per order, 0 to 1"),
    "--worker-groups": ("worker_groups", "`invoicebridge worker` processes"),
    "--worker-kills": ("worker_kills", "worker processes SIGKILLed (and started again)"),
    "--kill-every": ("kill_every_s", "seconds between kills"),
    "--redis-restarts": ("redis_restarts", "Redis restarts (SIGTERM, then up again on its AOF)"),
    "--redis-failovers": (
        "redis_failovers",
        "run Redis under Sentinel and SIGKILL its primary this many times "
        "(with --redis-restarts 0)",
    ),
    "--receiver-restarts": ("receiver_restarts", "receivers SIGKILLed and started again"),
    "--rolling-restarts": (
        "rolling_restarts",
        "graceful restarts of every process, one after another",
    ),
}
#: the low-traffic phase's (it runs before the load; Redis broker only)
_TRICKLE_FLAGS: dict[str, tuple[str, str]] = {
    "--trickle-orders": (
        "trickle_orders",
        "orders of the low-traffic phase, before the load (0: no such phase)",
    ),
    "--trickle-rate": ("trickle_rate", "orders per second in the low-traffic phase"),
    "--trickle-kills": (
        "trickle_kills",
        "worker groups SIGKILLed in the low-traffic phase while they run orders (0: no "
        "such phase); every order they strand must have its document within the heartbeat "
        "timeout + 15 s",
    ),
}
_NUMBER_FLAGS = _LOAD_FLAGS | _TRICKLE_FLAGS
_METAVARS = {"--kill-every": "S"}


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _add_numbers(parser: argparse.ArgumentParser, flags: dict[str, tuple[str, str]]) -> None:
    plan, on = ChaosPlan(), {"trickle_orders": TRICKLE_ORDERS, "trickle_kills": TRICKLE_KILLS}
    for flag, (field, help_text) in flags.items():
        default = on.get(field, getattr(plan, field))
        parser.add_argument(
            flag, type=type(default), default=default, metavar=_METAVARS.get(flag), help=help_text
        )


def add_chaos_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chaos = subparsers.add_parser(
        "chaos", help="the system under load, kills and faults", description=__doc__
    )
    defaults = ChaosPlan()
    _add_numbers(chaos, _LOAD_FLAGS)
    chaos.add_argument("--no-faults", action="store_true", help="no sandbox faults")
    _add_numbers(chaos, _TRICKLE_FLAGS)
    chaos.add_argument(
        "--seed", type=int, default=defaults.seed, help="the monkey's and the faults' seed"
    )
    chaos.add_argument(
        "--broker",
        choices=("redis", "rabbitmq"),
        default=defaults.broker,
        help="where the queue runs (the ledger is always Redis)",
    )
    chaos.add_argument(
        "--json",
        type=report_path,
        metavar="FILE",
        help="also write the report as JSON to FILE (its folders are made)",
    )
    chaos.add_argument("--keep-logs", action="store_true")
    chaos.set_defaults(func=_run)
