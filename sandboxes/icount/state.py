"""The iCount sandbox's memory: accounts, sessions, clients, documents, emails and a request log.

Everything lives in one process; `reset()` forgets it all but the accounts (stored
cards and card transactions included: `cards.CardStore`) and puts the switches
(duplicate mode, rounding rule and rounding) back to their start-up values.
Document numbers run per document type across the whole sandbox (so a doc URL
names one document even with several accounts); secrets and card data never
reach the stored documents or the request log (`wire.redact_fields`).
"""

from __future__ import annotations

import secrets
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sandboxes.icount.cards import CardStore
from sandboxes.icount.rounding import (
    DEFAULT_ROUNDING,
    DEFAULT_RULE,
    DocumentTotals,
    Rounding,
    RoundingRule,
)
from sandboxes.icount.rules import PAYMENT_FIELDS, Refusal
from worker.providers.icount.wire import format_amount, redact_fields

DuplicateMode = Literal["return_existing", "reject"]

#: first number issued per document type
FIRST_DOCNUM = {
    "invoice": 10001,
    "deal": 20001,
    "invrec": 30001,
    "offer": 40001,
    "receipt": 50001,
    "delivery": 60001,
    "refund": 70001,
    "order": 80001,
}
#: request log entries kept for GET /_sandbox/requests
LOG_SIZE = 500


@dataclass(frozen=True)
class SandboxAccount:
    """One iCount company the sandbox knows, with its three ways in."""

    cid: str = "demo"
    user: str = "api"
    password: str = field(default="sandbox-pass", repr=False)
    token: str = field(default="API3E8-sandbox-token", repr=False)
    company_name: str = "Sandbox Ltd"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Document:
    """A document as the sandbox keeps it: the redacted body plus what iCount added."""

    cid: str
    doctype: str
    docnum: str
    client_id: str
    currency: str
    body: dict[str, Any]
    totals: DocumentTotals
    created_at: str = field(default_factory=_now)
    cancelled: bool = False
    emails: int = 0

    @property
    def doc_date(self) -> str:
        """The document's date (ISO): the `doc_date` it was given, else the day it was made."""
        return str(self.body.get("doc_date") or self.created_at[:10])

    def info_view(self, *, show_sanity_string: bool) -> dict[str, Any]:
        """The `doc/info` view: `to_json`, with `sanity_string` only where the switch shows it."""
        view = self.to_json()
        if not show_sanity_string:
            del view["sanity_string"]
        return view

    def search_row(self) -> dict[str, Any]:
        """One `doc/search` row: type, number, date, client and total; no comment, no
        `sanity_string`, no URL (a live search row carries no `doc_url` either)."""
        view = self.to_json()
        keys = (
            "doctype",
            "docnum",
            "client_id",
            "client_name",
            "email",
            "vat_id",
            "currency",
            "totalwithvat",
            "cancelled",
        )
        return {**{key: view[key] for key in keys}, "doc_date": self.doc_date}

    def to_json(self) -> dict[str, Any]:
        """The inspection view (`GET /_sandbox/documents`); money as decimal strings."""
        body, money = self.body, self.totals
        payments = {name: body[name] for name in PAYMENT_FIELDS if body.get(name)}
        return {
            "cid": self.cid,
            "doctype": self.doctype,
            "docnum": self.docnum,
            "sanity_string": body.get("sanity_string"),
            "client_id": self.client_id,
            "client_name": body.get("client_name"),
            "email": body.get("email"),
            "vat_id": body.get("vat_id"),
            "currency": self.currency,
            "lang": body.get("lang") or body.get("doc_lang"),
            "doc_date": body.get("doc_date"),
            "items": body.get("items", []),
            "hwc": body.get("hwc"),
            "based_on": body.get("based_on"),
            "totalwithvat": format_amount(money.total, self.currency),
            "vat": format_amount(money.vat, self.currency),
            **self.vat_fields(),
            "payments": payments,
            "cancelled": self.cancelled,
            "emails_sent": self.emails,
            "created_at": self.created_at,
        }

    def vat_fields(self) -> dict[str, str]:
        """`totalvat` and `vat_percent`, as `doc/create` answers them (names guessed: D-20)."""
        return {
            "totalvat": format_amount(self.totals.vat, self.currency),
            "vat_percent": f"{self.totals.vat_percent.normalize():f}",
        }


class SandboxState:
    """All of the sandbox's data, plus the few settings that change its answers."""

    def __init__(
        self,
        accounts: Sequence[SandboxAccount],
        duplicate_mode: DuplicateMode = "reject",
        info_shows_sanity_string: bool = False,
        rounding_rule: RoundingRule = DEFAULT_RULE,
        rounding: Rounding = DEFAULT_ROUNDING,
    ) -> None:
        self.accounts = {account.cid: account for account in accounts}
        self.by_token = {account.token: account for account in accounts if account.token}
        self._defaults = (duplicate_mode, info_shows_sanity_string, rounding_rule, rounding)
        self.reset()

    def reset(self) -> None:
        """Forget sessions, documents, clients, emails, cards, transactions and the request log;
        the switches go back to the values the sandbox was started with."""
        self.sessions: dict[str, str] = {}
        self.documents: list[Document] = []
        self.by_sanity: dict[tuple[str, str], Document] = {}
        self.clients: dict[tuple[str, str, str], str] = {}
        self.counters: dict[str, int] = dict(FIRST_DOCNUM)
        self.emails: list[dict[str, Any]] = []
        self.request_counts: Counter[str] = Counter()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self.cards = CardStore()
        #: the answer to a repeated `sanity_string`: refused (the default) or the first document
        self.duplicate_mode: DuplicateMode = self._defaults[0]
        #: whether `doc/info` shows a document's `sanity_string` (else only its `hwc`)
        self.info_shows_sanity_string: bool = self._defaults[1]
        #: how documents are totalled (`rounding.document_totals`); iCount's rule is unknown
        self.rounding_rule: RoundingRule = self._defaults[2]
        self.rounding: Rounding = self._defaults[3]

    # --- auth -----------------------------------------------------------------------

    def check_password(self, body: Mapping[str, Any]) -> SandboxAccount:
        """The account named by cid/user/pass in `body`, or `Refusal("auth_failed")`."""
        account = self.accounts.get(str(body.get("cid") or ""))
        if account is None or (str(body.get("user")), str(body.get("pass"))) != (
            account.user,
            account.password,
        ):
            raise Refusal("auth_failed", "company id, user or password is wrong")
        return account

    def authenticate(self, bearer: str | None, body: Mapping[str, Any]) -> SandboxAccount:
        """Who is calling: a Bearer token, else a `sid`, else cid/user/pass in the body."""
        if bearer is not None:
            account = self.by_token.get(bearer)
            if account is None:
                raise Refusal("auth_failed", "the API token is not valid")
            return account
        if body.get("sid"):
            cid = self.sessions.get(str(body["sid"]))
            if cid is None:
                raise Refusal("invalid_sid", "Invalid sid: the session expired or never existed")
            return self.accounts[cid]
        if not any(body.get(key) for key in ("cid", "user", "pass")):
            raise Refusal("auth_failed", "no credentials: send a token, a sid or cid/user/pass")
        return self.check_password(body)

    def open_session(self, account: SandboxAccount) -> str:
        sid = secrets.token_hex(16)
        self.sessions[sid] = account.cid
        return sid

    def expire_sessions(self) -> int:
        """Forget every session id (the next call with one gets `invalid_sid`)."""
        count = len(self.sessions)
        self.sessions.clear()
        return count

    # --- documents ------------------------------------------------------------------

    def client_id(self, cid: str, body: Mapping[str, Any]) -> str:
        """The id of the client named in `body`: given, or matched/created by name + email."""
        if body.get("client_id"):
            return str(body["client_id"])
        key = (
            cid,
            str(body.get("client_name") or body.get("custom_client_id")),
            str(body.get("email") or "").lower(),
        )
        if key not in self.clients:
            self.clients[key] = str(len(self.clients) + 1)
        return self.clients[key]

    def existing(self, cid: str, body: Mapping[str, Any]) -> Document | None:
        """The document an earlier call made with this body's `sanity_string`, if any."""
        sanity = body.get("sanity_string")
        return None if not sanity else self.by_sanity.get((cid, str(sanity)))

    def add_document(
        self, cid: str, body: Mapping[str, Any], currency: str, totals: DocumentTotals
    ) -> Document:
        """Number, store and index a validated document (card data and secrets removed)."""
        doctype = str(body["doctype"])
        docnum = str(self.counters[doctype])
        self.counters[doctype] += 1
        document = Document(
            cid=cid,
            doctype=doctype,
            docnum=docnum,
            client_id=self.client_id(cid, body),
            currency=currency,
            body=redact_fields(dict(body)),
            totals=totals,
        )
        self.documents.append(document)
        if body.get("sanity_string"):
            self.by_sanity[(cid, str(body["sanity_string"]))] = document
        return document

    def of_company(self, cid: str) -> list[Document]:
        """The documents of one account, in the order they were made."""
        return [document for document in self.documents if document.cid == cid]

    def record_email(self, document: Document, to: str, subject: str) -> None:
        document.emails += 1
        self.emails.append(
            {
                "to": to,
                "doctype": document.doctype,
                "docnum": document.docnum,
                "subject": subject,
                "cid": document.cid,
                "at": _now(),
            }
        )

    def find(self, doctype: str, docnum: str, cid: str | None = None) -> Document | None:
        for document in self.documents:
            if (document.doctype, document.docnum) == (doctype, docnum) and (
                cid is None or document.cid == cid
            ):
                return document
        return None

    def log_request(self, path: str, body: object, auth: str | None) -> None:
        """Count and remember one API call, with secrets blanked."""
        self.request_counts[path] += 1
        self.request_log.append(
            {"path": path, "auth": auth, "at": _now(), "body": redact_fields(body)}
        )
