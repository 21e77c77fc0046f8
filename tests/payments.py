"""Payments as the platforms report them, for tests that build orders by hand."""

from __future__ import annotations

from worker.domain.events import Payment

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
