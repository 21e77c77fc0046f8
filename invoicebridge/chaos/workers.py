"""Which dramatiq workers each chaos worker group runs, and which events they hold.

The low-traffic phase of `make chaos` (`chaos_trickle`) kills a worker group while it holds
orders, and must know which orders that strands. Dramatiq's Redis broker keeps what each
worker process has fetched and not yet acknowledged in `__acks__.<worker id>.<queue>`, and
each process beats in `__heartbeats__` under that id; but nothing outside the process says
which id is whose. So a group is started *known*: the ids that begin to beat after its start
are its processes'. Groups are started one at a time for that, and a kill or a stop forgets
the group's ids, so a stale id is never blamed on a new process.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis

from invoicebridge.stack.local import LocalStack
from worker.ledger.keys import EVENT
from worker.runtime.broker import SENDER_PREFIX
from worker.settings import QueueSettings

#: the stack's configuration leaves dramatiq's namespace at the settings' default
NAMESPACE: str = QueueSettings.model_fields["namespace"].default
HEARTBEATS = f"{NAMESPACE}:__heartbeats__"
#: `worker.runtime.actors.QUEUE`, named again: importing that module loads prometheus_client, which
#: must not happen in the CLI's parent before dramatiq forks its workers
QUEUE = "events"
#: the events queue and its delay queue: a process holds fetched messages of both
QUEUES = (QUEUE, f"{QUEUE}.DQ")


@dataclass(frozen=True)
class Held:
    """One message a worker process fetched and has not acknowledged."""

    event_id: str
    state: str  #: the event's state in the ledger ("" if the ledger lacks it)
    queue: str


@dataclass
class ChaosStack(LocalStack):
    """A LocalStack that knows the dramatiq worker ids of the groups it started known."""

    #: worker group -> the ids of its dramatiq processes (one per process)
    worker_ids: dict[str, frozenset[str]] = field(default_factory=dict)

    def start_known_workers(self, name: str = "workers", timeout: float = 30) -> frozenset[str]:
        """Start worker group `name` and wait until each of its processes beats; their ids.
        Another group started meanwhile would be taken for this one's: start one at a time.

        Raises:
            RuntimeError: the group's processes did not all beat within `timeout` seconds.
        """
        client = self.redis_client()
        fresh: set[str] = set()
        try:
            before = _beating(client)

            def booted() -> bool:
                fresh.update(_beating(client) - before)
                return len(fresh) >= self.options.workers

            self.start_workers(name)
            self.wait_ready(booted, name, timeout)
        finally:
            client.close()
        self.worker_ids[name] = frozenset(fresh)
        return self.worker_ids[name]

    def kill(self, name: str) -> None:
        self.worker_ids.pop(name, None)
        super().kill(name)

    def stop(self, name: str, timeout: float = 15) -> None:
        self.worker_ids.pop(name, None)
        super().stop(name, timeout)


def _beating(client: redis.Redis) -> set[str]:
    """The worker ids in dramatiq's heartbeats (a receiver's sends beat there too: left out)."""
    members = (str(member) for member in client.zrange(HEARTBEATS, 0, -1))
    return {member for member in members if not member.startswith(SENDER_PREFIX)}


def held_events(client: redis.Redis, worker_ids: Iterable[str]) -> list[Held]:
    """Every message `worker_ids` fetched and have not acknowledged, with its event's state
    in the ledger; three round trips (`client` decodes responses)."""
    pairs = [(worker, queue) for worker in sorted(worker_ids) for queue in QUEUES]
    with client.pipeline(transaction=False) as pipe:
        for worker, queue in pairs:
            pipe.smembers(f"{NAMESPACE}:__acks__.{worker}.{queue}")
        fetched: list[set[str]] = pipe.execute()
    held: list[tuple[str, str]] = []  # (message id, queue)
    held += [(m, queue) for (_, queue), ids in zip(pairs, fetched, strict=True) for m in ids]
    with client.pipeline(transaction=False) as pipe:
        for message_id, queue in held:
            pipe.hget(f"{NAMESPACE}:{queue}.msgs", message_id)
        bodies: list[str | None] = pipe.execute()
    events = [(_event_id(body), queue) for body, (_, queue) in zip(bodies, held, strict=True)]
    known = [(event_id, queue) for event_id, queue in events if event_id]
    with client.pipeline(transaction=False) as pipe:
        for event_id, _ in known:
            pipe.hget(EVENT.format(event_id), "state")
        states: list[str | None] = pipe.execute()
    return [Held(e, s or "", q) for (e, q), s in zip(known, states, strict=True)]


def _event_id(body: str | None) -> str:
    """The event id a message carries (its one argument); "" if it is gone or not ours."""
    if body is None:
        return ""
    try:
        args = json.loads(body).get("args") or [""]
    except (ValueError, AttributeError):
        return ""
    return str(args[0])
