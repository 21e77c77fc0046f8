"""The low-traffic phase's plan, verdict and report, without processes: what counts as late,
what the table and the JSON say, which plans are refused."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from invoicebridge.chaos.cli import report_data, summary_rows
from invoicebridge.chaos.suite import ChaosLog, ChaosPlan, ChaosResult
from invoicebridge.chaos.trickle import TrickleKill, TricklePlan, TrickleResult
from invoicebridge.chaos.workers import QUEUE, _event_id
from invoicebridge.cli import main
from invoicebridge.loadgen.plan import LoadPlan
from invoicebridge.loadgen.reconcile import Reconciliation
from invoicebridge.loadgen.report import DeliveryResult, Expected, LoadReport
from worker.runtime import actors


def _load(orders: list[str]) -> LoadReport:
    plan = LoadPlan(
        url="http://127.0.0.1:8080", source="shopify", tenant="acme", secret="s", count=len(orders)
    )
    expected = {o: Expected(f"evt-{o}", Decimal("50.00"), "ILS") for o in orders}
    results = [DeliveryResult(o, False, "200", "accepted", 1, 0.01, 0.01) for o in orders]
    return LoadReport(plan, time.time(), 1.0, expected, results)


def _trickle(*times: float | None) -> TrickleResult:
    """Two kills: the first stranded orders 11 and 12 with `times`, the second nothing."""
    orders = ["11", "12", "13"]
    stranded = dict(zip(orders[: len(times)], times, strict=True))
    first = TrickleKill("workers", 1.5, time.time(), done_after_s=stranded)
    second = TrickleKill("workers-1", 4.5, time.time())
    checked = Reconciliation("icount", acknowledged=3, with_one_document=orders)
    plan = TricklePlan(orders=3, rate=1.0, kills=2, first_order=11)
    return TrickleResult(plan, 18.0, _load(orders), checked, [first, second], errors=[])


def _result(trickle: TrickleResult | None, plan: ChaosPlan | None = None) -> ChaosResult:
    plan = plan or ChaosPlan(events=1, trickle_orders=3, trickle_kills=2)
    checked = Reconciliation("icount", acknowledged=1, with_one_document=["1"])
    return ChaosResult(plan, _load(["1"]), checked, ChaosLog(), 0.5, [], trickle)


def test_stranded_orders_in_time_pass_and_the_figures_are_reported() -> None:
    result = _result(_trickle(4.2, 5.04))
    rows = dict(summary_rows(result))
    assert result.ok
    assert rows["low traffic: orders stranded by the kills"] == "2"
    assert rows["low traffic: worst kill → document (s)"] == "5.0 (bound 18)"
    assert rows["low traffic: kill 1 (workers at 1.5 s)"] == "2 stranded, worst 5.0 s"
    assert rows["low traffic: kill 2 (workers-1 at 4.5 s)"] == "0 stranded, worst -"
    report = json.loads(json.dumps(report_data(result)))["trickle"]
    assert report["worst_kill_to_document_s"] == 5.04 and report["bound_s"] == 18.0
    assert report["kills"][0]["stranded"] == {"11": 4.2, "12": 5.04}


@pytest.mark.parametrize("times", [(4.2, 18.5), (4.2, None)])
def test_a_stranded_order_past_the_bound_or_never_done_fails_the_run(
    times: tuple[float | None, ...],
) -> None:
    result = _result(_trickle(*times))
    assert result.trickle is not None and result.trickle.late == ["12"]
    assert not result.ok
    assert dict(summary_rows(result))["low traffic: stranded, not done in time"] == "12"


def test_a_kill_that_never_happened_fails_the_run() -> None:
    trickle = _trickle(4.2)
    trickle.kills.pop()
    trickle.errors.append("kill 2: no worker group ran a trickle order before the trickle ended")
    assert not _result(trickle).ok


def test_the_phase_is_off_on_rabbitmq_and_says_why() -> None:
    plan = ChaosPlan(events=1, broker="rabbitmq", trickle_orders=30)
    assert not plan.trickle_on
    rows = dict(summary_rows(_result(None, plan)))
    assert rows["low-traffic phase"].startswith("off (Redis broker only")


@pytest.mark.parametrize(
    "flags",
    [
        ["--trickle-orders", "2", "--trickle-kills", "3"],
        ["--trickle-rate", "0"],
        ["--trickle-orders", "-1"],
    ],
)
def test_a_bad_trickle_is_a_usage_error(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chaos", "--events", "1", *flags]) == 2
    assert "trickle" in capsys.readouterr().err


def test_the_queue_read_is_the_actors_queue() -> None:
    assert QUEUE == actors.QUEUE


def test_a_message_names_its_event() -> None:
    assert _event_id('{"args":["evt-1"],"queue_name":"events"}') == "evt-1"
    assert _event_id(None) == _event_id("not json") == _event_id("[1]") == ""
