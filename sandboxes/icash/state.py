"""The iCash sandbox's memory: accounts, nonces, sessions, documents and a request log.

Everything lives in one process; `reset()` forgets it all but the accounts. Auth
follows providers.md D.3.2-3.3: the signature is recomputed with the account's
secret, the nonce must exceed the last one the api_key sent, and every method
but `login` needs a live `ses`. Secrets and session ids never reach the log.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from worker.domain.redaction import REDACTED, redact
from worker.providers.icash.wire import sign

#: request log entries kept for GET /_sandbox/requests
LOG_SIZE = 500
#: body keys blanked in the request log
LOG_SECRETS = frozenset({"api_key", "signature", "ses", "secret", "secret_key"})
#: identifiers that look like long digit runs but are not card numbers
LOG_PLAIN = frozenset({"nonce", "ImportRefID", "DocumentID", "DocumentNum"})


class Refusal(Exception):
    """iCash's `status: 0` with an English `error_message` (HTTP 200)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SandboxAccount:
    """One iCash firm with one warehouse and one API user."""

    api_key: str = "sandbox-key"
    secret: str = field(default="sandbox-secret", repr=False)
    warehouse_id: int = 1
    user_id: int = 1
    store_id: int = 1
    user_name: str = "API User"
    firm_name: str = "Sandbox EOOD"
    firm_address: str = "1 Vitosha Blvd, Sofia"
    firm_mol: str = "Ivan Petrov"
    firm_eik: str = "200000001"


@dataclass
class Document:
    """A stored document: its owner's api_key and its iCash fields (with `DocumentServices`)."""

    owner: str
    fields: dict[str, Any]

    def row(self) -> dict[str, Any]:
        """As `documents-list` shows it: without the lines."""
        return {key: value for key, value in self.fields.items() if key != "DocumentServices"}


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _required(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if value in (None, ""):
        raise Refusal(f"Missing value for {key}")
    return str(value).strip()


def _integer(body: Mapping[str, Any], key: str) -> int:
    text = _required(body, key)
    if not (text.isascii() and text.isdigit()):
        raise Refusal(f"Wrong value for {key}")
    return int(text)


class SandboxState:
    """All of the sandbox's data, per account where iCash keeps it per firm."""

    def __init__(
        self,
        accounts: Sequence[SandboxAccount],
        session_ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = {account.api_key: account for account in accounts}
        self.session_ttl_s = session_ttl_s
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Forget nonces, sessions, documents, contragents and the request log."""
        self.last_nonce: dict[str, int] = {}
        self.sessions: dict[str, tuple[str, float]] = {}  #: ses → (api_key, last used)
        self.documents: list[Document] = []
        self.numbers: dict[tuple[str, str], int] = {}
        self.contragents: dict[tuple[str, str, str], int] = {}
        self.request_counts: Counter[str] = Counter()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)

    # --- auth -------------------------------------------------------------------------

    def authenticate(self, body: Mapping[str, Any]) -> SandboxAccount:
        """The account whose key signed `body`; records its nonce.

        Raises:
            Refusal: a missing field, "Authentication Error", or "Invalid nonce".
        """
        api_key = _required(body, "api_key")
        nonce = _integer(body, "nonce")
        signature = _required(body, "signature")
        warehouse = _integer(body, "WareHouseID")
        account = self.accounts.get(api_key)
        expected = sign(nonce, warehouse, api_key, account.secret if account else "")
        if account is None or not hmac.compare_digest(signature.encode(), expected.encode()):
            raise Refusal("Authentication Error")
        if warehouse != account.warehouse_id:
            raise Refusal("Wrong value for WareHouseID")
        if nonce <= self.last_nonce.get(api_key, 0):
            raise Refusal("Invalid nonce")
        self.last_nonce[api_key] = nonce
        return account

    def open_session(self, account: SandboxAccount, body: Mapping[str, Any]) -> str:
        if _integer(body, "UserID") != account.user_id:
            raise Refusal("Wrong value for UserID")
        session_id = secrets.token_hex(16)
        self.sessions[session_id] = (account.api_key, self.clock())
        return session_id

    def check_session(self, account: SandboxAccount, body: Mapping[str, Any]) -> None:
        """A live session of this account (idle time under the TTL), or a Refusal."""
        session_id = _required(body, "ses")
        owner, used = self.sessions.get(session_id, ("", 0.0))
        now = self.clock()
        if owner != account.api_key or now - used > self.session_ttl_s:
            self.sessions.pop(session_id, None)
            raise Refusal("Session expired")
        self.sessions[session_id] = (owner, now)

    def expire_sessions(self) -> int:
        """End every session (the next call with one gets "Session expired")."""
        count = len(self.sessions)
        self.sessions.clear()
        return count

    # --- documents --------------------------------------------------------------------

    def next_number(self, account: SandboxAccount, doctype: str) -> int:
        """The next 10-digit number of `doctype` for the firm (credit notes share INVOICE's)."""
        start = 2_000_000_001 if doctype == "PROFORMA" else 1_000_000_001
        number = self.numbers.get((account.api_key, doctype), start)
        self.numbers[(account.api_key, doctype)] = number + 1
        return number

    def contragent_id(self, account: SandboxAccount, name: str, tax_num: str) -> int:
        key = (account.api_key, name.lower(), tax_num)
        return self.contragents.setdefault(key, len(self.contragents) + 1)

    def add(self, account: SandboxAccount, fields: dict[str, Any]) -> Document:
        fields["DocumentID"] = len(self.documents) + 1
        document = Document(account.api_key, fields)
        self.documents.append(document)
        return document

    def owned(self, account: SandboxAccount) -> list[Document]:
        return [document for document in self.documents if document.owner == account.api_key]

    def find(self, account: SandboxAccount, body: Mapping[str, Any]) -> Document:
        """The firm's document named by `DocumentID`, or a Refusal."""
        doc_id = _integer(body, "DocumentID")
        for document in self.owned(account):
            if document.fields["DocumentID"] == doc_id:
                return document
        raise Refusal("Wrong value for DocumentID")

    # --- the request log --------------------------------------------------------------

    def log_request(self, method: str, body: Mapping[str, Any] | None) -> None:
        """Count and remember one API call, with keys, signatures and sessions blanked."""
        self.request_counts[method] += 1
        shown = {
            key: REDACTED if key in LOG_SECRETS else value if key in LOG_PLAIN else redact(value)
            for key, value in (body or {}).items()
        }
        self.request_log.append({"method": method, "at": now_text(), "body": shown})
