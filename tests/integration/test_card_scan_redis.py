"""The card scan itself, proved on planted card numbers: in a scratch Redis (every type of
key), in a LocalStack's Redis as the stack stops it, and through a whole pytest session
(captured output and a log file under basetemp fail it; a clean session passes)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from invoicebridge.stack.local import LocalStack
from tests.card_scan_plugin import card_scan
from tests.card_scan_redis import scan_redis
from tests.conftest import free_port, start_redis

CARD = "4111111111111111"
AMEX = "3782-822463-10005"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[tuple[redis.Redis, int]]:
    """A Redis of the test's own (not the session's: what is planted here is never scanned
    by the session's net), and its port."""
    port = free_port()
    proc = start_redis(tmp_path, port)
    client = redis.Redis(port=port)
    try:
        yield client, port
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def plant_everywhere(client: redis.Redis) -> None:
    """A card number in each kind of place a value can sit, and decoys that are not cards."""
    client.set("s", f"note: {CARD}")
    client.hset("h", mapping={"payload": f'{{"note": "{AMEX}"}}', f"field {CARD}": "x"})
    client.rpush("l", "a", "b", f"pay {CARD}")
    client.sadd("set", f"member {CARD}")
    client.zadd("z", {f"member {CARD}": 1})
    client.xadd("x", {"line": f"name {AMEX}"})
    client.set(f"key {CARD}", "the key itself")
    client.select(3)
    client.set("elsewhere", CARD)
    client.select(0)
    now_ms = int(time.time() * 1000)
    client.set("decoys", f"{now_ms} {now_ms * 1000} {now_ms}-0 {float(now_ms)!r} 5512345678907")
    client.xadd("x", {"at": str(now_ms)})
    client.zadd("scores", {"m": now_ms})


def test_a_card_number_in_any_kind_of_key_is_reported_masked(
    scratch: tuple[redis.Redis, int],
) -> None:
    """Given card numbers planted in every Redis type, every one is reported, masked, with
    its key; the decoys (timestamps, stream ids, scores, a shop id) are not."""
    client, port = scratch
    plant_everywhere(client)
    found = scan_redis("127.0.0.1", port)
    report = "\n".join(found)
    expected = [
        "db0 string 's' value:",
        "db0 hash 'h' field:",
        "db0 hash 'h' value of field 'payload': American Express card ending 0005",
        "db0 list 'l' item 2:",
        "db0 set 'set' member:",
        "db0 zset 'z' member:",
        "db0 stream 'x' entry",
        "db0 string 'key ••••••••••••1111' key name:",
        "db3 string 'elsewhere' value:",
    ]
    for where in expected:
        assert any(line.startswith(where) for line in found), (where, report)
    assert len(found) == len(expected), report
    assert "decoys" not in report and "scores" not in report
    assert CARD not in report and "822463" not in report


def test_a_stacks_redis_is_scanned_before_it_stops(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The session's plugin wraps LocalStack: stopping a stack's Redis reports what it holds."""
    plugin = card_scan(request.config)
    if plugin is None:
        pytest.skip("the card scan is switched off (-p no:card_scan)")
    stack = LocalStack(tmp_path)
    try:
        stack.start_redis()
    except RuntimeError:
        stack.down()
        raise
    client = stack.redis_client()
    with plugin.diverted() as caught:
        try:
            client.hset("ib:event:planted", "payload", f'{{"note": "{CARD}"}}')
        finally:
            client.close()
            stack.stop("redis")
    assert len(caught) == 1 and "'ib:event:planted' value of field 'payload'" in caught[0]
    assert "card ending 1111" in caught[0] and CARD not in caught[0]


INNER_CONFTEST = """
from tests.card_scan_plugin import NAME, CardScan

def pytest_configure(config):
    config.pluginmanager.register(CardScan(), NAME)
"""

INNER_TESTS = """
def test_prints(capsys):
    print("charging 4111 1111 1111 1111")

def test_logs_to_a_file(tmp_path):
    (tmp_path / "worker.log").write_text("ok\\nsent 378282246310005\\n")
"""


def run_session(directory: Path, tests: str) -> subprocess.CompletedProcess[str]:
    (directory / "conftest.py").write_text(INNER_CONFTEST)
    (directory / "test_inner.py").write_text(tests)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--basetemp={directory / 'tmp'}",
        str(directory),
    ]
    return subprocess.run(
        argv, cwd=directory, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_session_with_a_card_number_in_its_output_or_logs_fails() -> None:
    """Tests that pass but print a card number, or leave one in a log file under basetemp:
    the session fails, naming both places, masked; without them it passes."""
    # outside our own basetemp, so that our session's scan does not find these on purpose
    with tempfile.TemporaryDirectory() as scratch:
        result = run_session(Path(scratch), INNER_TESTS)
        clean = run_session(Path(scratch), "def test_quiet():\n    print('order 1765000000000')\n")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "2 passed" in output
    assert (
        "test_inner.py::test_prints [Captured stdout call] line 1: Visa card ending 1111" in output
    )
    assert "worker.log line 2: American Express card ending 0005" in output
    assert "4111 1111 1111 1111" not in output and "378282246310005" not in output
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "card scan: no card number in" in clean.stdout
