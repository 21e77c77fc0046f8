"""Long commands show their progress on a terminal and stay quiet on a pipe: `loadgen`
(webhooks sent), `chaos` (webhooks sent, events settled), bulk `jobs retry` (events retried)
and `jobs prune` (events scanned). Each runs for real against a real Redis and a small local
HTTP server; the bars go to the console passed in, never into what the command prints."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from rich.console import Console

from invoicebridge.chaos.suite import run_chaos
from invoicebridge.cli import build_parser
from invoicebridge.stack.local import ShopTarget
from tests.chaos_plans import calm_plan
from tests.e2e.test_jobs_cli import write_config
from tests.integration.test_ops import queued, seed
from worker.ledger.ledger import Ledger

BAR = "━"
OLD = time.time() - 100 * 86_400


class _Answers(BaseHTTPRequestHandler):
    """A receiver that accepts every delivery, and a sandbox that issued nothing."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the load generator expects

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._json(b'{"status": "accepted"}')

    def do_GET(self) -> None:
        self._json(b"[]")

    def _json(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


Run = Callable[[Console], tuple[int, str]]


def assert_progress(progress: str, terminal: bool, *shows: str) -> None:
    """On a terminal: a bar with each of `shows`; elsewhere no bar and no escape code."""
    if terminal:
        assert BAR in progress and all(text in progress for text in shows), progress
    else:
        assert BAR not in progress and "\x1b" not in progress


def shown(run: Run, *, terminal: bool) -> tuple[int, str, str]:
    """(exit code, the command's stdout, what reached the progress console)."""
    out = io.StringIO()
    console = Console(force_terminal=True, file=out, width=100) if terminal else Console(file=out)
    code, stdout = run(console)
    return code, stdout, out.getvalue()


def command(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """`invoicebridge *argv` in this process, its progress console given; (exit, stdout)."""

    def run(console: Console) -> tuple[int, str]:
        capsys.readouterr()
        args = build_parser().parse_args(argv)
        code = int(args.func(args, progress=console))
        return code, capsys.readouterr().out

    return run


def seed_ledger(redis_url: str, states: list[str], *, at: float | None = None) -> list[str]:
    async def go() -> list[str]:
        ledger = Ledger.from_url(redis_url)
        try:
            return [await seed(ledger, 100 + n, s, at=at) for n, s in enumerate(states)]
        finally:
            await ledger.close()

    return asyncio.run(go())


@pytest.mark.parametrize("terminal", [True, False])
def test_loadgen_shows_webhooks_sent(
    http_url: str, capsys: pytest.CaptureFixture[str], terminal: bool
) -> None:
    """Three orders sent: a bar at 3/3 on a terminal, nothing on a pipe; stdout is JSON."""
    argv = ["loadgen", "--url", http_url, "--secret", "s", "--source", "shopify", "--count", "3"]
    argv.append("--json")
    code, stdout, progress = shown(command(capsys, *argv), terminal=terminal)
    assert code == 0
    assert json.loads(stdout)["report"]["acknowledged"] == 3
    assert_progress(progress, terminal, "webhooks sent", "3/3")


@pytest.mark.parametrize("terminal", [True, False])
def test_bulk_retry_shows_events_retried(
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    terminal: bool,
) -> None:
    failed = seed_ledger(redis_url, ["failed"] * 3)
    config = str(write_config(tmp_path / "config.toml", redis_url))
    run = command(capsys, "jobs", "retry", "--failed", "--yes", "--json", "--config", config)
    code, stdout, progress = shown(run, terminal=terminal)
    assert code == 0 and json.loads(stdout) == {"retried": 3, "skipped": 0}
    assert sorted(queued(redis_url)) == sorted(failed)
    assert_progress(progress, terminal, "3/3")


@pytest.mark.parametrize("terminal", [True, False])
def test_prune_shows_events_scanned(
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    terminal: bool,
) -> None:
    """Four old events, three finished: all four are looked at, three pruned."""
    seed_ledger(redis_url, ["done", "done", "ignored", "failed"], at=OLD)
    config = str(write_config(tmp_path / "config.toml", redis_url))
    argv = ["jobs", "prune", "--before", "30d", "--yes", "--json", "--config", config]
    code, stdout, progress = shown(command(capsys, *argv), terminal=terminal)
    assert code == 0 and json.loads(stdout) == {"pruned": {"done": 2, "ignored": 1}}
    assert_progress(progress, terminal, "pruning", "4/4")


@dataclass
class _NoProcesses:
    """What `run_chaos` uses of a `LocalStack`, with nothing to kill: a plan without faults,
    kills or restarts only sends, waits for the ledger and reconciles."""

    receiver_url: str
    redis_url: str
    tenant: str = "acme"
    secret: str = "s"
    urls: dict[str, str] = field(default_factory=dict)
    procs: dict[str, object] = field(default_factory=dict)

    def shopify_target(self, url: str | None = None) -> ShopTarget:
        return ShopTarget(
            url=url or self.receiver_url, source="shopify", tenant=self.tenant, secret=self.secret
        )


@pytest.mark.parametrize("terminal", [True, False])
def test_chaos_shows_webhooks_sent_and_events_settled(
    http_url: str, redis_url: str, terminal: bool
) -> None:
    """Three orders sent, then the ledger's two events settled (a short drain, about 2 s)."""
    seed_ledger(redis_url, ["done", "done"])
    stack = _NoProcesses(http_url, redis_url, urls={"icount": http_url})
    plan = calm_plan(
        events=3,
        rate=1_000,
        worker_groups=1,
        drain_timeout_s=30,
    )

    def run(console: Console) -> tuple[int, str]:
        result = run_chaos(cast(Any, stack), plan, console=console)
        return len(result.load.acknowledged), ""

    acknowledged, _, progress = shown(run, terminal=terminal)
    assert acknowledged == 3
    assert_progress(progress, terminal, "webhooks sent", "3/3", "events settled", "2/2")
