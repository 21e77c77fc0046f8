"""The event the receiver makes of a source's `Parsed`, for tests that check it validates."""

from __future__ import annotations

from handlers.sources import Parsed
from worker.domain.events import OrderEvent


def event_of(parsed: Parsed, source: str, tenant: str = "t") -> OrderEvent:
    """What the receiver builds from a Parsed: must validate for every acted-on event."""
    assert parsed.kind is not None and parsed.order_id is not None
    return OrderEvent(
        event_id="e",
        tenant=tenant,
        source=source,
        topic=parsed.topic,
        kind=parsed.kind,
        delivery_id=parsed.dedupe_key,
        order_id=parsed.order_id,
        order=parsed.order,
        refund=parsed.refund,
        payment=parsed.payment,
    )
