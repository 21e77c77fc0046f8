"""The iCount sandbox's cards: stored cards, card charges (`cc/bill`) and their transactions.

This module keeps the cards and transactions and holds the card rules; the API
methods over them are in `card_methods`.

Behaviour chosen where providers.md (A "cc/bill", D.1.3, D.1.6) says *unknown*:

- What is kept of a card: its token id, company, client, last 4 digits, card type
  and validity. Never the number, the CVV or the holder id; no answer, inspection
  view or log holds more than the last 4 digits, and only `cc_storage/store`,
  `cc_storage/get` and `POST /_sandbox/cards` answer a token id.
- Card numbers are 8-19 digits (spaces and dashes ignored). There is no Luhn check,
  so the pattern cards below work with any prefix. Type by prefix: 4 VISA (cc_type 1),
  51-55 / 22-27 MASTERCARD (2), 34 / 37 AMEX (3), 30 / 36 / 38 DINERS (5),
  35 JCB (6), 50 / 56-69 MAESTRO (7), 8-9 digits ISRACARD (22), else OTHER (0).
- `cc_validity` is `YYYY-MM` or `MMYY`; a validity in the past is `expired_card`.
- `cc_storage/store`: client by `client_id`, else matched or created by `client_name`
  + `email`; needs `cc_number` and `cc_validity`; `cc_cvv` and `cc_holder_id` are
  optional and dropped. Answers `{"status": true, "cc_token_id": <int>, "client_id"}`.
  Token ids are random 9-digit integers. A client may store several cards: the last
  one stored is "their" card for `cc_storage/get`.
- `cc_storage/get` (iCount's name for "get stored card token" is unknown): `client_id`
  → `{"status": true, "cc_token_id", "last4", "cc_card_type", "exp": "YYYY-MM"}`;
  no card: `status: false`, reason `no_stored_card`.
- `cc/bill`: `sum` (decimal string or number, > 0, no finer than the currency's
  unit), `currency_code` (or `currency`; ILS), `num_of_payments` 1-36, `first_payment`
  (installments follow `wire_charge.split_installments`: the later payments equal;
  without it the first takes the rounding rest; with one payment it may only equal
  the sum), a card: `cc_token_id` (a token of this company; a `client_id` sent with
  it must be the card's client) or `cc_number` + `cc_validity` (+ `cc_cvv`, 3-4
  digits) with a client; `payment_description`; `is_test` (kept, changes nothing:
  every sandbox charge is a test). No duplicate guard: two calls, two charges.
- Pattern cards, by the last 4 digits: "0002" `declined` ("Card declined"), "0069"
  `expired_card`, "0119" `processing_error` (the card company did not answer).
  Refusals charge nothing. Other reasons: bad_amount, bad_currency, bad_installments,
  missing_card, bad_token, token_client_mismatch, missing_client, bad_card_number,
  bad_validity, bad_cvv, bad_date.
- A charge answers `{"status": true, "confirmation_code" (7 random digits), "cc_card_type",
  "cc_type", "sum", "currency_code", "deal_id"}`, money as decimal strings; deal ids
  are strings counting from "900001".
- `cc/transactions` filters: `payment_description` (substring, case-sensitive),
  `client_id`, `confirmation_code`, `start_date` / `end_date` (YYYY-MM-DD, inclusive,
  on the UTC creation date). Answers `{"status": true, "results_count": n,
  "transactions": [...]}`, oldest first, no paging; no match is an empty list.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sandboxes.icount.rules import Refusal
from worker.providers.icount.wire import format_amount

#: last 4 digits → the refusal a charge of that card gets
PATTERN_CARDS = {
    "0002": ("declined", "Card declined"),
    "0069": ("expired_card", "Card expired"),
    "0119": ("processing_error", "Processing error at the card company, try again"),
}
#: (prefix pattern, name, cc_type code); the first match wins
_CARD_TYPES = (
    (re.compile(r"4"), "VISA", 1),
    (re.compile(r"5[1-5]|2[2-7]"), "MASTERCARD", 2),
    (re.compile(r"3[47]"), "AMEX", 3),
    (re.compile(r"3[068]"), "DINERS", 5),
    (re.compile(r"35"), "JCB", 6),
    (re.compile(r"5[06-9]|6"), "MAESTRO", 7),
)
_VALIDITY = (re.compile(r"^(\d{4})-(\d{2})$"), re.compile(r"^(\d{2})(\d{2})$"))
FIRST_DEAL_ID = 900001


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Card:
    """What the sandbox knows of a card: never its number."""

    last4: str
    card_type: str
    type_code: int
    validity: tuple[int, int]  #: (year, month)

    @property
    def exp(self) -> str:
        return f"{self.validity[0]:04d}-{self.validity[1]:02d}"

    def expired(self, now: datetime) -> bool:
        return self.validity < (now.year, now.month)


def _validity(value: object) -> tuple[int, int]:
    text = str(value or "").strip()
    for index, pattern in enumerate(_VALIDITY):
        match = pattern.fullmatch(text)
        if match:
            first, second = int(match[1]), int(match[2])
            year, month = (first, second) if index == 0 else (2000 + second, first)
            if 1 <= month <= 12:
                return year, month
    raise Refusal("bad_validity", "cc_validity must be YYYY-MM or MMYY")


def card_of(number: object, validity: object) -> Card:
    """A `Card` from a card number and validity; the number itself is not kept.

    Raises:
        Refusal: a malformed number (`bad_card_number`) or validity (`bad_validity`).
    """
    digits = re.sub(r"[ -]", "", str(number or ""))
    if not digits.isdigit() or not 8 <= len(digits) <= 19:
        raise Refusal("bad_card_number", "the card number must have 8 to 19 digits")
    name, code = "OTHER", 0
    if len(digits) <= 9:
        name, code = "ISRACARD", 22
    else:
        name, code = next(((n, c) for p, n, c in _CARD_TYPES if p.match(digits)), (name, code))
    return Card(digits[-4:], name, code, _validity(validity))


@dataclass(frozen=True)
class StoredCard:
    token_id: int
    cid: str
    client_id: str
    card: Card


@dataclass(frozen=True)
class Transaction:
    """One card charge, as `cc/transactions` and `/_sandbox/transactions` show it."""

    cid: str
    confirmation_code: str
    deal_id: str
    client_id: str
    card: Card
    amount: Decimal
    currency: str
    num_of_payments: int
    first_payment: Decimal
    payment_description: str
    is_test: bool
    created_at: datetime = field(default_factory=now)

    def to_json(self) -> dict[str, Any]:
        money = self.currency
        return {
            "confirmation_code": self.confirmation_code,
            "deal_id": self.deal_id,
            "sum": format_amount(self.amount, money),
            "currency_code": money,
            "cc_card_type": self.card.card_type,
            "cc_type": self.card.type_code,
            "last4": self.card.last4,
            "num_of_payments": self.num_of_payments,
            "first_payment": format_amount(self.first_payment, money),
            "payment_description": self.payment_description,
            "client_id": self.client_id,
            "is_test": self.is_test,
            "created_at": self.created_at.isoformat(timespec="seconds"),
        }


def _unique(draw: Callable[[], str], taken: Mapping[str, object] | set[str]) -> str:
    value = draw()
    while value in taken:
        value = draw()
    return value


class CardStore:
    """Stored cards and transactions of every company in the sandbox."""

    def __init__(self) -> None:
        self.cards: dict[str, StoredCard] = {}  #: by token id (as text)
        self.transactions: list[Transaction] = []
        self._codes: set[str] = set()

    def store(self, cid: str, client_id: str, card: Card) -> StoredCard:
        if card.expired(now()):
            raise Refusal("expired_card", "Card expired")
        token = _unique(lambda: str(secrets.randbelow(9 * 10**8) + 10**8), self.cards)
        stored = self.cards[token] = StoredCard(int(token), cid, client_id, card)
        return stored

    def latest(self, cid: str, client_id: str) -> StoredCard | None:
        mine = [s for s in self.cards.values() if (s.cid, s.client_id) == (cid, client_id)]
        return mine[-1] if mine else None

    def by_token(self, cid: str, token: object) -> StoredCard | None:
        stored = self.cards.get(str(token).strip())
        return stored if stored is not None and stored.cid == cid else None

    def record(self, **fields: Any) -> Transaction:
        """Store a charge under a new confirmation code and deal id."""
        code = _unique(lambda: f"{secrets.randbelow(10**7):07d}", self._codes)
        self._codes.add(code)
        deal_id = str(FIRST_DEAL_ID + len(self.transactions))
        transaction = Transaction(confirmation_code=code, deal_id=deal_id, **fields)
        self.transactions.append(transaction)
        return transaction
