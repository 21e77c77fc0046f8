"""iCount payment blocks, pure: how a paid order's payment is recorded on its invoice-receipt.

`doc/create` documents five blocks for a receipt-type document (seed 000): `cash`
{sum}, `cc` {sum, num_of_payments, card_type, confirmation_code, holder_name, ...},
`banktransfer` {sum, date, account}, `paypal` {sum, date, txn_id, payer_name} and
`cheques`. The block follows how the order was actually paid:

1. the tenant's `documents.payment_methods` mapping, by the gateway's name;
2. else what the platform says the method was (card, PayPal, bank transfer, cash);
3. else the tenant's `documents.payment_method`.

A card is recorded by its type only: the `cc` block's `card_number`, `cvv`, `exp_*` and
`holder_id` are never sent (docs/providers/icount.md F-PAY-2). `confirmation_code`
and `txn_id` are the gateway's own authorisation or transaction id, never our order
number; a payment the platform gave no such id for cannot be recorded truthfully in
those blocks, so the job stops for a human (`MissingTransactionId`, a `NeedsAttention`,
after the job has waited for payment details that come in a later event), who can map the
gateway to another block.

Gift cards and store credit (`Order.gift_cards`, #18) are a means of payment: the document
is for the whole sale, and its payment block records only what the order's own payment
took (`Order.paid_otherwise`). `doc/create` documents no block for a gift card or any
"other" means of payment (seed 000: cash, cheques, banktransfer, cc, paypal, barter), so
the gift-card part is stated in the document's comment (`gift_card_note`, put in `hwc`);
an order gift cards paid in full has nothing to record and stops for a human
(`gift_card_only`). Whether iCount accepts an invoice-receipt whose payments are below its
total is undocumented (docs/providers/icount.md F-PAY-9).
"""

from __future__ import annotations

import re
from datetime import date

from worker.domain.events import Order, Payment
from worker.domain.money import quantize
from worker.domain.redaction import card_mask
from worker.errors import MissingTransactionId, NeedsAttention
from worker.providers.base import ChargeRef
from worker.providers.icount.totals import format_amount
from worker.providers.icount.wire_charge import first_payment
from worker.settings import DocumentSettings
from worker.settings.tenant import PaymentBlock

#: the block each kind of payment the platforms report is recorded in
KIND_BLOCKS: dict[str, PaymentBlock] = {
    "card": "cc",
    "paypal": "paypal",
    "bank_transfer": "banktransfer",
    "cash": "cash",
}
#: card brands as the platforms spell them → iCount's card type names (F-CC-10)
CARD_TYPE_NAMES = {
    "visa": "VISA",
    "mastercard": "MASTERCARD",
    "master": "MASTERCARD",
    "mc": "MASTERCARD",
    "amex": "AMEX",
    "americanexpress": "AMEX",
    "diners": "DINERS",
    "dinersclub": "DINERS",
    "jcb": "JCB",
    "maestro": "MAESTRO",
    "leumicard": "LEUMICARD",
    "isracard": "ISRACARD",
}
#: how a masked card number starts (`redaction.card_mask`): an id that held one is no id
MASK_START = card_mask("0000").split("…")[0]
#: what `card_type` says when the platform names no brand (a guess: F-PAY-3)
UNKNOWN_CARD_TYPE = "OTHER"


def payment_block(order: Order, documents: DocumentSettings) -> PaymentBlock:
    """Which block records `order`'s payment (see the module docstring)."""
    payment = order.payment
    gateway = (payment.gateway if payment else None) or order.payment_gateway
    if gateway:
        mapping = {name.casefold(): block for name, block in documents.payment_methods.items()}
        if gateway.casefold() in mapping:
            return mapping[gateway.casefold()]
    kind = payment.kind if payment else None
    return KIND_BLOCKS.get(kind or "", documents.payment_method)


def card_type(brand: str | None) -> str:
    """iCount's name for a card brand ("Visa" → "VISA"); unknown brands upper-cased."""
    if not brand:
        return UNKNOWN_CARD_TYPE
    key = re.sub(r"[^a-z]", "", brand.casefold())
    return (
        CARD_TYPE_NAMES.get(key)
        or re.sub(r"[^A-Z0-9 ]", "", brand.upper())[:20].strip()
        or (UNKNOWN_CARD_TYPE)
    )


def _gateway_id(order: Order, block: str) -> str:
    payment = order.payment
    if payment is not None and payment.transaction_id:
        if MASK_START in payment.transaction_id:
            raise NeedsAttention(
                f"the gateway's transaction id for order {order.number} reads like a card "
                "number and was masked; record the payment by hand",
                reason="transaction_id_masked",
            )
        return payment.transaction_id
    gateway = (payment.gateway if payment else None) or order.payment_gateway or "unknown"
    raise MissingTransactionId(
        f"the {block} payment block needs the gateway's transaction id, and the platform sent "
        f"none for order {order.number} (gateway {gateway!r}); record it by hand, or map "
        "this gateway to another block in documents.payment_methods"
    )


def _payer(order: Order, payment: Payment | None) -> str:
    return (payment.payer_name if payment else None) or order.customer.name


def _paid_on(order: Order, day: date) -> str:
    paid_at = order.payment.paid_at if order.payment else None
    return (paid_at.date() if paid_at else day).isoformat()


def payment_fields(
    order: Order, documents: DocumentSettings, day: date, bank_account_id: int | None
) -> dict[str, object]:
    """The payment block of `order`'s invoice-receipt, paid in one go on the platform: the
    total less what gift cards paid.

    Raises:
        NeedsAttention: gift cards paid the whole order (`gift_card_only`).
        MissingTransactionId: a `cc` or `paypal` payment without the gateway's transaction id.
        Permanent: a bank transfer without the tenant's `bank_account_id` (the settings
            refuse that at start-up; this guards a provider switched at run time).
    """
    block = payment_block(order, documents)
    paid = order.paid_otherwise()
    if paid <= 0 < order.gift_cards:
        raise NeedsAttention(
            f"order {order.number} was paid in full by gift card, and iCount documents no "
            "payment block for one: issue its invoice-receipt by hand",
            reason="gift_card_only",
        )
    total = format_amount(paid, order.currency)
    payment = order.payment
    if block == "cc":
        return {
            "cc": {
                "sum": total,
                "date": _paid_on(order, day),
                "num_of_payments": 1,
                "card_type": card_type(payment.card_brand if payment else None),
                "confirmation_code": _gateway_id(order, block),
                "holder_name": _payer(order, payment),
            }
        }
    if block == "paypal":
        return {
            "paypal": {
                "sum": total,
                "date": _paid_on(order, day),
                "txn_id": _gateway_id(order, block),
                "payer_name": _payer(order, payment),
            }
        }
    if block == "banktransfer":
        if bank_account_id is None:
            raise NeedsAttention(
                "bank transfers are recorded in iCount's bank account id: set "
                "icount.bank_account_id",
                reason="no_bank_account",
            )
        return {
            "banktransfer": {"sum": total, "date": _paid_on(order, day), "account": bank_account_id}
        }
    return {"cash": {"sum": total}}


def gift_card_note(order: Order) -> str | None:
    """What the comment says of the part gift cards paid ("24.00 EUR of 28.00 paid by gift
    card"); None when they paid nothing."""
    if not order.gift_cards:
        return None
    gift = format_amount(order.gift_cards, order.currency)
    total = format_amount(quantize(order.total, order.currency), order.currency)
    return f"{gift} {order.currency} of {total} paid by gift card"


def charged_payment(charge: ChargeRef, day: date, holder_name: str) -> dict[str, object]:
    """The `cc` block of an invoice-receipt recording our own `cc/bill` charge (no card data);
    `first_payment` only with installments, as documented."""
    block: dict[str, object] = {
        "sum": format_amount(charge.amount, charge.currency),
        "date": day.isoformat(),
        "num_of_payments": charge.num_of_payments,
        "card_type": card_type(charge.card_type),
        "confirmation_code": charge.confirmation_code,
        "holder_name": holder_name,
    }
    if charge.num_of_payments > 1:
        first = first_payment(
            charge.amount, charge.num_of_payments, charge.currency, charge.first_payment
        )
        block["first_payment"] = format_amount(first, charge.currency)
    return block
