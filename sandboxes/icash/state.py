"""The iCash sandbox's memory: accounts, nonces, sessions, contragents, operations,
documents, the switches and a request log.

Everything lives in one process; `reset()` forgets it all but the accounts, and puts the
switches back to the ones the sandbox was started with. Auth: the signature is
HMAC-SHA256(secret_key, nonce + WareHouseID + api_key) in 64 uppercase hex characters,
the nonce must exceed the last one the api_key sent, and every method but `login` needs
a live `ses`. Secrets and session ids never reach the log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandboxes.icash.fields import Spec
from sandboxes.icash.models import (
    Contragent,
    Document,
    Operation,
    Refusal,
    SandboxAccount,
    Switches,
    now_text,
)
from worker.domain.redaction import REDACTED, redact

#: request log entries kept for GET /_sandbox/requests
LOG_SIZE = 500
#: body keys blanked in the request log
LOG_SECRETS = frozenset({"api_key", "signature", "ses", "secret", "secret_key"})
#: identifiers that look like long digit runs but are not card numbers
LOG_PLAIN = frozenset(
    {
        "nonce",
        "ImportRefID",
        "DocumentID",
        "DocumentNum",
        "OperationID",
        "FiskBonRcpNum",
        "FiskDeviceNum",
        "FiskBonUUID",
        "ContragentTaxNum",
        "ContragentVatNum",
    }
)


def sign(nonce: int, warehouse_id: int, api_key: str, secret: str) -> str:
    """The iCash signature (2. Authorization): uppercase hex HMAC-SHA256."""
    message = f"{nonce}{warehouse_id}{api_key}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().upper()


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
        switches: Switches | None = None,
    ) -> None:
        self.accounts = {account.api_key: account for account in accounts}
        self.session_ttl_s = session_ttl_s
        self.clock = clock
        self.initial_switches = switches or Switches()
        self.reset()

    def reset(self) -> None:
        """Forget nonces, sessions, contragents, operations, documents and the request log."""
        self.switches = self.initial_switches
        self.last_nonce: dict[str, int] = {}
        self.sessions: dict[str, tuple[str, float]] = {}  #: ses → (api_key, last used)
        self.contragents: list[Contragent] = []
        self.operations: list[Operation] = []
        self.documents: list[Document] = []
        self.counters: Counter[str] = Counter()
        self.request_counts: Counter[str] = Counter()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)

    def next_id(self, kind: str, start: int = 1) -> int:
        """The next number of a sandbox-wide (or per-firm, by `kind`) counter."""
        self.counters[kind] += 1
        return start + self.counters[kind] - 1

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

    # --- what the firms own -----------------------------------------------------------

    def contragent(self, account: SandboxAccount, contragent_id: int, name: str) -> Contragent:
        for contragent in self.contragents:
            if contragent.owner == account.api_key and contragent.id == contragent_id:
                return contragent
        raise Refusal(f"Wrong value for {name}")

    def owned_operations(self, account: SandboxAccount) -> list[Operation]:
        return [op for op in self.operations if op.owner == account.api_key]

    def operation(self, account: SandboxAccount, operation_id: int) -> Operation:
        for operation in self.owned_operations(account):
            if operation.id == operation_id:
                return operation
        raise Refusal("Wrong value for OperationID")

    def visible_documents(self, account: SandboxAccount | None = None) -> list[Document]:
        """The documents that exist by now (a delayed one appears at its `visible_at`)."""
        now = self.clock()
        return [
            document
            for document in self.documents
            if document.visible_at <= now and (account is None or document.owner == account.api_key)
        ]

    # --- the request log --------------------------------------------------------------

    def log_request(self, method: str, body: Mapping[str, Any] | None) -> None:
        """Count and remember one API call, with keys, signatures and sessions blanked."""
        self.request_counts[method] += 1
        shown = {
            key: REDACTED if key in LOG_SECRETS else value if key in LOG_PLAIN else redact(value)
            for key, value in (body or {}).items()
        }
        self.request_log.append({"method": method, "at": now_text(), "body": shown})


@dataclass
class Call:
    """One authenticated API call: its body and its checked fields (`values`)."""

    state: SandboxState
    account: SandboxAccount
    body: Mapping[str, Any]
    values: dict[str, Any]

    @property
    def switches(self) -> Switches:
        return self.state.switches

    def imported_as(self, source: str, ref: str) -> bool:
        """Whether what was imported as `source` and `ref` passes the call's `ImportSource`
        and `ImportRefID` filters (anything does under `ignore_import_filters`)."""
        if self.switches.ignore_import_filters:
            return True
        wanted_source, wanted_ref = self.values["ImportSource"], self.values["ImportRefID"]
        return wanted_source in (None, source) and wanted_ref in (None, ref)


Handler = Callable[[Call], Any]


@dataclass(frozen=True)
class Method:
    """A served method: its documented fields and what it does."""

    schema: Mapping[str, Spec]
    handler: Handler
    needs_session: bool = True
