"""iCash wire format, pure: method names, field lists, signature, nonces, form bodies, answers.

No I/O here. Every method name and field list the client sends lives in this one
module, so when iCash documents what the sandbox had to invent (the create,
cancel and PDF methods, providers.md C / D.3.5) only this file changes.

Choices where providers.md is silent:

- Nonces are Unix time in **milliseconds**, bumped past the last one handed out
  (`NonceSource`). iCash refuses any nonce not greater than the last it saw for
  the api_key. With seconds, a burst of N calls runs the nonce N seconds ahead of
  the clock, and a restarted worker (or a second process on the same key) would be
  refused until the clock caught up; with milliseconds a burst of 1000 calls runs
  one second ahead. Once a key has seen millisecond nonces it can never go back to
  seconds.
- Nested arrays go out as PHP `http_build_query` does them:
  `DocumentServices[0][DocumentServiceDescription]=Mug`. iCash is PHP, its samples
  build bodies with `http_build_query`, and PHP parses exactly this back into arrays.
- `ImportRefID` is an integer in the `documents-list` filter and a String(30) on
  `new-operation`; we send a decimal string of an integer in [1, 2**53): it fits
  both, and stays exact in any JSON/JavaScript double on the way.
- Money: line totals are `round_half_up(Qty × SinglePrice × (100 − Discount) / 100,
  0.01)`, prices VAT-inclusive (as `add-operation-sale-item`'s `SaleItemSinglePrice`,
  D.3.4); the document total is the sum of line totals (`document_totals`). The
  sandbox imports this rule, so client and sandbox always agree.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, NamedTuple, NoReturn

from worker.domain.redaction import redact_text
from worker.errors import Permanent, RateLimited, Retryable

# --- methods and fields (the one place that names them) ---------------------------------

LOGIN = "login"
DOCUMENTS_LIST = "documents-list"
GET_DOCUMENT = "get-document"
DOCUMENT_CREATE = "document-create"  #: sandbox-defined: the docs name no create method
DOCUMENT_CANCEL = "document-cancel"  #: sandbox-defined: sets DocumentStatus DELETED
DOCUMENT_PDF = "document-pdf"  #: sandbox-defined: the document as base64 PDF
#: calls that change state at iCash; a lost answer leaves their outcome unknown
MUTATING = frozenset({DOCUMENT_CREATE, DOCUMENT_CANCEL})
#: sent on every call (`ses` after login); only nonce, WareHouseID and api_key are signed
AUTH_FIELDS = ("api_key", "nonce", "signature", "WareHouseID", "UserID", "ses")
SERVICES = "DocumentServices"
#: `document-create` fields besides the services
CREATE_FIELDS = (
    "DocumentType", "DocumentSubType", "DocumentDate", "DocumentCurrencyCode",
    "DocumentContragentName", "DocumentContragentAddress", "DocumentContragentMOL",
    "DocumentContragentTaxNum", "DocumentContragentTaxNumVatReg", "DocumentPayTypeID",
    "DocumentPayDate", "DocumentComment", "DocumentToDocumentID", "ImportSource", "ImportRefID",
)  # fmt: skip
#: fields of one `DocumentServices[i]` line
SERVICE_FIELDS = (
    "DocumentServiceDescription", "DocumentServiceQty", "DocumentServiceSinglePrice",
    "DocumentServiceVatPercent", "DocumentServiceDiscount",
)  # fmt: skip
#: `documents-list` filters (providers.md C); paging is `sort`, `order`, `offset`, `count`
LIST_FILTERS = (
    "DocumentID", "DocumentStoreID", "DocumentType", "DocumentNum", "DocumentStatus",
    "DocumentOperationType", "DocumentOperationID", "DocumentSubType", "DocumentContragentID",
    "DocumentDateFrom", "DocumentDateTo", "DocumentPayTypeID", "DocumentBankAccountID",
    "ImportSource", "ImportRefID",
)  # fmt: skip
DOCUMENT_TYPES = ("INVOICE", "PROFORMA")
SUBTYPES = ("NORMAL", "CREDIT", "DEBIT", "ADVANCE")
STATUSES = ("NORMAL", "DELETED")
#: `DocumentPayTypeID` per `DocumentSettings.payment_method` (the sandbox's numbering)
#: PayPal is recorded as a card-type e-payment until #17 maps iCash's own pay types
PAY_TYPE_IDS = {"cash": 1, "banktransfer": 2, "cc": 3, "paypal": 3}
#: our name as the external system (`ImportSource`, String 30)
IMPORT_SOURCE = "invoicebridge"
#: `documents-list` pages hold at most this many documents
LIST_MAX_COUNT = 100

#: decimal places iCash keeps (DECIMAL(15,2) money, (10,5) qty, (19,6) price, % to 5)
MONEY_PLACES, QTY_PLACES, PRICE_PLACES, PERCENT_PLACES, VAT_PLACES = 2, 5, 6, 5, 2
CENT = Decimal(1).scaleb(-MONEY_PLACES)
#: how long to wait after a 429 without `Retry-After`, in ms
RATE_LIMIT_DELAY_MS = 5_000
#: ImportRefID values lie in [1, IMPORT_REF_LIMIT)
IMPORT_REF_LIMIT = 2**53

_SESSION_TEXT = ("session expired", "missing value for ses")
_AUTH_TEXT = "authentication error"
_NONCE_TEXT = "invalid nonce"
_THROTTLE_TEXT = "too many requests"


class SessionExpired(Retryable):
    """iCash no longer accepts the session; the client logs in again once, else the job retries."""


class NonceRejected(Retryable):
    """iCash saw a nonce at least as large (another process on the key); nothing happened."""


def sign(nonce: int, warehouse_id: int, api_key: str, secret: str) -> str:
    """HMAC-SHA256 over `nonce + WareHouseID + api_key` with the secret key, hex UPPERCASE."""
    message = f"{nonce}{warehouse_id}{api_key}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().upper()


class NonceSource:
    """Strictly increasing nonces: Unix time in ms, or the last nonce + 1 when that is larger.

    The same millisecond, or a clock that steps back, never repeats a nonce. Thread-safe.
    """

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._last = max(self._clock_ns() // 1_000_000, self._last + 1)
            return self._last


def import_ref_id(reference: str) -> int:
    """Our reference as iCash's integer `ImportRefID`: the same on every attempt.

    The first 64 bits of SHA-256, folded into [1, 2**53). Among n references of one
    merchant, P(any two collide) ≈ n² / 2**54: 5.6e-7 at 100 000 documents, 5.6e-5 at
    a million. A collision would make `find_document` return the other document of
    the same subtype, so the step would be marked done without a document of its own.
    """
    head = hashlib.sha256(reference.encode()).digest()[:8]
    return int.from_bytes(head, "big") % (IMPORT_REF_LIMIT - 1) + 1


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"{type(value).__name__} does not go on the wire (money is Decimal or str)")


def _flatten(key: str, value: object, pairs: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for name, item in value.items():
            _flatten(f"{key}[{name}]", item, pairs)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _flatten(f"{key}[{index}]", item, pairs)
    else:
        pairs.append((key, _text(value)))


def form_fields(fields: Mapping[str, object]) -> list[tuple[str, str]]:
    """A body as form pairs, nested values as `key[0][name]` (None values are left out).

    Raises:
        TypeError: a value is a float or another type with no exact text form.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in fields.items():
        _flatten(key, value, pairs)
    return pairs


def plain(value: Decimal, places: int, min_places: int = 0) -> str:
    """`value` rounded half-up to `places`, as plain text with at least `min_places` ("24.50")."""
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP).normalize()
    text = f"{rounded:f}"
    if len(text.partition(".")[2]) < min_places:
        text = f"{rounded.quantize(Decimal(1).scaleb(-min_places)):f}"
    return text


# --- the totals rule -----------------------------------------------------------------------


class ServiceLine(NamedTuple):
    """The amounts of one `DocumentServices` line."""

    qty: Decimal
    price: Decimal  #: VAT-inclusive unit price
    vat_percent: Decimal
    discount: Decimal = Decimal(0)  #: percent off the line


@dataclass(frozen=True)
class DocumentTotals:
    base: Decimal  #: `DocumentPriceBase`: VAT-exclusive
    vat: Decimal
    total: Decimal  #: `DocumentTotalPrice`


def line_total(line: ServiceLine) -> Decimal:
    """`DocumentServiceTotalPrice`: q × price × (100 − discount%) / 100, rounded half-up to 0.01."""
    with localcontext() as context:
        context.prec = 60  # exact for DECIMAL(10,5) × DECIMAL(19,6) × percent
        raw = line.qty * line.price * (100 - line.discount) / 100
        return raw.quantize(CENT, rounding=ROUND_HALF_UP)


def document_totals(lines: Iterable[ServiceLine]) -> DocumentTotals:
    """Total = Σ line totals; the base is the gross of each VAT rate less its VAT, rounded once."""
    gross: dict[Decimal, Decimal] = {}
    for line in lines:
        gross[line.vat_percent] = gross.get(line.vat_percent, Decimal(0)) + line_total(line)
    base, total = Decimal(0), Decimal(0)
    for rate, amount in gross.items():
        base += (amount * 100 / (100 + rate)).quantize(CENT, ROUND_HALF_UP)
        total += amount
    return DocumentTotals(base=base, vat=total - base, total=total)


# --- answers -------------------------------------------------------------------------------


def _delay_ms(retry_after: str | None) -> int:
    try:
        seconds = Decimal((retry_after or "").strip())
    except ArithmeticError:
        return RATE_LIMIT_DELAY_MS  # absent, or an HTTP date: not worth a clock here
    return int(seconds * 1000) if seconds.is_finite() and seconds >= 0 else RATE_LIMIT_DELAY_MS


def _scrub(text: str, secrets: Collection[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return redact_text(text)


def reason_of(message: str) -> str:
    """A `Permanent.reason` from iCash's message: "Wrong value for X" → wrong_value_for_x."""
    return re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:64] or "rejected"


def _raise_refusal(message: str, with_session: bool, secrets: Collection[str]) -> NoReturn:
    text = message.lower()
    if any(marker in text for marker in _SESSION_TEXT) or (with_session and _AUTH_TEXT in text):
        raise SessionExpired("iCash no longer accepts the session")
    if _NONCE_TEXT in text:
        raise NonceRejected("iCash refused the nonce as not greater than the last one")
    if _THROTTLE_TEXT in text:
        raise RateLimited("iCash asked us to slow down", delay_ms=RATE_LIMIT_DELAY_MS)
    clean = _scrub(message or "no error_message", secrets)
    raise Permanent(f"iCash refused the request: {clean}", reason=reason_of(clean))


def decipher(
    status: int,
    body: bytes,
    retry_after: str | None = None,
    *,
    with_session: bool = True,
    secrets: Collection[str] = (),
) -> Any:
    """The `data` of a `status: 1` answer, or the mapped error.

    `with_session` says the call carried `ses` (so "Authentication Error" means a stale
    session, not bad keys); `secrets` are scrubbed from any message taken from the answer.

    Raises:
        RateLimited: HTTP 429 (after `Retry-After`, else 5 s) or "Too many requests".
        Retryable: HTTP 5xx, or a 2xx/3xx body that is not a JSON object with a status.
        SessionExpired: "Session expired", "Missing value for ses", or "Authentication
            Error" on a call that carried a session.
        NonceRejected: "Invalid nonce".
        Permanent: any other `status: 0` (reason from the message), or another 4xx.
    """
    if status == 429:
        raise RateLimited("iCash asked us to slow down", delay_ms=_delay_ms(retry_after))
    if status >= 500:
        raise Retryable(f"iCash answered HTTP {status}")
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "status" not in answer:
        if status >= 400:
            raise Permanent(f"iCash answered HTTP {status}", reason=f"http_{status}")
        raise Retryable(f"iCash answered HTTP {status} without a JSON status ({len(body)} bytes)")
    if str(answer["status"]) == "1" and status < 400:
        return answer.get("data")
    _raise_refusal(str(answer.get("error_message") or ""), with_session, secrets)
