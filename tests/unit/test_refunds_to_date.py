"""Refunds known only by the payment's refunded-to-date amount (Stripe `charge.refunded`
since API 2022-11-15, without previous values): each credits what it adds, never more."""

from __future__ import annotations

from decimal import Decimal

from worker.domain.events import Refund
from worker.refunds import added

D = Decimal


def to_date(amount: str) -> Refund:
    """The refund a charge.refunded event gives when the charge has refunded `amount` so far."""
    return Refund(
        refund_id=f"ch_1:{amount}", amount=D(amount), currency="EUR", refunded_to_date=D(amount)
    )


def test_a_second_partial_refund_credits_only_what_it_adds() -> None:
    """5.00, then 5.00 more (the charge at 10.00): the second credits 5.00, not 10.00."""
    [first] = added([to_date("5.00")], {})
    assert first.amount == D("5.00")
    [second] = added([to_date("10.00")], {first.refund_id: first})
    assert (second.refund_id, second.amount) == ("ch_1:10.00", D("5.00"))


def test_a_redelivery_adds_nothing() -> None:
    [first] = added([to_date("5.00")], {})
    assert added([to_date("5.00")], {first.refund_id: first}) == []


def test_out_of_order_refunds_never_credit_more_than_was_refunded() -> None:
    """The later event (10.00 to date) first: it credits 10.00; the earlier one (5.00 to
    date) then adds nothing. Either order, 10.00 credited in all."""
    [later] = added([to_date("10.00")], {})
    assert later.amount == D("10.00")
    assert added([to_date("5.00")], {later.refund_id: later}) == []


def test_refunds_with_their_own_amount_count_before_a_cumulative_one() -> None:
    """A refund the source listed with its id and amount (3.00), then a cumulative 10.00:
    7.00 is what the second adds."""
    listed = Refund(refund_id="re_1", amount=D("3.00"), currency="EUR")
    fresh = added([listed, to_date("10.00")], {})
    assert [(r.refund_id, r.amount) for r in fresh] == [
        ("re_1", D("3.00")),
        ("ch_1:10.00", D("7.00")),
    ]
