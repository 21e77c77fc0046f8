"""`invoicebridge serve` as a process of the test's own, and one request to it over a bare
socket (tests/raw_http.py), bytes as given."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.raw_http import Answer, exchange, request_bytes


class ReceiverProcess:
    """`invoicebridge serve` in a process of its own, logging to `workdir` (the card scan
    reads the log). A process, not a thread: a request that keeps the receiver busy in C
    code holds its GIL, and would stall the test run with it rather than fail one test."""

    def __init__(self, workdir: Path, config: str) -> None:
        self.workdir = workdir
        self.config = workdir / "config.toml"
        self.config.write_text(config)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.port = free_port()
        argv = [
            sys.executable,
            "-m",
            "invoicebridge.cli",
            "serve",
            "--config",
            str(self.config),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-format",
            "json",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICEBRIDGE_")}
        with (self.workdir / "receiver.log").open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 20
        while not self._healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the receiver did not start; see {self.workdir / 'receiver.log'}")
            time.sleep(0.05)

    def _healthy(self) -> bool:
        probe = request_bytes("GET", "/healthz", {})
        try:
            return asyncio.run(exchange(self.port, probe, 1.0)).status == 200
        except (OSError, asyncio.IncompleteReadError):  # TimeoutError is an OSError
            return False

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stalled(self) -> None:
        """It did not answer in time: a new one for the next example."""
        self.stop()
        self.start()


#: seconds the receiver may take to answer one request (it takes milliseconds)
ANSWER_WITHIN_S = 5.0


def post(
    receiver: ReceiverProcess,
    path: str,
    headers: dict[str, str | bytes],
    body: bytes,
    method: str = "POST",
) -> Answer:
    """One request on a connection of its own; an AssertionError if no answer came in time
    (the receiver is then replaced, so the next example meets a fresh one)."""
    raw = request_bytes(method, path, headers, body)
    try:
        return asyncio.run(exchange(receiver.port, raw, ANSWER_WITHIN_S))
    except TimeoutError:
        receiver.stalled()
        raise AssertionError(
            f"no answer within {ANSWER_WITHIN_S} s: the receiver stalled"
        ) from None
