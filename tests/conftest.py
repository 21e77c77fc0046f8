"""Shared fixtures: a private redis-server process per test session, flushed per test; and the
time-limit rule: every test has one (pytest-timeout), 120 s unless marked chaos or cluster.
The card scan (tests/card_scan_plugin.py) fails the session if any Redis value or log line
it produces holds a card number."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from invoicebridge.stack.driving import free_port as free_port
from tests.card_scan_plugin import NAME as CARD_SCAN
from tests.card_scan_plugin import CardScan, card_scan
from worker.ledger.ledger import Ledger

#: the limit pyproject.toml sets for every test, and the most any unmarked test may ask for
PLAIN_LIMIT_S = 120.0
#: what tests marked `chaos` or `cluster` get (whole stacks under load, killed and cut off)
LONG_LIMIT_S = 600.0
LONG_MARKERS = ("chaos", "cluster")


def time_limit(item: pytest.Item) -> float:
    """The limit pytest-timeout applies to `item`, in its order: the `timeout` mark, then
    `--timeout`, then `PYTEST_TIMEOUT`, then the ini value."""
    marker = item.get_closest_marker("timeout")
    if marker is not None:
        value = marker.args[0] if marker.args else marker.kwargs.get("timeout")
        return float(value) if value is not None else 0.0
    given = item.config.getoption("timeout", None) or os.environ.get("PYTEST_TIMEOUT")
    return float(given or item.config.getini("timeout") or 0.0)


def pytest_configure(config: pytest.Config) -> None:
    """The card scan (tests/card_scan_plugin.py): no card number in any Redis value or log
    line the session produces, or the session fails."""
    config.pluginmanager.register(CardScan(), CARD_SCAN)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give chaos and cluster tests their longer limit, and refuse a test without a limit
    (0 turns pytest-timeout off) or one that asks for more than its kind may have."""
    for item in items:
        long = any(item.get_closest_marker(name) for name in LONG_MARKERS)
        if long and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(LONG_LIMIT_S))
        limit = time_limit(item)
        most = LONG_LIMIT_S if long else PLAIN_LIMIT_S
        if not 0 < limit <= most:
            raise pytest.UsageError(f"{item.nodeid}: time limit {limit} s, allowed (0, {most}]")


#: after a test's limit, what its teardown may still take before the whole run is stopped
BACKSTOP_S = float(os.environ.get("IB_TEST_BACKSTOP_S", "60"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """The backstop behind pytest-timeout. Its alarm fires once and fails the test, and the
    run goes on; but teardown after it (async fixtures, the event loop's closing) has no limit
    of its own. A test still not over `BACKSTOP_S` past its limit stops the run, every
    thread's stack shown, instead of hanging it."""
    if item.config.getoption("usepdb", False):  # a person at the debugger: no limits
        yield
        return
    watchdog = threading.Timer(time_limit(item) + BACKSTOP_S, _stop_the_run, args=(item,))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


def _kill_our_processes() -> None:
    """SIGKILL every process this run started, and their groups (the stacks start theirs in
    groups of their own): `os._exit` runs no fixture teardown to stop them."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # the parent's pid
            child = int(stat.parent.name)
            with contextlib.suppress(OSError):
                os.killpg(child, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)


def _stop_the_run(item: pytest.Item) -> None:
    capture = item.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)  # what follows reaches the terminal
    sys.stderr.write(
        f"\n{item.nodeid}: still running {BACKSTOP_S:g} s past its time limit of "
        f"{time_limit(item):g} s (teardown hung); stopping the run. Every thread's stack:\n"
    )
    sys.stderr.flush()
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    _kill_our_processes()
    os._exit(3)


def start_redis(directory: Path, port: int, *, appendonly: bool = False) -> subprocess.Popen[bytes]:
    """Start a private redis-server on loopback and wait until it answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (make install puts it there)")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "yes" if appendonly else "no",
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
        finally:
            client.close()


@pytest.fixture(scope="session")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[str]:
    """URL of a redis-server process that lives for the whole test session."""
    port = free_port()
    proc = start_redis(tmp_path_factory.mktemp("redis"), port)
    yield f"redis://127.0.0.1:{port}/0"
    if (scan := card_scan(pytestconfig)) is not None:
        scan.scan_redis("127.0.0.1", port, "the session's Redis, at its end")
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def _card_scan_of_the_session_redis(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the session's Redis, scan it for card numbers (before the next
    test's flush empties it)."""
    scan = card_scan(request.config)
    if scan is None or "redis_server" not in request.fixturenames:
        yield
        return
    url = redis.connection.parse_url(request.getfixturevalue("redis_server"))
    yield
    scan.scan_redis(url["host"], url["port"], f"after {request.node.nodeid}")


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The session's Redis, emptied before each test."""
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    yield redis_server


@pytest.fixture
async def ledger(redis_url: str) -> AsyncIterator[Ledger]:
    store = Ledger.from_url(redis_url)
    yield store
    await store.close()
