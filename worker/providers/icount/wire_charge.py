"""iCount card charges, pure: `cc/bill` and `cc/transactions` bodies, their answers, declines.

No I/O here. Every charge's `payment_description` is "invoicebridge <reference>":
`cc/bill` has no duplicate guard, so a charge whose answer was lost is found again
by searching the transactions for that exact description. Money goes out as
decimal strings ("117.00"), never floats. Card data never goes into a body built
here except the stored card's token, in the one field `cc/bill` needs
(`cc_token_id`), and never into an error message.

Installments follow one rule, shared with the sandbox (as `totals` is): without
a first payment, the later payments are equal, rounded down to the currency's
unit, and the first takes the rest (100.00 in 3 = 33.34 + 33.33 + 33.33). The
client always sends the first payment when there are installments, so the
charge and the invoice-receipt recording it agree whatever iCount's own default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any

from worker.domain.money import parse_amount, quantum
from worker.errors import OutcomeUnknown, Permanent, Retryable
from worker.providers.base import ChargeOrder, ChargeRef
from worker.providers.icount.totals import format_amount

#: what precedes our reference in a transaction's `payment_description`
DESCRIPTION_PREFIX = "invoicebridge "
#: what precedes it in a charge made with `is_test` (nobody was charged)
TEST_PREFIX = "invoicebridge test "
#: card refusals that mean the card company could not answer: nothing was charged, try later
RETRYABLE_REASONS = frozenset({"processing_error"})
#: what a refusal means, in words that carry no card data (iCount's own text may)
REFUSAL_TEXT = {
    "declined": "the card was declined",
    "expired_card": "the card has expired",
    "insufficient_funds": "the card has insufficient funds",
    "invalid_card": "the card is not valid",
    "no_stored_card": "the customer has no stored card",
    "bad_token": "the stored card token is not known",
    "token_client_mismatch": "the stored card belongs to another client",
    "bad_installments": "the installments do not add up to the sum",
    "processing_error": "the card company could not process the charge",
}
#: card type codes (providers.md D.1.6), for answers that send only `cc_type`
CARD_TYPES = {
    1: "VISA",
    2: "MASTERCARD",
    3: "AMEX",
    5: "DINERS",
    6: "JCB",
    7: "MAESTRO",
    8: "LEUMICARD",
    22: "ISRACARD",
}
#: list keys a transactions answer may use (S2 reads `results_count` only; the rest is guessed)
_LIST_KEYS = ("transactions", "results", "data")
#: a card type as iCount may name it ("VISA", "Master Card"): letters only, kept in the ledger
_CARD_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z ]{0,19}")
#: a reason code shown as is: a word with no run of 5+ digits (a card number, a token)
_SAFE_REASON = re.compile(r"^(?!.*\d{5})[a-z][a-z0-9_]{0,39}$")


def payment_description(reference: str, *, is_test: bool = False) -> str:
    """The description a charge carries: how a lost answer is found again. A test charge's
    says so, so that a live search never takes a test charge for the real one."""
    return f"{TEST_PREFIX if is_test else DESCRIPTION_PREFIX}{reference}"


def split_installments(
    amount: Decimal, count: int, currency: str, first: Decimal | None = None
) -> tuple[Decimal, Decimal]:
    """The first payment and each later one of `count` installments of `amount`.

    Raises:
        ValueError: the installments cannot add up to `amount` in whole currency units.
    """
    if count == 1:
        if first is not None and first != amount:
            raise ValueError("a single payment must be the whole sum")
        return amount, Decimal(0)
    unit = quantum(currency)
    if first is None:
        later = (amount / count).quantize(unit, rounding=ROUND_DOWN)
        first = amount - later * (count - 1)
    else:
        later = (amount - first) / (count - 1)
    if first <= 0 or later <= 0 or later != later.quantize(unit):
        raise ValueError(f"{amount} cannot be paid in {count} installments starting with {first}")
    return first, later


def first_payment(amount: Decimal, count: int, currency: str, first: Decimal | None) -> Decimal:
    try:
        return split_installments(amount, count, currency, first)[0]
    except ValueError as exc:
        raise Permanent(str(exc), reason="bad_installments") from None


def build_charge_request(
    order: ChargeOrder, token_id: str, *, is_test: bool = False
) -> dict[str, object]:
    """The `cc/bill` body for `order`, without auth fields; `token_id` is the stored card's.
    With `is_test` iCount calls no card company (seed 002): nobody is charged.

    Raises:
        Permanent: the installments cannot add up to the amount (`bad_installments`).
    """
    if not 1 <= order.num_of_payments <= 36:
        raise Permanent("num_of_payments must be 1 to 36", reason="bad_installments")
    body: dict[str, object] = {
        "client_id": order.customer_ref,
        "sum": format_amount(order.amount, order.currency),
        "currency_code": order.currency,
        "num_of_payments": order.num_of_payments,
        "cc_token_id": token_id,
        "payment_description": payment_description(order.reference, is_test=is_test),
    }
    if order.num_of_payments > 1:
        first = first_payment(
            order.amount, order.num_of_payments, order.currency, order.first_payment
        )
        body["first_payment"] = format_amount(first, order.currency)
    if is_test:
        body["is_test"] = True
    return body


def build_search_request(reference: str, *, is_test: bool = False) -> dict[str, object]:
    """The `cc/transactions` filters that find the charge made for `reference`."""
    return {"payment_description": payment_description(reference, is_test=is_test)}


def charge_error(reason: str) -> Permanent | Retryable:
    """The error for a refused card call, worded from the reason code alone.

    `processing_error` is `Retryable` (nothing was charged); any other reason, a decline
    included, is `Permanent` with that reason.
    """
    code = reason if _SAFE_REASON.fullmatch(reason) else "charge_refused"
    text = REFUSAL_TEXT.get(code, "iCount refused the card call")
    if code in RETRYABLE_REASONS:
        return Retryable(f"iCount card charge: {text} ({code})")
    return Permanent(f"iCount card charge: {text} ({code})", reason=code)


# --- answers ----------------------------------------------------------------------------


def pick(data: Mapping[str, Any], *keys: str) -> Any:
    """The first of `keys` with a value (not None, not "") in an iCount answer, or in its
    `data` object; None if none has one."""
    nested = data.get("data")
    for source in (data, nested if isinstance(nested, Mapping) else {}):
        for key in keys:
            value = source.get(key)
            if value not in (None, ""):
                return value
    return None


def stored_token(data: Mapping[str, Any]) -> str:
    """The stored card's token from a card look-up answer.

    Raises:
        Permanent: the answer names no token (`no_stored_card`).
    """
    token = pick(data, "cc_token_id", "token_id")
    if token is None or isinstance(token, bool | Mapping | list):
        raise Permanent("iCount has no stored card for the customer", reason="no_stored_card")
    return str(token)


def _amount(value: Any, default: Decimal | None) -> Decimal | None:
    try:
        return default if value is None else parse_amount(value)
    except ValueError:
        return default


def _count(value: Any, default: int) -> int:
    try:
        return default if value is None or isinstance(value, bool) else int(str(value))
    except ValueError:
        return default


def _card_type(data: Mapping[str, Any]) -> str | None:
    name = pick(data, "cc_card_type", "card_type")
    if isinstance(name, str) and _CARD_TYPE_NAME.fullmatch(name.strip()):
        return name.strip().upper()  # only a brand's letters are kept: never card digits
    return CARD_TYPES.get(_count(pick(data, "cc_type") or name, 0))


def _charge_ref(item: Mapping[str, Any], order: ChargeOrder | None) -> ChargeRef | None:
    code = pick(item, "confirmation_code")
    if code is None:
        return None
    amount = _amount(pick(item, "sum"), None if order is None else order.amount)
    currency = pick(item, "currency_code", "currency") or (order.currency if order else None)
    if amount is None or not isinstance(currency, str):
        return None
    count = _count(pick(item, "num_of_payments"), order.num_of_payments if order else 1)
    first = _amount(pick(item, "first_payment"), None)
    if first is None and order is not None and count > 1:
        first = first_payment(order.amount, count, order.currency, order.first_payment)
    deal = pick(item, "deal_id", "cc_deal_id", "transaction_id")
    return ChargeRef(
        confirmation_code=str(code),
        amount=amount,
        currency=currency.upper(),
        num_of_payments=count,
        first_payment=first if count > 1 else None,
        card_type=_card_type(item),
        transaction_id=None if deal is None else str(deal),
    )


def parse_charge(data: Mapping[str, Any], order: ChargeOrder) -> ChargeRef:
    """Read a `cc/bill` success: top-level fields first, then a `data` sub-object.

    Raises:
        OutcomeUnknown: success without a confirmation code; search the transactions.
    """
    ref = _charge_ref(data, order)
    if ref is None:
        raise OutcomeUnknown("iCount reported a charge without a confirmation code")
    return ref


def _transactions(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for key in _LIST_KEYS:
        value = data.get(key)
        if isinstance(value, Mapping):
            value = list(value.values())  # an object keyed by transaction id
        if isinstance(value, list):
            return [item for item in value if isinstance(item, Mapping)]
    return []


def find_in_transactions(
    data: Mapping[str, Any], reference: str, *, is_test: bool = False
) -> ChargeRef | None:
    """The first transaction whose description is exactly the one `reference` charges carry.

    Two would mean a double charge; the first (oldest, in the sandbox's order) is returned.
    """
    wanted = payment_description(reference, is_test=is_test)
    for item in _transactions(data):
        if str(item.get("payment_description") or "").strip() == wanted:
            ref = _charge_ref(item, None)
            if ref is not None:
                return ref
    return None
