"""What a worker does first with a delivery the receiver recorded as it came (DESIGN, step 5):
read it with the receiver's parsers and put what it reads as in its place. Tests that look at
an event's payload right after posting it do this step themselves."""

from __future__ import annotations

from invoicebridge.reading import read_delivery
from worker.domain.events import OrderEvent
from worker.jobs.reading import NotReadable, read_received
from worker.ledger.ledger import Ledger


async def read_now(redis_url: str, event_id: str) -> OrderEvent | None:
    """The event `event_id` reads as, now in the ledger (None: it asks nothing of us, or it
    cannot be read and is kept `unreadable`)."""
    ledger = Ledger.from_url(redis_url)
    try:
        item = await ledger.work_item(event_id)
        if item.received is None:
            return item.event
        try:
            event = await read_received(ledger, read_delivery, item.received)
        except NotReadable:
            return None
        if event is not None:
            await ledger.read_as(event_id, event)  # as a paused tenant's worker keeps it
        return event
    finally:
        await ledger.close()
