"""The iCount sandbox's card methods: `cc_storage/store`, `cc_storage/get`, `cc/bill`,
`cc/transactions`, over `SandboxState.cards`.

Each takes a `Call` and answers `status: true` with its fields at the top level, or
raises `Refusal`. The behaviour chosen where providers.md is silent (fields, pattern
cards, reasons, shapes) is listed in `cards`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sandboxes.icount.cards import PATTERN_CARDS, Card, Transaction, card_of, now
from sandboxes.icount.rules import Refusal, currency_of
from worker.domain.money import parse_amount, quantize
from worker.providers.icount.wire import is_truthy
from worker.providers.icount.wire_charge import split_installments

if TYPE_CHECKING:
    from sandboxes.icount.methods import Call


def _sum(body: Mapping[str, Any], currency: str) -> Decimal:
    try:
        amount = parse_amount(body.get("sum"))
    except ValueError:
        raise Refusal("bad_amount", "sum must be a number") from None
    if amount <= 0 or quantize(amount, currency) != amount:
        raise Refusal("bad_amount", f"sum must be above 0 in whole {currency} units")
    return amount


def _installments(body: Mapping[str, Any], amount: Decimal, currency: str) -> tuple[int, Decimal]:
    try:
        count = int(str(body.get("num_of_payments") or 1))
        first = body.get("first_payment")
        first_amount = None if first in (None, "") else parse_amount(first)
        if not 1 <= count <= 36:
            raise ValueError("num_of_payments must be 1 to 36")
        return count, split_installments(amount, count, currency, first_amount)[0]
    except ValueError as exc:
        raise Refusal("bad_installments", f"installments do not add up: {exc}") from None


def _client(call: Call) -> str:
    body = call.body
    if not any(body.get(key) for key in ("client_id", "client_name", "custom_client_id")):
        raise Refusal("missing_client", "client_id or client_name is required")
    return call.state.client_id(call.cid, body)


def _paying_card(call: Call) -> tuple[Card, str]:
    body = call.body
    if body.get("cc_token_id") not in (None, ""):
        stored = call.state.cards.by_token(call.cid, body["cc_token_id"])
        if stored is None:
            raise Refusal("bad_token", "cc_token_id is not a card stored for this company")
        client = body.get("client_id")
        if client not in (None, "") and str(client) != stored.client_id:
            raise Refusal("token_client_mismatch", "the stored card belongs to another client")
        return stored.card, stored.client_id
    if body.get("cc_number") in (None, ""):
        raise Refusal("missing_card", "cc_token_id or cc_number is required")
    cvv = str(body.get("cc_cvv") or "")
    if cvv and not re.fullmatch(r"\d{3,4}", cvv):
        raise Refusal("bad_cvv", "cc_cvv must have 3 or 4 digits")
    return card_of(body["cc_number"], body.get("cc_validity")), _client(call)


def cc_bill(call: Call) -> dict[str, Any]:
    """Charge a card: a new transaction on every call (there is no duplicate guard)."""
    body = call.body
    currency = currency_of(body)
    amount = _sum(body, currency)
    count, first = _installments(body, amount, currency)
    card, client_id = _paying_card(call)
    if card.last4 in PATTERN_CARDS:
        raise Refusal(*PATTERN_CARDS[card.last4])
    if card.expired(now()):
        raise Refusal("expired_card", "Card expired")
    made = call.state.cards.record(
        cid=call.cid,
        client_id=client_id,
        card=card,
        amount=amount,
        currency=currency,
        num_of_payments=count,
        first_payment=first,
        is_test=is_truthy(body.get("is_test")),
        payment_description=str(body.get("payment_description") or ""),
    )
    view = made.to_json()
    keys = ("confirmation_code", "cc_card_type", "cc_type", "sum", "currency_code", "deal_id")
    return {"status": True, **{key: view[key] for key in keys}}


def cc_storage_store(call: Call) -> dict[str, Any]:
    """Store a card for a client; its token id."""
    body = call.body
    if body.get("cc_number") in (None, ""):
        raise Refusal("missing_card", "cc_number is required")
    card = card_of(body["cc_number"], body.get("cc_validity"))
    stored = call.state.cards.store(call.cid, _client(call), card)
    return {"status": True, "cc_token_id": stored.token_id, "client_id": stored.client_id}


def cc_storage_get(call: Call) -> dict[str, Any]:
    """The client's stored card (the last one stored): token id, last 4 digits, type, validity."""
    client = str(call.body.get("client_id") or "")
    stored = call.state.cards.latest(call.cid, client) if client else None
    if stored is None:
        raise Refusal("no_stored_card", f"client {client or '?'} has no stored card")
    card = stored.card
    return {
        "status": True,
        "cc_token_id": stored.token_id,
        "last4": card.last4,
        "cc_card_type": card.card_type,
        "exp": card.exp,
    }


def _day(filters: Mapping[str, Any], key: str) -> date | None:
    value = filters.get(key)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise Refusal("bad_date", f"{key} must be YYYY-MM-DD") from None


def _matches(
    made: Transaction, filters: Mapping[str, Any], start: date | None, end: date | None
) -> bool:
    for key in ("client_id", "confirmation_code"):
        if filters.get(key) not in (None, "") and str(filters[key]) != getattr(made, key):
            return False
    if str(filters.get("payment_description") or "") not in made.payment_description:
        return False
    day = made.created_at.date()
    return (start is None or day >= start) and (end is None or day <= end)


def cc_transactions(call: Call) -> dict[str, Any]:
    """The company's transactions matching every filter given; none is not an error."""
    start, end = _day(call.body, "start_date"), _day(call.body, "end_date")
    found = [
        made.to_json()
        for made in call.state.cards.transactions
        if made.cid == call.cid and _matches(made, call.body, start, end)
    ]
    return {"status": True, "results_count": len(found), "transactions": found}


#: path → method, merged into the sandbox's `METHODS`
CARD_METHODS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "cc_storage/store": cc_storage_store,
    "cc_storage/get": cc_storage_get,
    "cc/bill": cc_bill,
    "cc/transactions": cc_transactions,
}
