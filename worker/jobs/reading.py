"""Reading a delivery the receiver recorded as it came (DESIGN, step 5): the receiver reads
only the ids it deduplicates by, and the worker that takes the event reads the rest, with
the receiver's own parsers. `worker` never imports `handlers`, so the composition root hands
them over (`invoicebridge.worker_entry`) as a `ReadDelivery`.

Read, the delivery takes its own place in the ledger: an event to act on gets its kind,
order and payload, written with the event's `running` state (one round trip for both), or
before it waits if its tenant is paused; a delivery of nothing to act on (a Shopify refund
that moved no money) becomes `ignored`; one the parser cannot read becomes `unreadable`,
kept raw for a replay, and alerted, as the receiver does with those it cannot read on
arrival.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import structlog

from worker.domain.events import IgnoredDelivery, OrderEvent
from worker.ledger.ledger import Ledger

log = structlog.get_logger("worker.jobs")


class NotReadable(Exception):
    """The parser cannot read the delivery; `reason` says why, never a value of it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: a received delivery's ledger fields (id, tenant, source, delivery_id, body, headers) ->
#: what it reads as; raises NotReadable
ReadDelivery = Callable[[Mapping[str, str]], OrderEvent | IgnoredDelivery]


async def read_received(
    ledger: Ledger, read: ReadDelivery, fields: Mapping[str, str]
) -> OrderEvent | None:
    """The event a received delivery reads as, which its caller puts in its place with its
    next write (`Ledger.start_event`, or `Ledger.read_as`); None when there is nothing to act
    on (it was moved to `ignored`).

    Raises:
        NotReadable: it cannot be read (the event is then `unreadable`, its body kept).
    """
    event_id = fields["id"]
    try:
        item = read(fields)
    except NotReadable as exc:
        log.warning("webhook_unreadable", event_id=event_id, reason=exc.reason)
        await ledger.keep_unreadable(event_id, exc.reason)
        raise
    if isinstance(item, IgnoredDelivery):
        log.info("webhook_ignored", event_id=event_id, topic=item.topic)
        await ledger.read_as(event_id, None)
        return None
    return item
