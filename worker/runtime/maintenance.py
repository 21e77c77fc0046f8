"""Dramatiq's queue maintenance on a clock, not on a dice roll.

On the Redis broker a worker that dies (SIGKILL, a lost host) leaves the messages it had
fetched in its `__acks__.<worker id>` sets. Dramatiq hands them back to the queue only in a
maintenance pass, and runs one on `maintenance_chance` of its broker calls (0.1 % by
default): at low traffic, minutes can go by, and an idle fleet never runs one. Here every
worker process and every receiver runs a pass every `period_for(heartbeat_timeout)`; a
Redis key taken with SET NX for one period makes it one pass per period across the fleet.

The pass is dramatiq's own (its dispatch script, with maintenance forced on), for the events
queue and its delay queue: a worker whose last heartbeat is older than the heartbeat timeout
is dead, its fetched messages go back to the queue, and expired dead letters are dropped. A
dead worker's messages are therefore back within `heartbeat_timeout + 2 periods` of its
death (the second period covers a maintainer that died holding the key), at any traffic.
RabbitMQ needs none of this: it redelivers a consumer's unacknowledged messages as soon as
its connection drops.

What a crash strands is bounded too: `invoicebridge worker` has each process fetch at most
one message per thread from the events queue (dramatiq's default is two), so everything a
dead process held was already running, and none waited behind a slow provider call.
The delay queue keeps dramatiq's default: those messages cannot start before their time
anyway, and the pass above returns them within the same bound.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import dramatiq
import redis
import structlog
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name

log = structlog.get_logger("worker.maintenance")

#: the most a period may be, however long the heartbeat timeout
MAX_PERIOD_S = 5.0


def period_for(heartbeat_timeout_ms: int) -> float:
    """Seconds between passes: a quarter of the heartbeat timeout, at most MAX_PERIOD_S."""
    return min(heartbeat_timeout_ms / 4000, MAX_PERIOD_S)


class QueueMaintenance:
    """One process's share of the fleet's maintenance: `run_once` every period, in a thread
    (dramatiq's broker client blocks), skipped when another process ran one this period."""

    def __init__(self, broker: RedisBroker, queues: Sequence[str], worker_id: str) -> None:
        self.broker = broker
        self.client: redis.Redis = broker.client
        self.queues = [name for queue in queues for name in (queue, dq_name(queue))]
        self.worker_id = worker_id
        self.period_s = period_for(broker.heartbeat_timeout)
        self.key = f"{broker.namespace}:__maintenance__"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> bool:
        """A pass, if no process has run one in this period; whether this one ran it."""
        period_ms = max(1, int(self.period_s * 1000))
        if not self.client.set(self.key, self.worker_id, nx=True, px=period_ms):
            return False
        dispatch = self.broker.scripts["dispatch"]
        unpack = self.broker._max_unpack_size()  # type: ignore[no-untyped-call]
        timeouts = (self.broker.heartbeat_timeout, self.broker.dead_message_ttl)
        for queue in self.queues:
            # dramatiq's arguments: command, now, queue, worker id, heartbeat timeout, dead
            # message ttl, maintenance (forced on), unpack size; `qsize` itself changes nothing
            args = ["qsize", current_millis(), queue, self.worker_id, *timeouts, 1, unpack]
            dispatch(args=args, keys=[self.broker.namespace])
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.run_once()
            except Exception as exc:  # Redis away for a moment, or worse: the next period
                log.warning("queue_maintenance_failed", error=type(exc).__name__)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ib-maintenance", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.period_s + 10)


def maintenance_for(
    broker: dramatiq.Broker, queues: Sequence[str], prefix: str = ""
) -> QueueMaintenance | None:
    """A maintenance loop for `broker` (None on RabbitMQ, which needs none). The pass beats
    in dramatiq's heartbeats as `prefix` + the broker's id: a worker's own id (no prefix), or
    a receiver's sender id, which the workers' count leaves out."""
    if not isinstance(broker, RedisBroker):
        return None
    return QueueMaintenance(broker, queues, prefix + broker.broker_id)


class MaintenanceMiddleware(dramatiq.Middleware):
    """Runs the loop in a worker process from boot to shutdown."""

    def __init__(self, maintenance: QueueMaintenance) -> None:
        self.maintenance = maintenance

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.maintenance.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.maintenance.stop()
