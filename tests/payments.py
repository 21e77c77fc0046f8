"""Payments as the platforms report them, for tests that build orders by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from worker.domain.events import Payment
from worker.providers.base import ChargeRef

#: a card payment with everything iCount's `cc` block needs
CARD = Payment(
    gateway="shopify_payments",
    kind="card",
    card_brand="Visa",
    card_last4="4242",
    transaction_id="AUTH-53433",
    payer_name="Dana Levi",
)
PAYPAL = Payment(
    gateway="paypal", kind="paypal", transaction_id="8MC585209K746392H", payer_name="Dana Levi"
)
BANK_TRANSFER = Payment(gateway="bacs", kind="bank_transfer")


def card_charge(confirmation_code: str, /, **fields: Any) -> ChargeRef:
    """The card transaction of a 117.00 ILS order on a VISA; `fields` replace any of these
    (amount, currency, card_type) or add the others (num_of_payments, ...)."""
    defaults: dict[str, Any] = {"amount": Decimal("117.00"), "currency": "ILS", "card_type": "VISA"}
    return ChargeRef(**{**defaults, "confirmation_code": confirmation_code, **fields})
