"""`invoicebridge serve` and `worker` run from environment variables alone (as a container or
a systemd unit starts them): no flags, the address, port, settings file and log choices read
from `INVOICEBRIDGE_*`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from invoicebridge.stack.driving import http_json
from invoicebridge.stack.local import LocalStack, StackOptions, free_port
from worker.runtime.broker import workers_among

pytestmark = pytest.mark.e2e


def _log_lines(stack: LocalStack, name: str) -> list[str]:
    return (stack.workdir / f"{name}.log").read_text().splitlines()


def test_serve_and_worker_run_from_the_environment_alone(tmp_path: Path) -> None:
    # the settings file says "error": the variables' "info" must win over it
    options = StackOptions(workers=1, threads=1, worker_metrics=True, log_level="error")
    stack = LocalStack(tmp_path, options)
    port, metrics_port = free_port(), free_port()
    common = {**os.environ, "INVOICEBRIDGE_CONFIG": str(stack.config)}
    receiver_env = common | {
        "INVOICEBRIDGE_HOST": "127.0.0.1",
        "INVOICEBRIDGE_PORT": str(port),
        "INVOICEBRIDGE_LOG_LEVEL": "info",
        "INVOICEBRIDGE_LOG_FORMAT": "console",
    }
    worker_env = common | {
        "INVOICEBRIDGE_METRICS_PORT": str(metrics_port),
        "INVOICEBRIDGE_PROCESSES": "1",
        "INVOICEBRIDGE_THREADS": "1",
        "INVOICEBRIDGE_LOG_LEVEL": "info",
        "INVOICEBRIDGE_LOG_FORMAT": "json",
    }
    url = f"http://127.0.0.1:{port}"
    try:
        stack.start_redis()
        stack.write_config()
        stack.spawn("receiver", [sys.executable, "-m", "invoicebridge", "serve"], receiver_env)
        stack.wait_ready(lambda: http_json("GET", url + "/readyz")[0] == 200, "receiver")
        status, _ = http_json("POST", f"{url}/webhooks/shopify/nobody", b"{}")
        stack.spawn("workers", [sys.executable, "-m", "invoicebridge", "worker"], worker_env)
        stack.wait_workers(1)
        metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        stack.wait_ready(lambda: http_json("GET", metrics)[0] == 200, "workers")
        time.sleep(1.5)  # every process has beaten by now (about once a second)
        with stack.redis_client() as client:
            beating = workers_among(client.zrange("invoicebridge:__heartbeats__", 0, -1))
    finally:
        stack.down()
    assert status == 404
    assert beating == 1, "INVOICEBRIDGE_PROCESSES=1, not the default 2"
    refused = [line for line in _log_lines(stack, "receiver") if "request_refused" in line]
    assert refused and not refused[0].startswith("{"), "console lines, level info"
    worker_lines = [json.loads(line) for line in _log_lines(stack, "workers") if line.strip()]
    assert "info" in {line["level"] for line in worker_lines}, "JSON lines, level info"
