"""iCash wire format, pure: method names, field lists, signature, form bodies, answers.

No I/O here. Every method the client calls is one iCash documents (icash.bg/bg/api/,
sections 3.01-3.22; providers.md C and D.3; facts register docs/providers/icash.md),
and every name it sends lives in this module.

- Bodies are flat form fields; values are text (`form_fields`).
- `ImportRefID` is a String(30) on `new-operation` and an Integer filter on
  `operations-list` / `documents-list`: we send a decimal integer in [1, 2**31 - 1]
  (`import_ref_id`), which fits both and any signed 32-bit column behind them.
- 31 bits are few enough that two of a merchant's references may share one, so each
  operation also carries our whole reference's hash in its `Comment` (`comment_token`),
  which `get-operation` shows as `OperationComment`: a look-up takes an operation as
  ours only when that token is there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Collection, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NoReturn

from worker.domain.redaction import redact_secrets
from worker.errors import Permanent, RateLimited, Retryable
from worker.providers.retry_after import retry_after_or

# --- methods and fields (the one place that names them) ---------------------------------

LOGIN = "login"
GET_CASH_REGISTERS = "get-cash-registers"  #: 3.02
GET_PAY_TYPES = "get-pay-types"  #: 3.06
GET_SALE_ITEMS = "get-sale-items"  #: 3.12
GET_CONTRAGENTS = "get-contragents"  #: 3.09
ADD_CONTRAGENT = "add-contragent"  #: 3.08
NEW_OPERATION = "new-operation"  #: 3.13
GET_OPERATION = "get-operation"  #: 3.14
ADD_SALE_ITEM = "add-operation-sale-item"  #: 3.15
PRINT_OPERATION = "print-operation"  #: 3.18
ADD_PAYMENT = "add-operation-payment"  #: 3.19
OPERATIONS_LIST = "operations-list"  #: 3.20
DOCUMENTS_LIST = "documents-list"  #: 3.21
GET_DOCUMENT = "get-document"  #: 3.22
#: sent on every call (`ses` after login); only nonce, WareHouseID and api_key are signed
AUTH_FIELDS = ("api_key", "nonce", "signature", "WareHouseID", "UserID", "ses")
SELL, RETURN = "Sell", "ReturnClient"  #: `OperationType`
#: `OperationStatus`: made but not finalised; any other but DELETED is finalised (a guess:
#: the statuses are listed, not explained, api-3.20)
TEMP = "TEMP"
LIVE_STATUSES = ("TEMP", "NORMAL", "EDITED", "FOR_DOWNLOAD", "DOWNLOADED", "POS_OPEN")
#: our name as the external system (`ImportSource`, String 30)
IMPORT_SOURCE = "invoicebridge"
#: list methods answer at most this many rows a page (`count`, max 100)
LIST_MAX_COUNT = 100
#: decimal places iCash keeps: money DECIMAL(15,2) / (10,2), a sale item's price (10,5)
MONEY_PLACES = 2
CENT = Decimal(1).scaleb(-MONEY_PLACES)
#: how long to wait after a 429 without `Retry-After`, in ms
RATE_LIMIT_DELAY_MS = 5_000
#: ImportRefID values lie in [1, IMPORT_REF_LIMIT]
IMPORT_REF_LIMIT = 2**31 - 1
#: `FiskBonDate` of a return: the sale's receipt time as DD-MM-YY HH:mm
FISK_BON_DATE = "%d-%m-%y %H:%M"

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


def import_ref_id(reference: str) -> int:
    """Our reference as iCash's `ImportRefID`: the same on every attempt, in [1, 2**31 - 1]
    (the first 64 bits of its SHA-256, folded). Two references may share one (among n
    of a merchant's, P ≈ n² / 2**32); `comment_token` tells their operations apart."""
    head = hashlib.sha256(reference.encode()).digest()[:8]
    return int.from_bytes(head, "big") % IMPORT_REF_LIMIT + 1


def comment_token(reference: str) -> str:
    """The mark of our reference in an operation's `Comment`: 64 bits of its SHA-256."""
    return "ib:" + hashlib.sha256(reference.encode()).hexdigest()[:16]


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


# --- answers -------------------------------------------------------------------------------


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
    clean = redact_secrets(message or "no error_message", secrets)
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
        raise RateLimited(
            "iCash asked us to slow down", delay_ms=retry_after_or(retry_after, RATE_LIMIT_DELAY_MS)
        )
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
