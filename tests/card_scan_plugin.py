"""The card scan as a pytest plugin: every Redis value and log line the suite produces is
searched for card numbers (tests/card_scan.py says what counts as one), and any finding fails
the session, listed at its end by where it was, with a masked excerpt.

What is scanned, and when:

- the session's Redis (`redis_server`, tests/conftest.py): after every test that used it,
  before the next test flushes it, and before it is stopped;
- each Redis node of every `LocalStack` (e2e, chaos, cluster, sentinel tests), just before
  `stop` or `kill` ends it: the class is wrapped for the session;
- every test's captured stdout, stderr and log (pytest's report sections);
- the ``*.log`` files of a `LocalStack`'s workdir when its `down()` returns (a clean chaos run
  deletes its logs afterwards), and every ``*.log`` under pytest's basetemp at session end.

Not scanned: Redis servers a test starts by itself (tests/integration/test_deploy_host.py, which
writes fixed values), output a test lets through uncaptured (``-s``), and what a fixture
wider than a test writes to the session's Redis after that test's scan and before the next
test's flush. A Redis that cannot be read is listed as not scanned, not as a finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.card_scan import find_card_numbers
from tests.card_scan_redis import scan_redis

NAME = "card_scan"


def card_scan(config: pytest.Config) -> CardScan | None:
    """The session's card scan (registered by tests/conftest.py); None when it is switched
    off (``pytest -p no:card_scan``, for a run that must show its output as it comes)."""
    plugin = config.pluginmanager.get_plugin(NAME)
    return plugin if isinstance(plugin, CardScan) else None


class CardScan:
    """Collects findings over the session; its hooks scan, and fail the session at the end."""

    def __init__(self) -> None:
        self.findings: list[str] = []
        self.notes: list[str] = []  #: what could not be scanned
        self.counts = {"Redis servers": 0, "log files": 0, "captured sections": 0}
        self._diverted: list[list[str]] = []
        self._logs_seen: dict[Path, int] = {}  #: log file -> its size when scanned
        self._undo: list[Callable[[], None]] = []

    # -- scanning -------------------------------------------------------------------------

    def found(self, where: str) -> None:
        (self._diverted[-1] if self._diverted else self.findings).append(where)

    @contextmanager
    def diverted(self) -> Iterator[list[str]]:
        """Findings made inside go to the list yielded, not to the session's (for the scan's
        own tests, which plant card numbers on purpose)."""
        caught: list[str] = []
        self._diverted.append(caught)
        try:
            yield caught
        finally:
            self._diverted.pop()

    def scan_text(self, data: str | bytes, where: str) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        for finding in find_card_numbers(text):
            line = text.count("\n", 0, finding.start) + 1
            card = f"{finding.scheme} card ending {finding.last4}"
            self.found(f"{where} line {line}: {card} in {finding.excerpt}")

    def scan_redis(self, host: str, port: int, where: str) -> None:
        try:
            found = scan_redis(host, port)
        except (redis.RedisError, OSError, ValueError) as exc:
            self.notes.append(f"Redis {host}:{port} ({where}): {type(exc).__name__}: {exc}")
            return
        self.counts["Redis servers"] += 1
        for finding in found:
            self.found(f"Redis {host}:{port} ({where}): {finding}")

    def scan_logs(self, directory: Path) -> None:
        """Every ``*.log`` file under `directory` not scanned before at its present size."""
        for path in sorted(directory.rglob("*.log")):
            try:
                size = path.stat().st_size
                if not path.is_file() or self._logs_seen.get(path) == size:
                    continue
                data = path.read_bytes()
            except OSError:  # removed while we looked
                continue
            self._logs_seen[path] = size
            self.counts["log files"] += 1
            self.scan_text(data, str(path))

    # -- LocalStack ----------------------------------------------------------------------

    def wrap_local_stack(self) -> None:
        """Scan a stack's Redis node before `stop` or `kill` ends it, its logs after `down`."""
        from invoicebridge.stack.local import LocalStack

        stop, kill, down = LocalStack.stop, LocalStack.kill, LocalStack.down

        def scanned_stop(stack: LocalStack, name: str, *args: Any, **kwargs: Any) -> None:
            self.before_process_ends(stack, name)
            stop(stack, name, *args, **kwargs)

        def scanned_kill(stack: LocalStack, name: str) -> None:
            self.before_process_ends(stack, name)
            kill(stack, name)

        def scanned_down(stack: LocalStack) -> None:
            try:
                down(stack)
            finally:
                self.scan_logs(stack.workdir)

        for name, method in (
            ("stop", scanned_stop),
            ("kill", scanned_kill),
            ("down", scanned_down),
        ):
            setattr(LocalStack, name, method)

        def undo() -> None:
            for name, method in (("stop", stop), ("kill", kill), ("down", down)):
                setattr(LocalStack, name, method)

        self._undo.append(undo)

    def before_process_ends(self, stack: Any, name: str) -> None:
        ports = [port for port, node in stack.redis_nodes.items() if node == name]
        proc = stack.procs.get(name)
        if ports and proc is not None and proc.poll() is None:
            where = f"{name} of the stack in {stack.workdir}, before it stopped"
            self.scan_redis(stack.db_host, ports[0], where)

    # -- hooks ---------------------------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        self.wrap_local_stack()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        while self._undo:
            self._undo.pop()()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A test's captured output, each phase once (a report repeats earlier phases')."""
        for title, content in report.sections:
            if title.endswith(f" {report.when}"):
                self.counts["captured sections"] += 1
                self.scan_text(content, f"{report.nodeid} [{title}]")

    @pytest.hookimpl(tryfirst=True)  # before pytest may remove the basetemp
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # pytest's own TempPathFactory; its basetemp stays None when no test asked for one
        basetemp = getattr(getattr(session.config, "_tmp_path_factory", None), "_basetemp", None)
        if basetemp is not None:
            self.scan_logs(basetemp)
        if self.findings:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        scanned = ", ".join(f"{count} {what}" for what, count in self.counts.items())
        if self.notes:
            terminalreporter.section("card scan: not scanned", sep="-", yellow=True)
            for note in self.notes:
                terminalreporter.write_line(note)
        if not self.findings:
            terminalreporter.write_line(f"card scan: no card number in {scanned}")
            return
        terminalreporter.section("card numbers in Redis or logs", sep="=", red=True, bold=True)
        for where in dict.fromkeys(self.findings):
            terminalreporter.write_line(where)
        terminalreporter.write_line(
            f"card scan: {len(self.findings)} card number(s) found in {scanned}; the session "
            "fails (DESIGN.md: no card data at rest, in logs or sent on)",
            red=True,
        )
