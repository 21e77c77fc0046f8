"""iCash: an order partly paid by gift card is one operation with two `add-operation-payment`
calls, the gift card's part at `pay_types.gift_card` first (#18), resumed exactly when an
answer is lost; the document is the whole sale."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.contract.test_icash_flow import icash, order, ours
from tests.contract.test_provider_contract import INVREC, context, issue_until_done
from worker.errors import NeedsAttention

GIFT_CARD_PAY_TYPE = 3  #: the sandbox's "Check": any listed id will do
PAY_TYPES = {"card": 2, "cash": 1, "gift_card": GIFT_CARD_PAY_TYPE}
GIFT = Decimal("24.00")


@pytest.mark.parametrize("lost", [None, 1, 2])
async def test_gift_card_part_is_a_payment_of_its_own(lost: int | None) -> None:
    """Given an order 24.00 of which gift cards paid, the operation holds the gift card's
    payment and the card's rest, once each, even when the answer to the first or second
    payment call was lost; its document totals the whole sale."""
    async with icash(pay_types=PAY_TYPES) as box:
        the_order = order(box).model_copy(update={"gift_cards": GIFT})
        if lost is not None:
            plan = [200] * (lost - 1) + ["timeout-after-commit"]
            faults = {"path": "add-operation-payment", "plan": plan, "hang_s": 2}
            await box.control("POST", "faults", faults)
        made = await issue_until_done(box, INVREC, context(the_order))
        [operation] = await ours(box, the_order)
        paid = [(p["pay_type_id"], Decimal(p["sum"])) for p in operation["payments"]]
        assert paid == [(GIFT_CARD_PAY_TYPE, GIFT), (2, the_order.total - GIFT)]
        assert operation["status"] == "NORMAL"
        assert made.total == Decimal(operation["gross"]) == the_order.total


async def test_gift_card_without_a_pay_type_stops_before_any_operation() -> None:
    async with icash(pay_types={"card": 2, "cash": 1}) as box:
        the_order = order(box).model_copy(update={"gift_cards": GIFT})
        with pytest.raises(NeedsAttention) as stopped:
            await box.runner.run(INVREC, context(the_order))
        assert stopped.value.reason == "pay_type_unmapped"
        assert await ours(box, the_order) == []
