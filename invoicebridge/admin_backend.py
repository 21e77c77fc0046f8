"""The admin API's backend: `handlers.admin.backend.AdminBackend` over `worker.ops.actions`.

Lives in the composition root because it joins the receiver (handlers) to the ledger and
the broker (worker), which may not import each other.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from handlers.admin.backend import EventQuery
from handlers.errors import Conflict, NotFound
from invoicebridge.replay import replay_event
from worker.ledger.ledger import Ledger
from worker.ledger.records import StoredInvalid
from worker.ops import actions as ops
from worker.ops.overview import (
    QueueDepth,
    hourly,
    paused_tenants,
    recent_actions,
    trouble_by_tenant,
)
from worker.settings import Settings


@dataclass
class LedgerAdmin:
    """Carries out the admin API's requests on the ledger; `enqueue` sends actor messages."""

    ledger: Ledger
    settings: Settings
    enqueue: ops.EnqueueMany
    actor_name: str
    queue_depth: QueueDepth

    async def find(self, query: EventQuery) -> list[dict[str, Any]]:
        found = await ops.find_events(
            self.ledger,
            tenant=query.tenant,
            source=query.source,
            order_id=query.order,
            states=query.states or None,
            since=query.since,
            until=query.until,
            text=query.text,
            limit=query.limit,
        )
        return [asdict(event) for event in found]

    async def detail(self, event_id: str) -> dict[str, Any]:
        try:
            detail = await ops.event_detail(self.ledger, event_id)
        except ops.UnknownEvent as exc:
            raise NotFound(str(exc)) from None
        # an event recorded before this version's models were tightened may not read back:
        # it is shown from its ledger fields, with why its payload is not (never the value)
        detail["order_event"] = detail["order_event_unreadable"] = None
        try:
            payload = await self.ledger.load_event(event_id)
        except StoredInvalid as exc:
            detail["order_event_unreadable"] = {
                "reason": exc.reason,
                "field": exc.field,
                "detail": str(exc),
            }
            return detail
        if payload is not None:
            detail["order_event"] = payload.model_dump(mode="json")
        return detail

    async def retry(self, event_ids: Sequence[str], who: str) -> dict[str, Any]:
        states = await ops.states_of(self.ledger, event_ids)
        if len(event_ids) == 1 and states[event_ids[0]] is None:
            raise NotFound(f"no event {event_ids[0]} in the ledger")
        count = await ops.retry(
            self.ledger, list(event_ids), enqueue=self.enqueue, who=who, actor_name=self.actor_name
        )
        skipped = {
            i: state or "unknown" for i, state in states.items() if state not in ops.RETRYABLE
        }
        return {"retried": count, "skipped": skipped}

    async def retry_failed(
        self, tenant: str | None, since: float | None, until: float | None, who: str
    ) -> dict[str, Any]:
        ids = await ops.ids_in_states(
            self.ledger, ["failed"], tenant=tenant, since=since, until=until
        )
        count = await ops.retry(
            self.ledger, ids, enqueue=self.enqueue, who=who, actor_name=self.actor_name
        )
        return {"matched": len(ids), "retried": count, "skipped": {}}

    async def settle(
        self, action: Literal["discard", "resolve"], event_id: str, who: str, note: str
    ) -> None:
        act = ops.discard if action == "discard" else ops.resolve
        await _refusals(act(self.ledger, event_id, who=who, note=note))

    async def replay(self, event_id: str, who: str) -> None:
        await _refusals(
            replay_event(
                self.ledger, event_id, enqueue=self.enqueue, who=who, actor_name=self.actor_name
            )
        )

    async def set_paused(self, tenant: str, paused: bool, who: str) -> bool:
        if tenant not in self.settings.tenants:
            raise NotFound(f"no tenant {tenant!r} in the configuration")
        return await (ops.pause if paused else ops.resume)(self.ledger, tenant, who)

    async def tenants(self) -> list[dict[str, Any]]:
        paused, trouble = await paused_tenants(self.ledger), await trouble_by_tenant(self.ledger)
        pings = await self.ledger.last_pings()
        return [
            {"tenant": tid, "source": t.source, "provider": t.provider, "paused": tid in paused}
            | {"last_ping_at": pings.get(tid)}  # a set-up ping is kept only as its time
            | trouble.get(tid, {"failed": 0, "needs_attention": 0})
            for tid, t in sorted(self.settings.tenants.items())
        ]

    async def overview(self, hours: int) -> dict[str, Any]:
        return {
            "generated_at": time.time(),
            "counts": await self.ledger.count_by_state(),
            "hours": await hourly(self.ledger, hours),
            "queue": await self.queue_depth(),
            "tenants": await self.tenants(),
        }

    async def actions(self, limit: int) -> list[dict[str, Any]]:
        return await recent_actions(self.ledger, limit)


async def _refusals(action: Awaitable[object]) -> None:
    """Await an ops action, turning its refusals into the API's 404 / 409."""
    try:
        await action
    except ops.UnknownEvent as exc:
        raise NotFound(str(exc)) from None
    except ops.NotAllowed as exc:
        raise Conflict(str(exc)) from None
