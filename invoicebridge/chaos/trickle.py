"""The low-traffic phase of `make chaos`: worker kills while orders trickle in, each kill
timed to the documents of the orders it stranded.

At a trickle of traffic the workers make few broker calls, so dramatiq's maintenance dice
(0.1 % of them) hardly ever roll: what brings a killed worker's fetched orders back is the
clocked maintenance pass (`worker/runtime/maintenance.py`), and what frees their order locks is
a TTL that follows the heartbeat timeout. Issue #14 promises that every order a SIGKILL strands
has its document within `heartbeat_timeout + 15 s`, at any traffic; this phase measures it,
with the settings' defaults for both (a chaos stack never overrides them).

Orders are posted at `rate` a second, each held at iCount for a while (a latency under the
client's timeout), so that a worker runs one most of the time. At each of `kills` moments
spread over the trickle, the phase waits until some worker group runs an order, SIGKILLs that
group and starts it again. What the dead processes had fetched and not acknowledged (their
ack sets, read at once: `chaos_workers`) is stranded, if its event was still busy. Each
stranded order is timed from the kill to the ledger marking its event done, which the worker
that picks the message up again does only once it has found or made the document. The
document's own time is no clock for this: the sandbox finishes the call the dead worker
began, and the document appears while nobody is left to record it.
"""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import redis
from rich.console import Console

from invoicebridge.chaos.workers import QUEUE, ChaosStack, held_events
from invoicebridge.loadgen.ledger import wait_quiet
from invoicebridge.loadgen.payloads import build_deliveries
from invoicebridge.loadgen.plan import LoadPlan
from invoicebridge.loadgen.reconcile import Reconciliation, reconcile
from invoicebridge.loadgen.runner import LoadReport, run_load
from invoicebridge.progress import progress_bar
from invoicebridge.stack.local import http_json
from worker.domain.states import BUSY_STATES
from worker.ledger.keys import EVENT

#: the promise: a stranded order is done within the heartbeat timeout plus this
MARGIN_S = 15.0
#: how long past its bound a stranded order is still waited for, so a late one gets a figure
GRACE_S = 10.0
#: each order's iCount call takes this share of the client's timeout (so it never times out)
SLOW_SHARE = 0.6
#: after the last order is sent, how long a kill still waits for a group to hold one
LAST_ORDER_S = 3.0
POLL_S = 0.05


@dataclass(frozen=True)
class TricklePlan:
    """How many orders trickle in, how fast, and how many kills land among them."""

    orders: int
    rate: float  #: orders per second
    kills: int
    first_order: int = 1  #: order ids from here on (clear of the main load's)
    drain_timeout_s: float = 120.0


@dataclass
class TrickleKill:
    """One SIGKILL of the phase and the orders it stranded."""

    victim: str  #: the worker group killed (and started again)
    at_s: float  #: seconds into the phase
    killed_at: float  #: unix time, to compare with the ledger's stamps
    #: event id -> order id, of every busy event the dead processes held
    events: dict[str, str] = field(default_factory=dict)
    #: order id -> seconds from the kill to its event done (None: not done in time)
    done_after_s: dict[str, float | None] = field(default_factory=dict)

    @property
    def worst_s(self) -> float | None:
        return max((t for t in self.done_after_s.values() if t is not None), default=None)

    def as_dict(self) -> dict[str, Any]:
        times = {
            order: None if t is None else round(t, 2) for order, t in self.done_after_s.items()
        }
        worst = self.worst_s
        return {
            "victim": self.victim,
            "at_s": self.at_s,
            "stranded": times,
            "worst_s": None if worst is None else round(worst, 2),
        }


@dataclass
class TrickleResult:
    """What the phase did and found; `ok` when every stranded order was done in time."""

    plan: TricklePlan
    bound_s: float  #: the stack's heartbeat timeout + MARGIN_S
    load: LoadReport
    reconciliation: Reconciliation
    kills: list[TrickleKill]
    errors: list[str]

    @property
    def stranded(self) -> int:
        return sum(len(kill.done_after_s) for kill in self.kills)

    @property
    def worst_s(self) -> float | None:
        """The longest kill → document time of any stranded order (None: none stranded)."""
        return max((w for k in self.kills if (w := k.worst_s) is not None), default=None)

    @property
    def late(self) -> list[str]:
        """Stranded orders not done within the bound (or not done at all)."""
        times = [item for kill in self.kills for item in kill.done_after_s.items()]
        return [order for order, t in times if t is None or t > self.bound_s]

    @property
    def ok(self) -> bool:
        complete = len(self.kills) == self.plan.kills and not self.errors
        return complete and not self.late and self.reconciliation.ok

    def as_dict(self) -> dict[str, Any]:
        worst = self.worst_s
        return {
            "ok": self.ok,
            "orders": self.plan.orders,
            "rate": self.plan.rate,
            "acknowledged": len(self.load.acknowledged),
            "kills": [kill.as_dict() for kill in self.kills],
            "stranded": self.stranded,
            "worst_kill_to_document_s": None if worst is None else round(worst, 2),
            "bound_s": self.bound_s,
            "late": self.late,
            "errors": self.errors,
            "reconciliation": self.reconciliation.as_dict(),
        }


class _Killer:
    """Kills a worker group whenever a kill is due and a group runs a trickle order, then
    times each stranded order's way to done."""

    def __init__(self, stack: ChaosStack, plan: TricklePlan, orders: dict[str, str]) -> None:
        self.stack, self.plan, self.orders = stack, plan, orders  # event id -> order id
        self.started = time.monotonic()
        self.kills: list[TrickleKill] = []
        self.errors: list[str] = []

    def kill_during(self, sending: Future[LoadReport]) -> None:
        """The kills, spread evenly over the time the trickle takes."""
        self.started = time.monotonic()
        span = self.plan.orders / self.plan.rate
        for number in range(1, self.plan.kills + 1):
            due = self.started + span * (number - 0.5) / self.plan.kills
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                victim = self._holder(sending)
                if victim is None:
                    ended = "no worker group ran a trickle order before the trickle ended"
                    self.errors.append(f"kill {number}: {ended}")
                    return
                self._kill(victim)
            except Exception as exc:  # the phase goes on; the report says what failed
                self.errors.append(f"kill {number}: {type(exc).__name__}: {exc}")

    def _holder(self, sending: Future[LoadReport]) -> str | None:
        """The group running the most trickle orders, as soon as one runs any; None if none
        does by LAST_ORDER_S after the last order was sent."""
        deadline = math.inf
        client = self.stack.redis_client()
        try:
            while time.monotonic() < deadline:
                if victim := self._busiest(client):
                    return victim
                if sending.done() and deadline == math.inf:
                    deadline = time.monotonic() + LAST_ORDER_S
                time.sleep(POLL_S)
        finally:
            client.close()
        return None

    def _busiest(self, client: redis.Redis) -> str:
        """The group running the most trickle orders, or "" if none runs one."""
        busiest, most = "", 0
        for name, ids in sorted(self.stack.worker_ids.items()):
            held = held_events(client, ids)
            running = sum(
                h.queue == QUEUE and h.state == "running" and h.event_id in self.orders
                for h in held
            )
            if running > most:
                busiest, most = name, running
        return busiest

    def _kill(self, name: str) -> None:
        """SIGKILL group `name`, note what its processes held, start it again."""
        ids = self.stack.worker_ids[name]
        self.stack.kill(name)
        kill = TrickleKill(name, round(time.monotonic() - self.started, 2), time.time())
        client = self.stack.redis_client()
        try:  # the dead processes' ack sets stay as they left them until the heartbeat timeout
            held = held_events(client, ids)
        finally:
            client.close()
        kill.events = {
            h.event_id: self.orders[h.event_id]
            for h in held
            if h.event_id in self.orders and h.state in BUSY_STATES
        }
        self.kills.append(kill)  # timed even if the group cannot be started again
        self.stack.start_known_workers(name)

    def time_recovery(self, wait_s: float) -> None:
        """Wait for every stranded order's event to settle (at most `wait_s` after its kill),
        and time each from its kill to done by the ledger's own stamp."""
        client = self.stack.redis_client()
        try:
            for kill in self.kills:
                until = kill.killed_at + wait_s
                for event_id, order_id in kill.events.items():
                    done_at = _done_at(client, event_id, until)
                    kill.done_after_s[order_id] = (
                        None if done_at is None else done_at - kill.killed_at
                    )
        finally:
            client.close()


def _done_at(client: redis.Redis, event_id: str, until: float) -> float | None:
    """When the event became done (unix time, the ledger's stamp), waiting for it to settle
    until `until`; None if it is not done by then. A done event is never stamped again."""
    while True:
        state, updated_at = client.hmget(EVENT.format(event_id), ["state", "updated_at"])
        if state not in BUSY_STATES or time.time() >= until:
            return float(updated_at) if state == "done" and updated_at else None
        time.sleep(POLL_S * 2)


def _slow_calls(stack: ChaosStack, calls: int) -> None:
    """Every fault cleared, then the next `calls` document creations at iCount slowed."""
    latency_ms = int(stack.options.icount_timeout_s * 1000 * SLOW_SHARE)
    _clear_faults(stack)
    stack.set_faults({"path": "doc/create", "plan": [{"latency_ms": latency_ms}] * calls})


def _clear_faults(stack: ChaosStack) -> None:
    http_json("DELETE", stack.urls["icount"] + "/_sandbox/faults")


def _settle(redis_url: str, timeout: float) -> list[str]:
    """Wait for the ledger to go quiet; what is still busy, as an error, if it does not."""
    quiet, counts = asyncio.run(wait_quiet(redis_url, timeout, settle=1.0))
    if quiet:
        return []
    busy = {state: n for state, n in counts.items() if n and state in BUSY_STATES}
    return [f"still busy {timeout:g} s after the trickle: {busy}"]


def run_trickle(
    stack: ChaosStack, plan: TricklePlan, *, console: Console | None = None
) -> TrickleResult:
    """Trickle orders in while killing worker groups, time each stranded order, drain,
    reconcile; the orders sent show a bar on `console` (default: stderr) on a terminal.
    Every worker group of `stack` must have been started known (`start_known_workers`)."""
    bound_s = stack.options.heartbeat_timeout_ms / 1000 + MARGIN_S
    load_plan = LoadPlan(
        **stack.shopify_target(),
        count=plan.orders,
        rate=plan.rate,
        concurrency=4,
        first_order=plan.first_order,
        max_seconds=plan.orders / plan.rate * 2 + 60,
    )
    deliveries = build_deliveries(load_plan)
    killer = _Killer(stack, plan, {d.event_id: d.order_id for d in deliveries})
    _slow_calls(stack, plan.orders)
    with (
        progress_bar("low-traffic orders sent", plan.orders, console=console) as bar,
        ThreadPoolExecutor(1, thread_name_prefix="trickle") as pool,
    ):
        sending = pool.submit(asyncio.run, run_load(load_plan, deliveries, on_progress=bar.update))
        killer.kill_during(sending)
        report = sending.result()
    killer.time_recovery(bound_s + GRACE_S)
    errors = killer.errors + _settle(stack.redis_url, plan.drain_timeout_s)
    _clear_faults(stack)
    checked = asyncio.run(
        reconcile(report, sandbox_url=stack.urls["icount"], redis_url=stack.redis_url)
    )
    return TrickleResult(plan, bound_s, report, checked, killer.kills, errors)
