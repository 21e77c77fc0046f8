"""The clocked maintenance pass on a real Redis: a dead worker's fetched messages go back to
the queue, a live worker's stay, and one pass runs per period across every process."""

from __future__ import annotations

import time

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name

from worker.runtime.actors import QUEUE
from worker.runtime.maintenance import MAX_PERIOD_S, QueueMaintenance, maintenance_for, period_for

NS = "invoicebridge"


def _fetch_as(
    broker: RedisBroker, worker_id: str, count: int, beat_at: int, queue: str = QUEUE
) -> None:
    """What a worker's consumer does: fetch `count` messages into its ack set, beating at
    `beat_at` (ms) in dramatiq's heartbeats."""
    dispatch = broker.scripts["dispatch"]
    args = [
        "fetch",
        beat_at,
        queue,
        worker_id,
        broker.heartbeat_timeout,
        broker.dead_message_ttl,
        0,
        100,
        count,
    ]
    dispatch(args=args, keys=[NS])


def _queued(broker: RedisBroker) -> int:
    return int(broker.client.llen(f"{NS}:{QUEUE}"))


@pytest.fixture
def sent(broker: dramatiq.Broker) -> RedisBroker:
    assert isinstance(broker, RedisBroker)
    actor = broker.get_actor("process_event")
    for n in range(6):
        actor.send(f"evt_{n}")
    return broker


def test_a_dead_workers_messages_go_back_and_a_live_ones_stay(sent: RedisBroker) -> None:
    now = current_millis()
    _fetch_as(sent, "dead-worker", 3, beat_at=now - sent.heartbeat_timeout - 1_000)
    _fetch_as(sent, "live-worker", 2, beat_at=now)
    assert _queued(sent) == 1
    maintenance = maintenance_for(sent, [QUEUE])
    assert maintenance is not None and maintenance.run_once()
    assert _queued(sent) == 4, "the dead worker's three are back"
    assert sent.client.scard(f"{NS}:__acks__.live-worker.{QUEUE}") == 2
    beats = (
        sent.client.zscore(f"{NS}:__heartbeats__", "dead-worker"),
        sent.client.zscore(f"{NS}:__heartbeats__", "live-worker"),
    )
    assert beats[0] is None and beats[1] is not None, "the dead worker's heartbeat is gone"


def test_one_pass_per_period_across_the_fleet(sent: RedisBroker) -> None:
    first, second = (QueueMaintenance(sent, [QUEUE], f"w{n}") for n in (1, 2))
    assert first.run_once() and not second.run_once()
    time.sleep(first.period_s + 0.1)
    assert second.run_once()


def test_the_loop_runs_on_its_own_and_stops(sent: RedisBroker) -> None:
    _fetch_as(sent, "dead-worker", 6, beat_at=current_millis() - sent.heartbeat_timeout - 1)
    maintenance = QueueMaintenance(sent, [QUEUE], "w1")
    maintenance.period_s = 0.05
    maintenance.start()
    try:
        deadline = time.monotonic() + 5
        while _queued(sent) < 6:
            assert time.monotonic() < deadline, "no pass ran"
            time.sleep(0.02)
    finally:
        maintenance.stop()
    assert maintenance._thread is not None and not maintenance._thread.is_alive()


def test_the_period_is_a_quarter_of_the_heartbeat_timeout_at_most_five_seconds() -> None:
    assert period_for(5_000) == 1.25
    assert period_for(60_000) == MAX_PERIOD_S == 5.0


def test_a_dead_workers_delayed_messages_go_back_too(broker: dramatiq.Broker) -> None:
    """A retry waiting out its delay sits in the delay queue; a dead worker's fetched ones
    go back there, so they still run when their time comes."""
    assert isinstance(broker, RedisBroker)
    broker.get_actor("process_event").send_with_options(args=("evt_later",), delay=60_000)
    delayed = f"{NS}:{dq_name(QUEUE)}"
    assert broker.client.llen(delayed) == 1
    dead_at = current_millis() - broker.heartbeat_timeout - 1_000
    _fetch_as(broker, "dead-worker", 1, beat_at=dead_at, queue=dq_name(QUEUE))
    assert broker.client.llen(delayed) == 0
    maintenance = maintenance_for(broker, [QUEUE])
    assert maintenance is not None and maintenance.run_once()
    assert broker.client.llen(delayed) == 1
