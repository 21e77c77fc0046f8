"""`invoicebridge jobs`: find, inspect and act on the ledger's events from a shell. Exit codes
scripts can trust: 0 done; 1 found nothing or nothing to do (an unknown id, a state that does
not allow the action, no match); 2 bad usage or configuration; 3 Redis unreachable. `prune`,
meant for a schedule, exits 0 when nothing was old enough."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, NoReturn

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from rich import box
from rich.console import Console
from rich.prompt import Confirm
from rich.table import Table
from rich.text import Text

from invoicebridge.progress import progress_bar
from invoicebridge.replay import replay_event
from worker.domain.moments import parse_moment
from worker.ledger.ledger import Ledger
from worker.ops import actions as ops
from worker.ops import prune
from worker.redis_clients import async_client, close_async
from worker.settings import Settings, load_settings

OK, NOTHING, USAGE, UNREACHABLE = 0, 1, 2, 3
_EVENT_COLUMNS = "event,received,tenant,source,order,state,failures,last error".split(",")
_STEP_COLUMNS = "step,state,attempts,document,doc id,emailed,started,finished,last error".split(",")


def _moment(text: str) -> float:
    """`2h`, `30m`, `7d` ago, or an ISO 8601 time (UTC unless it names its offset)."""
    try:
        return parse_moment(text, datetime.now(UTC).timestamp())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _states(text: str) -> list[str]:
    states = [state.strip() for state in text.split(",") if state.strip()]
    if unknown := [state for state in states if state not in ops.STATES]:
        raise argparse.ArgumentTypeError(f"unknown state {', '.join(unknown)}")
    return states


def _when(value: str | float | None) -> str:
    return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else ""


def _cut(text: str | None, width: int = 60) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> Table:
    table = Table(*columns, title=title or None, box=box.SIMPLE_HEAD, title_justify="left")
    table.columns[0].no_wrap = True  # ids are copied from here: never fold them
    table.columns[0].min_width = max((len(str(row[0])) for row in rows), default=None)
    for row in rows:
        table.add_row(*(Text(str(cell) if cell is not None else "") for cell in row))
    return table


def _say(message: str) -> None:
    print(f"invoicebridge jobs: {message}", file=sys.stderr)


def _no_resources() -> NoReturn:
    raise RuntimeError("the CLI only sends messages; it never runs the actor")


@dataclass
class _Run:
    """One command: its arguments, the settings, the open ledger, and where progress bars go
    (None: stderr; a bar is drawn only on a terminal)."""

    args: argparse.Namespace
    settings: Settings
    ledger: Ledger
    progress: Console | None = None

    @property
    def who(self) -> str:
        try:
            user = getpass.getuser()  # $LOGNAME / $USER, else the password database
        except (OSError, KeyError):
            user = "unknown"
        return str(self.args.who or f"{user}@{socket.gethostname()}")

    @property
    def console(self) -> Console:  # a pipe gets wide lines (for grep), not 80 columns
        return Console(width=None if sys.stdout.isatty() else 200, highlight=False)

    def done(self, data: Any, text: str | Table) -> None:
        if self.args.json:
            print(json.dumps(data, ensure_ascii=False))
        elif text:
            self.console.print(text)

    async def send(self, act: Callable[..., Awaitable[Any]]) -> Any:
        """`act(enqueue=..., actor_name=...)` with a real broker; the messages go in one thread."""
        from worker.runtime.actors import ACTOR, declare_actors
        from worker.runtime.broker import bulk_enqueue, setup_broker

        broker = setup_broker(self.settings)
        declare_actors(broker, self.settings, _no_resources)

        try:
            return await act(enqueue=bulk_enqueue(broker), actor_name=ACTOR)
        finally:
            broker.close()


async def _list(run: _Run) -> int:
    a = run.args
    events = await ops.find_events(
        run.ledger,
        tenant=a.tenant,
        source=a.source,
        order_id=a.order,
        states=a.state,
        since=a.since,
        until=a.until,
        text=a.search,
        limit=a.limit,
    )
    rows = [
        (
            e.event_id,
            _when(e.received_at),
            e.tenant,
            e.source,
            e.order_number or e.order_id,
            e.state,
            e.failures,
            _cut(e.last_error),
        )
        for e in events
    ]
    run.done([asdict(event) for event in events], _table(_EVENT_COLUMNS, rows) if events else "")
    if not events:
        _say("no events match")
    return OK if events else NOTHING


async def _show(run: _Run) -> int:
    try:
        detail = await ops.event_detail(run.ledger, run.args.event_id)
    except ops.UnknownEvent as exc:
        _say(str(exc))
        return NOTHING
    if run.args.json:
        run.done(detail, "")
        return OK
    console, event, grid = run.console, detail["event"], Table.grid(padding=(0, 2))
    paused = {"tenant paused": "yes: its events are held back"} if detail["tenant_paused"] else {}
    for key, value in sorted((event | paused).items()):
        grid.add_row(key, Text(_when(value) if key.endswith("_at") else value))
    console.print(grid)
    steps = [
        (
            s["step"],
            s["state"],
            s["attempts"],
            f"{s['doctype'] or ''} {s['docnum'] or ''}",
            s["doc_id"],
            {"1": "yes", "0": "no"}.get(s["emailed"] or "", ""),
            _when(s["started_at"]),
            _when(s["finished_at"]),
            _cut(s["last_error"], 80),
        )
        for s in detail["steps"]
    ]
    console.print(_table(_STEP_COLUMNS, steps, "steps") if steps else "no steps recorded")
    tries = [
        (s["step"], _when(a["at"]), a["state"], _cut(a.get("error") or a.get("document"), 100))
        for s in detail["steps"]
        for a in s["attempts_log"]
    ]
    if tries:
        console.print(_table(("step", "at", "outcome", "error or document"), tries, "each attempt"))
    actions = [(_when(a["at"]), a["who"], a["action"], a["note"]) for a in detail["actions"]]
    if actions:
        console.print(_table(("at", "who", "action", "note"), actions, "operator actions"))
    return OK


async def _chosen(run: _Run) -> list[str] | int:
    """The event ids to retry, or the exit code when a bulk retry has none (or no consent)."""
    a = run.args
    if not a.failed:
        states = await ops.states_of(run.ledger, a.event_ids)
        for event_id, state in states.items():
            if state not in ops.RETRYABLE:
                hint = "; `jobs replay` runs a done event again" if state == "done" else ""
                _say(f"{event_id}: {state or 'no such event'}; not retried{hint}")
        return [event_id for event_id, state in states.items() if state in ops.RETRYABLE]
    found = await ops.ids_in_states(
        run.ledger, ["failed"], tenant=a.tenant, since=a.since, until=a.until
    )
    if not found:
        _say("no failed events match; nothing to retry")
        return NOTHING
    refused = _consent(
        a.yes,
        f"{len(found)} failed events match",
        "retry them all",
        f"Retry {len(found)} failed events?",
    )
    return found if refused is None else refused


def _consent(yes: bool, found: str, to_do: str, question: str) -> int | None:
    """None when a bulk action may go ahead (--yes, or a person at a terminal says so);
    else its exit code: a script without --yes is told how to ask for it."""
    if yes:
        return None
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        _say(f"{found}; add --yes to {to_do}")
        return USAGE
    return None if Confirm.ask(question, default=False) else NOTHING


async def _retry(run: _Run) -> int:
    a = run.args
    if bool(a.event_ids) == a.failed or (a.event_ids and (a.tenant or a.since or a.until)):
        _say("retry takes EVENT_IDs, or --failed with --tenant / --since / --until")
        return USAGE
    ids = await _chosen(run)
    if isinstance(ids, int):
        return ids
    with progress_bar("retrying events", len(ids), console=run.progress) as bar:
        retry = partial(ops.retry, run.ledger, ids, who=run.who, on_progress=bar.update)
        count: int = await run.send(retry)
    skipped = len(a.event_ids or ids) - count
    run.done({"retried": count, "skipped": skipped}, f"retried {count}, skipped {skipped}")
    return OK if count else NOTHING


async def _settle(run: _Run) -> int:
    a, who = run.args, run.who
    try:
        if a.action == "replay":
            await run.send(partial(replay_event, run.ledger, a.event_id, who=who))
        else:
            act = ops.discard if a.action == "discard" else ops.resolve
            await act(run.ledger, a.event_id, who=who, note=a.note)
    except ops.OpsError as exc:
        _say(str(exc))
        return NOTHING
    done = {"discard": "discarded", "resolve": "resolved", "replay": "queued for replay"}[a.action]
    run.done(
        {"event_id": a.event_id, "action": a.action, "who": who}, f"{a.event_id} {done} by {who}"
    )
    return OK


def _by_state(found: prune.Pruned) -> str:
    return ", ".join(f"{n} {state}" for state, n in sorted(found.by_state.items()))


async def _walk(run: _Run, *, dry_run: bool) -> prune.Pruned:
    """One walk over the events received before --before: counting them, or pruning."""
    what = "counting old events" if dry_run else "pruning old events"
    with progress_bar(what, console=run.progress) as bar:
        return await prune.prune(
            run.ledger, run.args.before, who=run.who, dry_run=dry_run, on_progress=bar.update
        )


async def _prune(run: _Run) -> int:
    a = run.args
    try:
        # with --yes nobody is asked, so there is nothing to count first: one walk, not two
        asking = a.dry_run or not a.yes
        found = await _walk(run, dry_run=asking)
    except prune.TooRecent as exc:
        _say(str(exc))
        return USAGE
    if not found.total:  # a scheduled retention run with nothing to do has not failed
        run.done({"pruned": {}}, "no finished events that old; nothing to prune")
        return OK
    if a.dry_run:
        run.done({"would_prune": found.by_state}, f"would prune {found.total}: {_by_state(found)}")
        return OK
    if asking:
        what = f"{found.total} finished events ({_by_state(found)}) are that old"
        refused = _consent(a.yes, what, "prune them", f"Prune {found.total} finished events?")
        if refused is not None:
            return refused
        found = await _walk(run, dry_run=False)
    run.done({"pruned": found.by_state}, f"pruned {found.total}: {_by_state(found)}")
    return OK


async def _pause(run: _Run) -> int:
    tenant, pausing = run.args.tenant, run.args.action == "pause"
    if pausing and tenant not in run.settings.tenants:
        _say(f"no tenant {tenant!r} in the configuration")
        return NOTHING
    changed = await (ops.pause if pausing else ops.resume)(run.ledger, tenant, run.who)
    now = ("" if changed else "was already ") + ("paused" if pausing else "running")
    run.done({"tenant": tenant, "paused": pausing, "changed": changed}, f"{tenant} {now}")
    return OK


def _execute(
    handler: Callable[[_Run], Awaitable[int]],
    args: argparse.Namespace,
    *,
    progress: Console | None = None,
) -> int:
    """Run `handler` on the ledger, its progress bars on `progress` (default: stderr, drawn
    only if a terminal); a SettingsError reaches `cli.main` (exit 2)."""
    settings = load_settings(args.config)
    try:  # fail fast when Redis is down: one retry, not redis-py's ten with backoff
        client = async_client(
            settings.redis, retry=Retry(NoBackoff(), 1), socket_timeout=30, socket_connect_timeout=5
        )
    except ValueError as exc:  # redis-py's verdict on a malformed URL
        _say(f"redis.url: {exc}")
        return USAGE

    async def main() -> int:
        try:
            return await handler(_Run(args, settings, Ledger(client), progress))
        finally:
            await close_async(client)

    try:
        return asyncio.run(main())
    except (aioredis.ConnectionError, aioredis.TimeoutError) as exc:
        _say(f"Redis unreachable ({settings.redis.where()}): {exc}")
        return UNREACHABLE


def add_jobs_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `jobs` and its subcommands on the top-level parser's subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML settings (default: $INVOICEBRIDGE_CONFIG)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    acting = argparse.ArgumentParser(add_help=False, parents=[common])
    acting.add_argument("--as", dest="who", metavar="NAME", help="who acts (default user@host)")
    jobs = subparsers.add_parser(
        "jobs", help="list, show, retry ledger events", description=__doc__
    )
    sub = jobs.add_subparsers(dest="jobs_command", required=True)
    found = sub.add_parser("list", parents=[common], help="events, newest first")
    for flag in ("--tenant", "--source", "--order", "--search"):
        found.add_argument(flag)
    found.add_argument("--state", type=_states, help="e.g. failed,needs_attention")
    found.add_argument("--limit", type=int, default=100)
    show = sub.add_parser("show", parents=[common], help="one event, its steps and actions")
    show.add_argument("event_id")
    again = sub.add_parser("retry", parents=[acting], help="queue failed events again")
    again.add_argument("event_ids", nargs="*", metavar="EVENT_ID")
    again.add_argument("--failed", action="store_true", help="every failed event that matches")
    again.add_argument("--tenant")
    again.add_argument("--yes", action="store_true", help="do not ask (bulk retry)")
    for parser in (found, again):
        parser.add_argument("--since", type=_moment, help="2h, 30m, 7d or an ISO time")
        parser.add_argument("--until", type=_moment)
    for parser, handler in ((found, _list), (show, _show), (again, _retry)):
        parser.set_defaults(func=partial(_execute, handler))
    for action in ("discard", "resolve", "replay"):
        settle = sub.add_parser(action, parents=[acting], help=f"{action} one event")
        settle.add_argument("event_id")
        if action != "replay":
            settle.add_argument("--note", required=True, help="why (kept in the action log)")
        settle.set_defaults(func=partial(_execute, _settle), action=action)
    old = sub.add_parser(
        "prune", parents=[acting], help="remove finished events received before a time (retention)"
    )
    old.add_argument("--before", type=_moment, required=True, help="90d, 12w or an ISO time")
    old.add_argument("--dry-run", action="store_true", help="only count them")
    old.add_argument("--yes", action="store_true", help="do not ask")
    old.set_defaults(func=partial(_execute, _prune))
    for action in ("pause", "resume"):
        tenant = sub.add_parser(action, parents=[acting], help=f"{action} a tenant's events")
        tenant.add_argument("tenant")
        tenant.set_defaults(func=partial(_execute, _pause), action=action)
