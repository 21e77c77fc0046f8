"""What the admin API asks of the ledger, as a protocol the composition root implements.

`handlers` never imports the ledger; `invoicebridge.admin_backend` implements this over
`worker.ops.actions`. Methods raise `handlers.errors.NotFound` / `Conflict` for an unknown item or a
state that does not allow the action, and then have changed nothing. Results are plain
JSON-ready dicts: the API passes them through as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from worker.domain.states import EVENT_STATES, EventState

STATES = EVENT_STATES


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventQuery(_Strict):
    """A search of the ledger; every filter is optional. Times are unix seconds."""

    tenant: str | None = None
    source: str | None = None
    order: str | None = Field(default=None, description="order id or number (#1001 or 1001)")
    states: tuple[EventState, ...] = ()
    since: float | None = None
    until: float | None = None
    text: str | None = Field(default=None, description="in the last error or the order number")
    limit: int = Field(default=100, ge=1, le=1000)


class RetryRequest(_Strict):
    """Retry these events, or (`failed`) every failed event matching tenant / since / until."""

    event_ids: tuple[str, ...] = Field(default=(), max_length=10_000)
    failed: bool = False
    tenant: str | None = None
    since: str | None = Field(default=None, description="an age like 2h or an ISO time")
    until: str | None = None


class NoteRequest(_Strict):
    """Why an event is discarded or resolved (kept in the action log)."""

    note: str = Field(min_length=1, max_length=2000)


class AdminBackend(Protocol):
    async def find(self, query: EventQuery) -> list[dict[str, Any]]: ...

    async def detail(self, event_id: str) -> dict[str, Any]: ...

    async def retry(self, event_ids: Sequence[str], who: str) -> dict[str, Any]: ...

    async def retry_failed(
        self, tenant: str | None, since: float | None, until: float | None, who: str
    ) -> dict[str, Any]: ...

    async def settle(
        self, action: Literal["discard", "resolve"], event_id: str, who: str, note: str
    ) -> None: ...

    async def replay(self, event_id: str, who: str) -> None: ...

    async def set_paused(self, tenant: str, paused: bool, who: str) -> bool: ...

    async def tenants(self) -> list[dict[str, Any]]: ...

    async def overview(self, hours: int) -> dict[str, Any]: ...

    async def actions(self, limit: int) -> list[dict[str, Any]]: ...
