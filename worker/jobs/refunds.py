"""Refunds known only by the payment's refunded-to-date amount (a Stripe charge whose
`charge.refunded` event lists no refunds and no previous value): what each adds.

Such a refund's id is `<charge id>:<refunded to date>` (handlers/sources/stripe.py). The
order lock makes one worker at a time act on an order, so the refunds of that charge the
ledger holds are the ones credited before: a refund carrying `refunded_to_date` adds what
that exceeds their sum, and one that adds nothing (a redelivery, or an earlier refund
arriving after a later one that already counted it) is dropped. Refunds arriving out of
order may then be credited as one note for the two of them and none for the other; the sum
credited is the charge's refunded amount, never more. When the order also holds refunds
known by their own amount (another charge of the order, or the same one under an API
version that listed them), what this one adds cannot be told: the event stops for a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from worker.domain.events import Refund
from worker.errors import NeedsAttention


def _charge(refund: Refund) -> str | None:
    """The charge a to-date refund belongs to (its id's part before the last ":")."""
    if refund.refunded_to_date is None:
        return None
    return refund.refund_id.rpartition(":")[0] or None


def added(seen: Iterable[Refund], known: Mapping[str, Refund]) -> list[Refund]:
    """The refunds of `seen` not yet in `known` (by id), each to-date one as what it adds.

    Raises:
        NeedsAttention: a to-date refund beside refunds of another kind or charge
            (`refund_amount_unknown`).
    """
    fresh: list[Refund] = []
    for refund in seen:
        if refund.refunded_to_date is None:
            if known.get(refund.refund_id) != refund:
                fresh.append(refund)
            continue
        held = [*known.values(), *fresh]
        if any(r.refund_id == refund.refund_id for r in held):
            continue  # a redelivery
        charge = _charge(refund)
        if any(_charge(r) != charge for r in held):
            raise NeedsAttention(
                f"refund {refund.refund_id} gives only the amount refunded to date, and the "
                "order holds other refunds: credit it by hand",
                reason="refund_amount_unknown",
            )
        credited = sum((r.amount for r in held), Decimal(0))
        adds = refund.refunded_to_date - credited
        if adds > 0:
            fresh.append(refund.model_copy(update={"amount": adds}))
    return fresh
