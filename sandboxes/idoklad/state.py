"""The iDoklad sandbox's memory: API clients, tokens, companies, emails, the request log, limits.

Each API client (client id + secret) owns one company: its contacts, invoices and
credit notes. Ids are integers from one counter across the sandbox (so an invoice
id never names a credit note); document numbers run per company, year and type:
invoices "20260001", credit notes "D20260001". `reset()` forgets everything but the
clients and restores the initial configuration. Secrets never reach the log.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from sandboxes.idoklad.models import CURRENCY_CODES
from sandboxes.kit.faults import Faults
from worker.domain.redaction import redact

#: request log entries kept for GET /_sandbox/requests
LOG_SIZE = 500
DEFAULT_CLIENTS = {"demo-client": "sandbox-secret"}
Clock = Callable[[], float]


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Company:
    """One iDoklad account, reached by one API client."""

    client_id: str
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    credit_notes: dict[int, dict[str, Any]] = field(default_factory=dict)
    serials: Counter[str] = field(default_factory=Counter)

    def number(
        self, prefix: str, year: int, *, take: bool, wanted: object = None
    ) -> tuple[int, str]:
        """The next (serial, DocumentNumber) of a series; `take` consumes it. A `wanted`
        serial (the `DocumentSerialNumber` a Default model proposed) is used while it is
        still free, else the next one is (sandbox-defined, fact I-12)."""
        serial = self.serials[f"{prefix}{year}"] + 1
        if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > serial:
            serial = wanted
        if take:
            self.serials[f"{prefix}{year}"] = serial
        return serial, f"{prefix}{year}{serial:04d}"


class RateLimiter:
    """A token bucket over every API call: `rate` per second, bursts of max(1, rate)."""

    def __init__(self, rate: float | None, clock: Clock) -> None:
        self.clock = clock
        self.configure(rate)

    def configure(self, rate: float | None) -> None:
        self.rate = rate
        self.tokens = max(1.0, rate or 0.0)
        self.stamp = self.clock()

    def take(self) -> int | None:
        """None when the call may go ahead, else whole seconds until it could."""
        if not self.rate:
            return None
        now, capacity = self.clock(), max(1.0, self.rate)
        self.tokens = min(capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return max(1, math.ceil((1 - self.tokens) / self.rate))


class SandboxState:
    """All of the sandbox's data, plus the settings that change its answers."""

    def __init__(
        self,
        clients: Mapping[str, str],
        *,
        token_ttl_s: int,
        rate_limit_per_s: float | None,
        clock: Clock,
    ) -> None:
        self.clients = dict(clients)
        self.token_ttl_s = token_ttl_s
        self.clock = clock
        self.limiter = RateLimiter(rate_limit_per_s, clock)
        self._initial_rate = rate_limit_per_s
        self.reset()

    def reset(self) -> None:
        """Forget tokens, documents, contacts, emails and the log; restore the config."""
        self.tokens: dict[str, tuple[str, float]] = {}
        self.companies = {client_id: Company(client_id) for client_id in self.clients}
        self.last_id = 0
        self.emails: list[dict[str, Any]] = []
        self.request_counts: Counter[str] = Counter()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
        self.order_number_filter = True
        #: answer lists unfiltered, as a service ignoring `filter` would (guess I-8)
        self.ignore_filters = False
        self.limiter.configure(self._initial_rate)

    def new_id(self) -> int:
        self.last_id += 1
        return self.last_id

    # --- auth -----------------------------------------------------------------------------

    def issue_token(self, client_id: str) -> str:
        now = self.clock()
        self.tokens = {t: entry for t, entry in self.tokens.items() if entry[1] > now}
        token = secrets.token_urlsafe(32)
        self.tokens[token] = (client_id, self.clock() + self.token_ttl_s)
        return token

    def company_for(self, token: str | None) -> Company | None:
        """The company a bearer token opens, or None (unknown or expired)."""
        client_id, expires_at = self.tokens.get(token or "", ("", 0.0))
        if not client_id or self.clock() >= expires_at:
            return None
        return self.companies[client_id]

    def expire_tokens(self) -> int:
        count = len(self.tokens)
        self.tokens.clear()
        return count

    # --- records --------------------------------------------------------------------------

    def record_email(self, company: Company, doctype: str, entity: dict[str, Any], to: str) -> None:
        entity["IsSentToPurchaser"] = True
        self.emails.append(
            {
                "doctype": doctype,
                "docnum": entity["DocumentNumber"],
                "to": to,
                "id": entity["Id"],
                "client_id": company.client_id,
                "at": now_text(),
            }
        )

    def log_request(self, method: str, path: str, query: Mapping[str, str], body: object) -> None:
        """Count and remember one call, with secrets blanked."""
        self.request_counts[path] += 1
        entry = {"method": method, "path": path, "query": dict(query), "body": redact(body)}
        self.request_log.append({**entry, "at": now_text()})

    def documents(self) -> list[dict[str, Any]]:
        """Every invoice and credit note, oldest first, in the control view."""
        rows = [
            (doc, "IssuedInvoice", c)
            for c in self.companies.values()
            for doc in c.invoices.values()
        ]
        rows += [
            (doc, "CreditNote", c)
            for c in self.companies.values()
            for doc in c.credit_notes.values()
        ]
        rows.sort(key=lambda row: int(row[0]["Id"]))
        return [document_view(doc, doctype, company) for doc, doctype, company in rows]


def _money(value: Decimal) -> str:
    return f"{value:f}"


def document_view(doc: dict[str, Any], doctype: str, company: Company) -> dict[str, Any]:
    """A document as `GET /_sandbox/documents` shows it; money as decimal strings."""
    items = doc.get("IssuedInvoiceItems") or doc.get("CreditNoteItems") or []
    return {
        "doctype": doctype,
        "docnum": doc["DocumentNumber"],
        "id": doc["Id"],
        "client_id": company.client_id,
        "purchaser_id": doc.get("PurchaserId"),
        "order_number": doc.get("OrderNumber"),
        "variable_symbol": doc.get("VariableSymbol"),
        "description": doc.get("Description"),
        "date_of_issue": doc.get("DateOfIssue"),
        "total": _money(doc["TotalWithVat"]),
        "vat": _money(doc["TotalVat"]),
        "currency": CURRENCY_CODES.get(doc["CurrencyId"], "?"),
        "paid": doc.get("PaymentStatus") == 1,
        "emailed": bool(doc.get("IsSentToPurchaser")),
        "credited_invoice_id": doc.get("CreditNoteForDocumentId"),
        "items": [
            {
                "name": i["Name"],
                "amount": _money(Decimal(i["Amount"])),
                "unit_price": _money(Decimal(i["UnitPrice"])),
                "total": _money(i["PriceTotalWithVat"]),
            }
            for i in items
        ],
    }


STATE = web.AppKey("idoklad_sandbox_state", SandboxState)
COMPANY = web.RequestKey("idoklad_sandbox_company", Company)  #: set by the API middleware
FAULTS = web.AppKey("idoklad_sandbox_faults", Faults)
