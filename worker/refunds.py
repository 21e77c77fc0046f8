"""Refunds known only by the payment's refunded-to-date amount (a Stripe charge whose
`charge.refunded` event lists no refunds and no previous value): what each adds.

The order lock makes one worker at a time act on an order, so the refunds the ledger holds
are the ones credited before. A refund carrying `refunded_to_date` adds what that exceeds
their sum; one that adds nothing (a redelivery, or an earlier refund arriving after a later
one that already counted it) is dropped. Refunds arriving out of order may then be credited
as one note for the two of them and none for the other; the sum credited is always the
payment's refunded amount, never more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from worker.domain.events import Refund


def added(seen: Iterable[Refund], known: Mapping[str, Refund]) -> list[Refund]:
    """The refunds of `seen` not yet in `known` (by id), each cumulative one as what it adds."""
    fresh: list[Refund] = []
    credited = sum((refund.amount for refund in known.values()), Decimal(0))
    for refund in seen:
        if refund.refunded_to_date is None:
            if known.get(refund.refund_id) != refund:
                fresh.append(refund)
                credited += 0 if refund.refund_id in known else refund.amount
            continue
        if refund.refund_id in known or any(r.refund_id == refund.refund_id for r in fresh):
            continue
        adds = refund.refunded_to_date - credited
        if adds > 0:
            fresh.append(refund.model_copy(update={"amount": adds}))
            credited += adds
    return fresh
