"""What the receiver is handed when it is created: tenants, the event store, the enqueue function.

`handlers` never imports the ledger or the broker; the composition root passes
objects that satisfy these protocols (tests pass real ones against a real Redis).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

from handlers.admin.auth import AdminIdentity
from handlers.admin.backend import AdminBackend
from worker.domain.events import Delivery
from worker.domain.rates import WebhookRate


@dataclass(frozen=True)
class TenantAuth:
    """What the receiver needs to know of a tenant: its source and webhook secrets."""

    source: str
    secrets: tuple[str, ...]
    #: how fast the tenant may send, counted across every receiver (None: no limit)
    rate: WebhookRate | None = None


class EventStore(Protocol):
    async def record(
        self,
        item: Delivery,
        rate: WebhookRate | None = None,
    ) -> Literal["new", "duplicate", "unqueued"]:
        """Record once; raise `OverRate` (recording nothing) when the tenant is over `rate`."""
        ...

    async def mark_queued(self, event_id: str) -> None: ...

    async def due_unqueued(self, older_than_s: float, limit: int = 500) -> list[str]: ...

    async def replicated(self) -> bool:
        """Whether all written so far would survive the primary's loss (see Ledger)."""
        ...

    async def ping(self) -> bool: ...

    async def note_ping(self, tenant: str) -> None:
        """Remember when the tenant's platform last sent a set-up ping: one value per tenant,
        never an event, never counted against the tenant's rate."""
        ...


Enqueue = Callable[[str], Awaitable[None]]
#: (delivery, the tenant's rate) -> recorded, and its event queued and marked so, in one round
#: trip (`worker.runtime.broker.record_and_queue`); raises `OverRate` as `record` does
RecordAndQueue = Callable[
    [Delivery, WebhookRate | None],
    Awaitable[Literal["new", "duplicate", "unqueued"]],
]
#: how many ledger events are in each state (for /metrics); the ledger's `count_by_state`
StateCounts = Callable[[], Awaitable[Mapping[str, int]]]
#: one round of sending again the events whose queue message was lost; how many it sent
Rescue = Callable[[], Awaitable[int]]
#: (tenant, event id, reason): tell the tenant's alert channel a delivery was kept unreadable
OnUnreadable = Callable[[str, str, str], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReceiverDeps:
    tenants: Mapping[str, TenantAuth]
    store: EventStore
    enqueue: Enqueue
    #: on the Redis broker: record and queue at once (None: `store.record`, `enqueue`, then
    #: `store.mark_queued`, three round trips, as on RabbitMQ with its publisher confirms)
    record_and_queue: RecordAndQueue | None = None
    max_body_bytes: int = 1_048_576
    #: a request's head (request line, headers) must arrive within this of its first byte
    header_timeout_s: float = 10.0
    #: a body must arrive within this of the handler starting to read it
    body_timeout_s: float = 30.0
    requeue_after_s: float = 30.0
    clock: Callable[[], datetime] = field(default=_utcnow)
    state_counts: StateCounts | None = None
    #: alerts for deliveries kept `unreadable` (None: none are sent)
    on_unreadable: OnUnreadable | None = None
    #: worker.runtime.rescue, run every `rescue_every_s` by the sweeper (None: not on this broker)
    rescue: Rescue | None = None
    rescue_every_s: float = 60.0
    #: the admin API and dashboard: off without a backend; nobody gets in without identities
    admin: AdminBackend | None = None
    admin_identities: tuple[AdminIdentity, ...] = ()
