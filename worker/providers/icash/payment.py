"""An iCash operation's payments, pure: one `add-operation-payment` per way the order was paid.

An operation is a paid sale (`print-operation` wants payments that make its price). An
order paid in one way has one payment: the whole price at its pay type (`sale.pay_type`).
Gift cards and store credit are a means of payment, not a discount (#18): the document is
for the whole sale, and the part gift cards paid (`Order.gift_cards`) is a payment of its
own at `icash.pay_types["gift_card"]` (unmapped: needs_attention `pay_type_unmapped`),
added first; the rest follows at the order's pay type. A part of 0 is left out.

Each call answers a `PaymentID` of its own (api-3.19), so an operation takes several
(docs/providers/icash.md C-14). An interrupted operation is resumed from its
`OperationPayedSum`: the parts are added in order and each is above 0, so only one prefix
can make it (`payments_added`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from worker.domain.events import Order
from worker.errors import NeedsAttention
from worker.providers.icash import wire
from worker.providers.icash.sale import pay_type, prefix_summing_to
from worker.settings import DocumentSettings, ICashSettings

#: the `icash.pay_types` key of the part of an order gift cards paid
GIFT_CARD = "gift_card"


@dataclass(frozen=True)
class PaymentPart:
    """One `add-operation-payment`: a pay type and the sum paid with it."""

    pay_type: int
    amount: Decimal

    def fields(self, operation_id: int) -> dict[str, object]:
        return {
            "OperationID": operation_id,
            "PayTypeID": self.pay_type,
            "PaymentSum": wire.plain(self.amount, 2, 2),
        }


def gift_card_pay_type(icash: ICashSettings) -> int:
    """The `PayTypeID` of the part gift cards paid.

    Raises:
        NeedsAttention: `icash.pay_types` has no `gift_card` (`pay_type_unmapped`).
    """
    if GIFT_CARD not in icash.pay_types:
        raise NeedsAttention(
            "no iCash pay type is set for the part gift cards paid (icash.pay_types.gift_card)",
            reason="pay_type_unmapped",
        )
    return icash.pay_types[GIFT_CARD]


def payments(
    order: Order, price: Decimal, documents: DocumentSettings, icash: ICashSettings
) -> list[PaymentPart]:
    """The payments that make the operation's `price` (the sum of its items): the gift-card
    part, then the rest at the order's pay type; one payment of `price` without gift cards.

    Raises:
        NeedsAttention: a part's way of paying has no pay type (`pay_type_unmapped`).
    """
    gift = min(order.gift_cards, price)
    if not gift:
        return [PaymentPart(pay_type(order, documents, icash), price)]
    parts = [PaymentPart(gift_card_pay_type(icash), gift)]
    if price > gift:
        parts.append(PaymentPart(pay_type(order, documents, icash), price - gift))
    return parts


def payments_added(parts: Sequence[PaymentPart], paid: Decimal) -> int:
    """How many of `parts` an operation already holds, from its `OperationPayedSum`.

    Raises:
        NeedsAttention: no prefix of them makes it (`operation_paid_differs`): someone else
            paid on the operation, so it is not ours to finish.
    """
    count = prefix_summing_to([part.amount for part in parts], paid)
    if count is not None:
        return count
    raise NeedsAttention(
        f"an iCash operation of ours is paid {paid}, which none of its first payments "
        f"({', '.join(str(part.amount) for part in parts)}) add up to",
        reason="operation_paid_differs",
    )
