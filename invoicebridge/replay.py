"""`jobs replay` and the dashboard's Replay, for every event: a done one runs through the
planner again; a kept `unreadable` delivery is read with the receiver's current parsers and
takes its place as the event it should have been (issue #18). The composition root does it,
because reading needs the receiver's parsers and moving needs the ledger's operations."""

from __future__ import annotations

from handlers.deliveries import reparse
from handlers.errors import InboundError
from worker.ledger.ledger import Ledger
from worker.ops import actions as ops


async def replay_event(
    ledger: Ledger, event_id: str, *, enqueue: ops.EnqueueMany, who: str, actor_name: str
) -> str:
    """Replay one event; the state it is in afterwards ("queued" or "ignored").

    Raises:
        ops.UnknownEvent: no such event.
        ops.NotAllowed: its state allows no replay, or it is still unreadable (the parser's
            reason is said), and nothing was changed.
    """
    fields = await ledger.event(event_id)
    if fields.get("state") != "unreadable":
        await ops.replay(ledger, event_id, enqueue=enqueue, who=who, actor_name=actor_name)
        return "queued"
    try:
        item = reparse(fields)
    except (InboundError, ValueError) as exc:
        raise ops.NotAllowed(f"event {event_id} is still unreadable: {exc}") from None
    return await ops.reread(ledger, item, enqueue=enqueue, who=who, actor_name=actor_name)
