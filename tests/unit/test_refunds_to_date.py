"""Refunds known only by the payment's refunded-to-date amount (Stripe `charge.refunded`
since API 2022-11-15, without previous values): each credits what it adds, never more."""

from __future__ import annotations

from decimal import Decimal

import pytest

from worker.domain.events import Refund
from worker.errors import NeedsAttention
from worker.jobs.refunds import added

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


def test_beside_refunds_of_another_kind_or_charge_it_stops() -> None:
    """A refund listed with its own amount, or one of another charge of the order: what a
    to-date refund adds cannot be told, so the event stops for a person."""
    listed = Refund(refund_id="re_1", amount=D("3.00"), currency="EUR")
    other = Refund(
        refund_id="ch_2:4.00", amount=D("4.00"), currency="EUR", refunded_to_date=D("4.00")
    )
    for known in ({listed.refund_id: listed}, {other.refund_id: other}):
        with pytest.raises(NeedsAttention) as raised:
            added([to_date("10.00")], known)
        assert raised.value.reason == "refund_amount_unknown"
