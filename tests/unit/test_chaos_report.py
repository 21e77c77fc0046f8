"""`invoicebridge chaos --json FILE` writes FILE where it was asked for: relative to where the
command ran, its folders made, whole or not at all, and still there once the logs are gone.
The stack and the run are stood in for (a real chaos run takes minutes)."""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from invoicebridge.chaos import cli as chaos_cli
from invoicebridge.chaos.suite import ChaosLog, ChaosPlan, ChaosResult
from invoicebridge.cli import main
from invoicebridge.loadgen.plan import LoadPlan
from invoicebridge.loadgen.reconcile import Reconciliation
from invoicebridge.loadgen.report import DeliveryResult, Expected, LoadReport


def finished_run(plan: ChaosPlan) -> ChaosResult:
    """A run of one order that became one document, the monkey having killed one worker."""
    url = "http://127.0.0.1:8080"
    load_plan = LoadPlan(url=url, source="shopify", tenant="acme", secret="top-secret", count=1)
    expected = {"1": Expected("evt-1", Decimal("50.00"), "ILS")}
    result = DeliveryResult("1", False, "200", "accepted", 1, 0.01, 0.01)
    load = LoadReport(load_plan, time.time(), 1.0, expected, [result])
    checked = Reconciliation("icount", acknowledged=1, with_one_document=["1"])
    log = ChaosLog()
    log.note("SIGKILL workers, started a new one", "worker kills")
    return ChaosResult(plan, load, checked, log, drain_s=0.5, monkey_errors=[])


class StandIn:
    """Stands in for `start_stack` and `run_chaos`; the run moves to another directory, as
    a library it calls might, to show the report's path was settled before the run."""

    def __init__(self, elsewhere: Path) -> None:
        self.elsewhere, self.workdir, self.downed = elsewhere, Path(), False

    def start_stack(self, workdir: Path, plan: ChaosPlan) -> StandIn:
        self.workdir = workdir
        (workdir / "receiver.log").write_text("logs\n")
        return self

    def run_chaos(self, stack: object, plan: ChaosPlan, **_: Any) -> ChaosResult:
        os.chdir(self.elsewhere)
        return finished_run(plan)

    def down(self) -> None:
        self.downed = True


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    fake = StandIn(tmp_path / "elsewhere")
    monkeypatch.setattr(chaos_cli, "start_stack", fake.start_stack)
    monkeypatch.setattr(chaos_cli, "run_chaos", fake.run_chaos)
    return fake


def test_the_report_lands_where_asked_and_outlives_the_logs(
    stand_in: StandIn, tmp_path: Path
) -> None:
    assert main(["chaos", "--events", "1", "--json", "reports/nightly/chaos.json"]) == 0
    assert stand_in.downed and not stand_in.workdir.exists()  # a clean run: logs removed
    written = tmp_path / "here" / "reports" / "nightly" / "chaos.json"
    report = json.loads(written.read_text())
    assert report["ok"] is True
    assert report["summary"]["orders with exactly one document"] == "1"
    assert report["load"]["acknowledged"] == 1 and report["reconciliation"]["ok"] is True
    assert report["monkey"]["counts"] == {"worker kills": 1}
    assert report["plan"]["events"] == 1
    assert "top-secret" not in written.read_text()
    assert sorted(p.name for p in written.parent.iterdir()) == ["chaos.json"]  # no temp left
    assert not (tmp_path / "elsewhere" / "reports").exists()


def test_a_folder_for_a_report_is_refused_before_anything_starts(
    stand_in: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chaos", "--events", "1", "--json", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert stand_in.workdir == Path()  # no stack was started


def test_writing_replaces_an_older_report_whole(tmp_path: Path) -> None:
    target = tmp_path / "chaos.json"
    target.write_text("an older run's report")
    chaos_cli.write_report(target, finished_run(ChaosPlan(events=1)))
    assert json.loads(target.read_text())["ok"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["chaos.json"]
