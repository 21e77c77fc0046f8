"""`make chaos`: the whole system under load while its parts are killed, restarted and faulted.

Real processes only: a private Redis with AOF, the receiver, several `invoicebridge worker`
processes and the sandboxes (`LocalStack`). While the load generator posts signed Shopify
orders, a monkey SIGKILLs a random worker every few seconds and starts a new one, restarts
Redis once (or, under Sentinel, SIGKILLs its primary) and the receiver once (SIGKILL: a
crash), expires the iCount sessions, and the sandbox answers with 5xx, latency spikes,
timeouts after commit and 429 bursts. At the end
every acknowledged order must have exactly one document and one email, or be visible in the
ledger as failed / needs_attention with its reason: never missing, never doubled.

Before that load, when the plan asks for it, a low-traffic phase (`chaos_trickle`): orders
trickle in at about one a second while worker groups holding some are SIGKILLed, and every
order a kill strands must have its document within the heartbeat timeout + 15 s. The stack
runs with the settings' own maintenance and order-lock defaults throughout, as production
does: at a trickle nothing else would hand a dead worker's orders back in time.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from invoicebridge.chaos.trickle import TricklePlan, TrickleResult, run_trickle
from invoicebridge.chaos.workers import ChaosStack
from invoicebridge.loadgen.ledger import wait_quiet
from invoicebridge.loadgen.plan import LoadPlan
from invoicebridge.loadgen.reconcile import Reconciliation, reconcile
from invoicebridge.loadgen.runner import LoadReport, run_load
from invoicebridge.progress import progress_bar
from invoicebridge.stack.local import StackOptions, http_json


@dataclass(frozen=True)
class ChaosPlan:
    """How big the run is and how much goes wrong in it."""

    events: int = 5_000
    rate: float = 250.0  #: webhooks per second the shop sends
    duplicates: float = 0.1  #: share of extra deliveries that repeat one (the shop's retries)
    worker_groups: int = 3  #: separate `invoicebridge worker` processes (each one killable)
    processes: int = 1  #: dramatiq processes in each of them
    threads: int = 8
    worker_kills: int = 20
    kill_every_s: float = 1.0
    redis_restarts: int = 1
    receiver_restarts: int = 1
    #: times every process is restarted gracefully, one after another (SIGTERM, wait, start):
    #: an upgrade's rolling restart
    rolling_restarts: int = 0
    faults: bool = True
    drain_timeout_s: float = 600.0
    seed: int = 7
    broker: str = "redis"  #: or "rabbitmq": the queue on a private rabbitmq-server
    #: Redis under Sentinel (a primary, two replicas, three sentinels), and this many times
    #: its primary SIGKILLed for the sentinels to promote a replica
    redis_failovers: int = 0
    #: the low-traffic phase, before the load: this many orders (0: no phase) at
    #: `trickle_rate` a second, while `trickle_kills` worker groups holding some are SIGKILLed
    #: (off here by default; `invoicebridge chaos` turns it on)
    trickle_orders: int = 0
    trickle_rate: float = 1.0
    trickle_kills: int = 3

    @property
    def trickle_on(self) -> bool:
        """Whether the run has a low-traffic phase: asked for, and on the Redis broker
        (RabbitMQ hands a dead consumer's messages back when its connection drops)."""
        return self.trickle_orders > 0 and self.trickle_kills > 0 and self.broker == "redis"

    def __post_init__(self) -> None:
        if self.events < 1 or self.rate <= 0 or self.worker_groups < 1:
            raise ValueError("events, rate and worker_groups must be positive")
        if self.worker_kills < 0 or self.kill_every_s <= 0:
            raise ValueError("worker_kills must be >= 0 and kill_every_s > 0")
        if self.broker not in ("redis", "rabbitmq"):
            raise ValueError("broker must be redis or rabbitmq")
        if self.redis_failovers < 0 or (self.redis_failovers and self.redis_restarts):
            raise ValueError(
                "redis_failovers must be >= 0, and under Sentinel a fail-over "
                "stands in for redis_restarts (set that to 0)"
            )
        self._check_trickle()

    def _check_trickle(self) -> None:
        if self.trickle_orders < 0 or self.trickle_kills < 0 or self.trickle_rate <= 0:
            raise ValueError("trickle_orders and trickle_kills must be >= 0, trickle_rate > 0")
        if self.trickle_orders and self.trickle_kills > self.trickle_orders:
            raise ValueError("trickle_kills must be at most trickle_orders")
        if self.trickle_orders / self.trickle_rate > 1_800:
            raise ValueError("the trickle must last at most 30 minutes (orders / rate)")


@dataclass
class ChaosLog:
    """What the monkey did, and when (seconds since the load began)."""

    started: float = field(default_factory=time.monotonic)
    entries: list[tuple[float, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def note(self, what: str, kind: str) -> None:
        self.entries.append((round(time.monotonic() - self.started, 2), what))
        self.counts[kind] = self.counts.get(kind, 0) + 1


def fault_plans(seed: int, calls: int = 800) -> list[dict[str, Any]]:
    """The iCount sandbox's faults for a run: random 503s on any call, and on `doc/create` a
    shuffled mix of 5xx, latency spikes, timeouts after commit and 429 bursts."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible schedule, not a secret)
    spike: object = {"latency_ms": 1500}
    mix: list[object] = [503] * 40 + [spike] * 24 + ["timeout-after-commit"] * 16
    mix += [429, 429, 429] * 8  # bursts: three in a row, Retry-After 1
    mix += [200] * (calls - len(mix))
    rng.shuffle(mix)
    return [
        {"error_rate": 0.02, "seed": seed},
        {"path": "doc/create", "plan": mix, "hang_s": 3, "retry_after": "1"},
    ]


class Monkey(threading.Thread):
    """Breaks things on a schedule until told to stop or everything scheduled is done."""

    def __init__(self, stack: ChaosStack, plan: ChaosPlan, load_s: float, log: ChaosLog) -> None:
        super().__init__(name="chaos-monkey", daemon=True)
        self.stack, self.plan, self.log = stack, plan, log
        self.rng = random.Random(plan.seed)  # noqa: S311 (reproducible, not a secret)
        self.stopping = threading.Event()
        self.errors: list[str] = []
        self.schedule = self._schedule(load_s)

    def _schedule(self, load_s: float) -> list[tuple[float, Callable[[], None]]]:
        p = self.plan
        kills = [(p.kill_every_s * (i + 1), self.kill_worker) for i in range(p.worker_kills)]
        redis = [
            (load_s * (i + 1) / (p.redis_restarts + 1) * 0.8, self.restart_redis)
            for i in range(p.redis_restarts)
        ]
        redis += [
            (load_s * (i + 1) / (p.redis_failovers + 1) * 0.7, self.fail_over_redis)
            for i in range(p.redis_failovers)
        ]
        receiver = [
            (load_s * (i + 1) / (p.receiver_restarts + 1) * 0.9 + 0.5, self.restart_receiver)
            for i in range(p.receiver_restarts)
        ]
        expiries = (
            [(3.0 * (i + 1), self.expire_sessions) for i in range(int(load_s // 3))]
            if p.faults
            else []
        )
        rolling = [
            (load_s * (i + 1) / (p.rolling_restarts + 1), self.rolling_restart)
            for i in range(p.rolling_restarts)
        ]
        actions = [*kills, *redis, *receiver, *expiries, *rolling]
        return sorted(actions, key=lambda item: item[0])

    def run(self) -> None:
        for at, action in self.schedule:
            wait = at - (time.monotonic() - self.log.started)
            if self.stopping.wait(max(0.0, wait)):
                return
            try:
                action()
            except Exception as exc:  # the run goes on; the report says what failed
                self.errors.append(f"{action.__name__}: {exc}")

    def kill_worker(self) -> None:
        groups = sorted(name for name in self.stack.procs if name.startswith("workers"))
        victim = self.rng.choice(groups)
        self.stack.kill(victim)
        self.stack.start_workers(victim)
        self.log.note(f"SIGKILL {victim}, started a new one", "worker kills")

    def restart_redis(self) -> None:
        self.stack.stop("redis")  # SIGTERM: Redis writes its AOF and exits; acked = on disk
        self.stack.start_redis()
        self.log.note("restarted redis (AOF)", "redis restarts")

    def fail_over_redis(self) -> None:
        started = time.monotonic()
        old, new = self.stack.fail_over()
        took = time.monotonic() - started
        self.log.note(
            f"SIGKILL redis primary :{old}; the sentinels promoted :{new} in {took:.1f} s",
            "redis fail-overs",
        )

    def restart_receiver(self) -> None:
        self.stack.kill("receiver")
        self.stack.start_receiver()
        self.log.note("SIGKILL receiver, started a new one", "receiver restarts")

    def rolling_restart(self) -> None:
        """Every process of ours, one at a time: SIGTERM, let it finish, start a new one."""
        groups = sorted(name for name in self.stack.procs if name.startswith("workers"))
        self.stack.stop("receiver")
        self.stack.start_receiver()
        for name in groups:
            self.stack.stop(name)
            self.stack.start_workers(name)
        self.log.note(f"rolling restart: receiver, then {', '.join(groups)}", "rolling restarts")

    def expire_sessions(self) -> None:
        http_json(
            "POST",
            self.stack.urls["icount"] + "/_sandbox/expire-sessions",
            b"{}",
            {"Content-Type": "application/json"},
        )
        self.log.note("expired iCount sessions", "session expiries")


@dataclass
class ChaosResult:
    plan: ChaosPlan
    load: LoadReport
    reconciliation: Reconciliation
    log: ChaosLog
    drain_s: float
    monkey_errors: list[str]
    trickle: TrickleResult | None = None  #: the low-traffic phase, if it ran

    @property
    def ok(self) -> bool:
        trickle_ok = self.trickle is None or self.trickle.ok
        return self.reconciliation.ok and not self.monkey_errors and trickle_ok


def start_stack(workdir: Path, plan: ChaosPlan) -> ChaosStack:
    """The stack for `plan`, up. Dramatiq's maintenance chance and the order lock's TTL are
    the settings' defaults (the tests' stacks speed both up), so kills are recovered from as
    in production. For a low-traffic phase the worker groups start one by one, known.
    Whatever started is stopped again if the rest cannot start (the caller gets no stack to
    stop), and the error raised."""
    options = StackOptions(
        workers=plan.processes,
        threads=plan.threads,
        worker_metrics=False,
        icount_timeout_s=2.0,
        log_level="warning",
        rate_limit_per_s=max(1_000.0, plan.rate * 4),
        broker=plan.broker,
        redis="sentinel" if plan.redis_failovers else "single",
    )
    # the settings' defaults, as in production (StackOptions speeds both up for the tests)
    options.maintenance_chance, options.order_lock_ttl_ms = None, None
    stack = ChaosStack(workdir, options)
    try:
        _start(stack, plan)
    except BaseException:
        stack.down()
        raise
    return stack


def _start(stack: ChaosStack, plan: ChaosPlan) -> None:
    if plan.broker == "rabbitmq":
        stack.start_rabbitmq()
    stack.start_redis()
    stack.start_sandboxes()
    stack.write_config()
    stack.start_receiver()
    for group in range(plan.worker_groups):
        name = "workers" if group == 0 else f"workers-{group}"
        if plan.trickle_on:
            stack.start_known_workers(name)
        else:
            stack.start_workers(name)


def run_chaos(stack: ChaosStack, plan: ChaosPlan, *, console: Console | None = None) -> ChaosResult:
    """The low-traffic phase if the plan has one, then load, break, drain, reconcile; the
    trickle, the load and the drain show a bar on `console` (default: stderr) on a terminal.

    Raises:
        TimeoutError: the workers did not settle every event within `plan.drain_timeout_s`.
    """
    trickle = _trickle(stack, plan, console) if plan.trickle_on else None
    if plan.faults:
        for spec in fault_plans(plan.seed):
            stack.set_faults(spec)
    load_plan = LoadPlan(
        **stack.shopify_target(),
        count=plan.events,
        rate=plan.rate,
        duplicates=plan.duplicates,
        concurrency=64,
        max_seconds=plan.events / plan.rate * 4 + 120,
    )
    log = ChaosLog()
    monkey = Monkey(stack, plan, plan.events / plan.rate, log)
    monkey.start()
    with progress_bar("webhooks sent", load_plan.deliveries, console=console) as bar:
        report = asyncio.run(run_load(load_plan, on_progress=bar.update))
    drain_started = time.monotonic()
    monkey.join()  # every kill and restart happens, even if the load finished first
    _drain(stack.redis_url, plan.drain_timeout_s, console)
    drain_s = time.monotonic() - drain_started
    result = asyncio.run(
        reconcile(
            report, sandbox_url=stack.urls["icount"], redis_url=stack.redis_url, provider="icount"
        )
    )
    return ChaosResult(plan, report, result, log, drain_s, monkey.errors, trickle)


def _trickle(stack: ChaosStack, plan: ChaosPlan, console: Console | None) -> TrickleResult:
    """The low-traffic phase, its order ids after the load's (which come from 1)."""
    phase = TricklePlan(
        plan.trickle_orders,
        plan.trickle_rate,
        plan.trickle_kills,
        first_order=plan.events + 1,
        drain_timeout_s=plan.drain_timeout_s,
    )
    return run_trickle(stack, phase, console=console)


def _drain(redis_url: str, timeout: float, console: Console | None) -> None:
    """Wait for the workers to settle every event (and stay so for 2 s), showing how many are.

    Raises:
        TimeoutError: some event is still busy after `timeout` seconds.
    """
    with progress_bar("events settled", console=console) as bar:
        waiting = wait_quiet(redis_url, timeout, settle=2.0, on_progress=bar.update)
        quiet, counts = asyncio.run(waiting)
    if not quiet:
        busy = {state: n for state, n in counts.items() if n}
        raise TimeoutError(f"still busy after {timeout}s: {busy}")
