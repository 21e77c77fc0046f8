"""Worker metric labels stay low-cardinality and match the job ledger; the worker CLI sets up
dramatiq's exposition server and prometheus multiprocess mode before anything imports it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from invoicebridge.cli import empty_metrics_dir, worker_metrics_env
from worker.errors import (
    MissingTransactionId,
    NeedsAttention,
    Permanent,
    RateLimited,
    Retryable,
    TotalMismatch,
    Waiting,
)
from worker.metrics import count_step, error_kind, operation_of, step_outcome
from worker.settings import MetricsSettings


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("doc/create", "doc/create"),
        ("IssuedInvoices/42", "IssuedInvoices/{id}"),
        ("IssuedInvoices/42/FullyPay", "IssuedInvoices/{id}/FullyPay"),
        ("CreditNotes/7/GetPdf", "CreditNotes/{id}/GetPdf"),
        ("Mails/CreditNote/Send", "Mails/CreditNote/Send"),
        ("v2/IssuedInvoices", "v2/IssuedInvoices"),
    ],
)
def test_operation_has_no_ids(path: str, operation: str) -> None:
    assert operation_of(path) == operation


@pytest.mark.parametrize(
    ("error", "kind", "outcome"),
    [
        (Retryable("x"), "Retryable", "retrying"),
        (RateLimited("x"), "RateLimited", "retrying"),
        (Waiting("x"), "Waiting", "retrying"),
        (Permanent("x"), "Permanent", "failed"),
        (NeedsAttention("x"), "NeedsAttention", "needs_attention"),
        (TotalMismatch("x"), "TotalMismatch", "needs_attention"),
        (MissingTransactionId("x"), "MissingTransactionId", "retrying"),  # waited for first
        (KeyError("x"), "Unexpected", "retrying"),  # jobs.py retries a crashed step
    ],
)
def test_error_kind_and_step_outcome(error: Exception, kind: str, outcome: str) -> None:
    assert (error_kind(error), step_outcome(error)) == (kind, outcome)


def test_count_step_counts_the_outcome_and_reraises() -> None:
    labels = {"provider": "unit", "action": "issue"}
    before = {
        o: REGISTRY.get_sample_value("invoicebridge_steps_total", {**labels, "outcome": o}) or 0
        for o in ("done", "needs_attention")
    }
    with count_step("unit", "issue"):
        pass
    with pytest.raises(TotalMismatch), count_step("unit", "issue"):
        raise TotalMismatch("off by one agora")
    for outcome, value in before.items():
        after = REGISTRY.get_sample_value(
            "invoicebridge_steps_total", {**labels, "outcome": outcome}
        )
        assert after == value + 1


def test_worker_metrics_env_names_one_directory_for_both(tmp_path: Path) -> None:
    env = worker_metrics_env(MetricsSettings(worker_host="10.0.0.5", worker_port=9300), tmp_path)
    assert env == {
        "dramatiq_prom_host": "10.0.0.5",
        "dramatiq_prom_port": "9300",
        "dramatiq_prom_db": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }


def test_the_cli_does_not_import_prometheus_before_the_fork() -> None:
    """prometheus_client picks multiprocess mode when it is imported; an import in the CLI
    parent would leave the forked workers writing to memory nobody scrapes."""
    probe = "import sys, invoicebridge.cli; print('prometheus_client' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_exposition_server_port_taken_is_one_json_line(tmp_path: Path) -> None:
    """The forked exposition server logs like every process: a taken port is one JSON error
    line and exit status 1, not a bare traceback in the worker log."""
    config = tmp_path / "config.toml"
    config.write_text(
        '[redis]\nurl = "redis://127.0.0.1:1/0"\n[logging]\nlevel = "info"\n[tenants]\n'
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        env = {
            **os.environ,
            "INVOICEBRIDGE_CONFIG": str(config),
            "dramatiq_prom_host": "127.0.0.1",
            "dramatiq_prom_port": port,
            "dramatiq_prom_db": str(tmp_path / "prom"),
        }
        probe = (
            "from worker.runtime.metrics_server import serve_worker_metrics as s; "
            "raise SystemExit(s())"
        )
        result = subprocess.run(
            [sys.executable, "-c", probe],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert json.loads(line)["event"] == "worker_metrics_unavailable"


def test_metrics_dir_starts_empty(tmp_path: Path) -> None:
    """Files of an earlier run would add their counts: a given directory loses its metric
    files (and nothing else); without one, a new empty directory is made."""
    given = tmp_path / "prom"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"old counts")
    (given / "README").write_text("not ours")
    assert empty_metrics_dir(given) == given
    assert sorted(p.name for p in given.iterdir()) == ["README"]
    fresh = empty_metrics_dir(None)
    try:
        assert fresh.is_dir() and list(fresh.iterdir()) == []
    finally:
        fresh.rmdir()
