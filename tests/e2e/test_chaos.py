"""The chaos suite at a small size, as `make test` runs it (`make chaos` is the full size):
real processes under load while workers are SIGKILLed, Redis and the receiver restarted and
the sandbox faulted; every acknowledged order ends with exactly one document and email. At
low traffic, every order a kill strands has its document within the heartbeat timeout + 15 s."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from invoicebridge.chaos.cli import report_data, summary_rows
from invoicebridge.chaos.suite import ChaosPlan, ChaosResult, fault_plans, run_chaos, start_stack
from tests.chaos_plans import calm_plan

pytestmark = pytest.mark.e2e


def chaos(tmp_path: Path, plan: ChaosPlan, config_has: str = "") -> ChaosResult:
    """Start a stack for `plan`, run it, stop it; the stack's config must hold `config_has`."""
    stack = start_stack(tmp_path, plan)
    try:
        assert config_has in stack.config.read_text()
        return run_chaos(stack, plan)
    finally:
        stack.down()


@pytest.mark.chaos
def test_small_chaos_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    plan = ChaosPlan(
        events=400,
        rate=100,
        worker_groups=2,
        worker_kills=4,
        kill_every_s=1.0,
        redis_restarts=1,
        receiver_restarts=1,
        drain_timeout_s=120,
    )
    result = chaos(tmp_path, plan)
    rows = dict(summary_rows(result))
    assert result.monkey_errors == []
    counts = result.log.counts
    assert (counts["worker kills"], counts["redis restarts"], counts["receiver restarts"]) == (
        4,
        1,
        1,
    )
    rec = result.reconciliation
    assert rec.acknowledged == 400 and len(result.load.acknowledged) == 400, rows
    assert rec.missing == [] and rec.doubled == [] and rec.wrong_total == {}, rows
    assert len(rec.with_one_document) + len(rec.failed_visible) == 400, rows
    assert not rec.emails_missing and not rec.emails_doubled, rows
    assert result.ok


def test_the_fault_mix_has_every_kind() -> None:
    global_knobs, plan = fault_plans(seed=1)
    kinds = {str(step) for step in plan["plan"]}
    assert global_knobs["error_rate"] > 0
    assert {"503", "429", "timeout-after-commit", "{'latency_ms': 1500}", "200"} <= kinds


def test_bad_plan_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "invoicebridge.cli", "chaos", "--events", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "events" in done.stderr


@pytest.mark.chaos
def test_small_chaos_run_on_rabbitmq(tmp_path: Path) -> None:
    """The same promise with the queue on RabbitMQ (durable queues, publisher confirms):
    workers SIGKILLed mid-run, Redis (the ledger) restarted, the sandbox faulted."""
    plan = ChaosPlan(
        events=300,
        rate=100,
        worker_groups=2,
        worker_kills=3,
        kill_every_s=1.0,
        redis_restarts=1,
        receiver_restarts=1,
        drain_timeout_s=120,
        broker="rabbitmq",
    )
    result = chaos(tmp_path, plan, config_has='broker = "rabbitmq"')
    rec = result.reconciliation
    assert rec.acknowledged == 300 and rec.missing == [] and rec.doubled == [], rec.table()
    assert result.ok and result.log.counts["worker kills"] == 3


@pytest.mark.chaos
def test_small_chaos_run_through_a_redis_fail_over(tmp_path: Path) -> None:
    """Redis under Sentinel, its primary SIGKILLed mid-run: the receiver, the workers and
    dramatiq follow the promoted replica; every order acknowledged (once a replica had it)
    ends with exactly one document and one email."""
    plan = ChaosPlan(
        events=400,
        rate=100,
        worker_groups=2,
        worker_kills=2,
        kill_every_s=1.5,
        redis_restarts=0,
        redis_failovers=1,
        receiver_restarts=0,
        drain_timeout_s=120,
    )
    result = chaos(tmp_path, plan, config_has="sentinels = [")
    rec = result.reconciliation
    assert result.log.counts["redis fail-overs"] == 1, result.log.entries
    assert rec.acknowledged == 400 and rec.missing == [] and rec.doubled == [], rec.table()
    assert not rec.emails_missing and not rec.emails_doubled, rec.table()
    assert result.ok, result.monkey_errors


@pytest.mark.chaos
def test_a_rolling_restart_of_every_process_under_load(tmp_path: Path) -> None:
    """An upgrade: the receiver and then each worker process restarted gracefully, one at a
    time, while orders keep coming; nothing lost, nothing doubled."""
    plan = calm_plan(
        events=400,
        rate=80,
        worker_groups=2,
        rolling_restarts=1,
        drain_timeout_s=120,
    )
    result = chaos(tmp_path, plan)
    rec = result.reconciliation
    assert result.log.counts == {"rolling restarts": 1}, result.log.entries
    assert rec.acknowledged == 400 and rec.missing == [] and rec.doubled == [], rec.table()
    assert len(rec.with_one_document) == 400 and result.ok


@pytest.mark.chaos
def test_orders_stranded_at_low_traffic_have_documents_within_the_bound(tmp_path: Path) -> None:
    """Orders trickle in at 2/s, each slow at iCount; twice a worker group is SIGKILLed while
    it runs some. With dramatiq's maintenance dice and the order lock's TTL at the
    settings' defaults, every order a kill stranded is done within heartbeat timeout + 15 s."""
    plan = calm_plan(
        events=40,
        rate=40,
        worker_groups=2,
        drain_timeout_s=60,
        trickle_orders=12,
        trickle_rate=2,
        trickle_kills=2,
    )
    result = chaos(tmp_path, plan, config_has="heartbeat_timeout_ms = 3000")
    config = (tmp_path / "config.toml").read_text()
    assert "maintenance_chance" not in config and "order_lock_ttl_ms" not in config
    trickle = result.trickle
    assert trickle is not None and trickle.errors == [] and len(trickle.kills) == 2
    rows = dict(summary_rows(result))
    assert trickle.stranded > 0, rows  # else the kills stranded nothing and this proves nothing
    assert trickle.bound_s == 3 + 15
    stranded = [t for kill in trickle.kills for t in kill.done_after_s.values()]
    times = [t for t in stranded if t is not None]
    # back no sooner than a heartbeat timeout allows (the last beat was at most ~1 s before
    # the kill), and no later than the bound
    assert len(times) == len(stranded) and all(1.0 < t <= trickle.bound_s for t in times), rows
    print(f"{len(times)} stranded, worst {max(times):.1f} s from kill to done (bound 18 s)")
    rec = trickle.reconciliation
    assert rec.missing == [] and rec.doubled == [] and len(rec.with_one_document) == 12, rows
    assert rows["low traffic: orders stranded by the kills"] == str(len(times))
    assert rows["low traffic: worst kill → document (s)"] == f"{max(times):.1f} (bound 18)"
    report = report_data(result)["trickle"]
    assert report["bound_s"] == 18 and report["stranded"] == len(times) and not report["late"]
    assert report["worst_kill_to_document_s"] == round(max(times), 2)
    assert [len(kill["stranded"]) for kill in report["kills"]] == [
        len(kill.done_after_s) for kill in trickle.kills
    ]
    assert result.ok and result.reconciliation.ok
