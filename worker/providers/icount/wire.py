"""iCount wire format, pure: canonical order → `doc/create` body, response → result.

No I/O here. Money goes out as decimal strings with the currency's exponent
("117.00"), never as floats. Items and VAT rates (one document `vat_percent`, or
per-item `taxes` when the lines carry several rates) come from `totals.money_fields`,
built so that the document total needs no rounding by iCount; the shop's own rounding
rides on a "Rounding" item. The VAT iCount shows still follows its unpublished rule:
`vat_check` predicts it and compares it with the shop's. An order's exchange rate,
when it has one, goes out as `rate`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, NoReturn

from worker.domain.events import Customer, Order
from worker.domain.money import parse_amount
from worker.domain.redaction import redact_secrets
from worker.errors import OutcomeUnknown, Permanent, RateLimited, Retryable
from worker.providers.base import ChargeRef, DocumentRef
from worker.providers.icount.totals import (
    DEFAULT_VAT_PERCENT,
    format_amount,
    is_truthy,
    money_fields,
)
from worker.providers.icount.wire_charge import pick
from worker.providers.icount.wire_docs import docnum_value
from worker.providers.icount.wire_payment import charged_payment, gift_card_note, payment_fields
from worker.providers.retry_after import retry_after_or
from worker.settings import DocumentSettings

__all__ = [
    "DEFAULT_VAT_PERCENT",
    "RATE_LIMIT_DELAY_MS",
    "RECEIPT_DOCTYPES",
    "REDACTED_FIELDS",
    "DocumentRef",
    "SessionExpired",
    "build_document_request",
    "created_document",
    "decipher",
    "emails_on_create",
    "format_amount",
    "is_truthy",
    "parse_document",
    "redact_fields",
]

#: body keys whose values are secrets or card data; never logged, stored or echoed
REDACTED_FIELDS = frozenset(
    {
        "pass",
        "sid",
        "cc_number",
        "cc_cvv",
        "cvv",
        "card_number",
        "cc_token_id",
        "token_id",
        "holder_id",
        "cc_holder_id",
        "api_token",
    }
)

#: how long to wait after a throttle answer without `Retry-After`, in ms (seed S4: 90 s)
RATE_LIMIT_DELAY_MS = 90_000
#: document types that record a payment and so need a payment block
RECEIPT_DOCTYPES = frozenset({"invrec", "receipt"})

_SESSION_MARKERS = ("invalid_sid", "invalid sid", "session expired", "session_expired")
_THROTTLE_TEXT = "too many requests"


class SessionExpired(Retryable):
    """iCount no longer knows the `sid`; the client logs in again once, else the job retries."""


# --- the request body -----------------------------------------------------------------


def _client_fields(customer: Customer) -> dict[str, object]:
    fields: dict[str, object] = {"client_name": customer.name}
    if customer.email:
        fields["email"] = customer.email
    if customer.vat_id:
        fields["vat_id"] = customer.vat_id
    address = ", ".join(part for part in (customer.address, customer.city) if part)
    if address:  # seed 000 has `client_address` only; the city goes with it (D-9)
        fields["client_address"] = address
    return fields


def _email_fields(customer: Customer, documents: DocumentSettings) -> dict[str, object]:
    if not customer.email:
        return {}
    return {"send_email": documents.email}


def _hwc(order: Order, sanity: str) -> str:
    """The document's comment: the order, and our reference, which `doc/info` shows where it
    may not show `sanity_string` (how a refused repeat finds the first document, F-DOC-21)."""
    number = order.number if order.number.startswith("#") else f"#{order.number}"
    note = gift_card_note(order)  # the part no payment block can record (wire_payment)
    return f"Order {number} · ref {sanity}" + (f" · {note}" if note else "")


def build_document_request(
    order: Order,
    *,
    doctype: str,
    documents: DocumentSettings,
    sanity: str,
    issue_date: date,
    based_on: tuple[str, str] | None = None,
    charge: ChargeRef | None = None,
    bank_account_id: int | None = None,
) -> dict[str, object]:
    """The `doc/create` body for `order`, without auth fields; a receipt type records
    `charge` (our card transaction) in its `cc` block, else the block of how the order
    was paid (`wire_payment`).

    Raises:
        TotalMismatch: the shop's total is more than `max_rounding` from its lines.
        NeedsAttention: lines at several VAT rates and one not in
            `documents.icount_tax_types` (`vat_rate_unmapped`), or a line discounted
            below zero (`negative_line`).
    """
    body: dict[str, object] = {"doctype": doctype, **_client_fields(order.customer)}
    body.update(
        currency_code=order.currency,
        lang=documents.language,
        doc_lang=documents.document_language or documents.language,
        doc_date=issue_date.isoformat(),
    )
    body.update(money_fields(order, documents))
    body.update(sanity_string=sanity, hwc=_hwc(order, sanity))
    body.update(_email_fields(order.customer, documents))
    if documents.income_type_name:
        body["income_type_name"] = documents.income_type_name
    if based_on is not None:
        body["based_on"] = [{"doctype": based_on[0], "docnum": docnum_value(based_on[1])}]
    if doctype in RECEIPT_DOCTYPES:
        body.update(
            {"cc": charged_payment(charge, issue_date, order.customer.name)}
            if charge is not None
            else payment_fields(order, documents, issue_date, bank_account_id)
        )
    return body


# --- responses ------------------------------------------------------------------------


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _raise_refusal(status: int, data: Mapping[str, Any], secrets: Collection[str]) -> NoReturn:
    reason = str(data.get("reason") or "")
    description = str(data.get("error_description") or "")
    text = f"{reason} {description}".lower()
    if any(marker in text for marker in _SESSION_MARKERS):
        raise SessionExpired("iCount no longer accepts the session id")
    if _THROTTLE_TEXT in text or reason == "too_many_requests":
        raise RateLimited("iCount asked us to slow down", delay_ms=RATE_LIMIT_DELAY_MS)
    message = redact_secrets(description or reason or "no error description", secrets)
    code = reason or (f"http_{status}" if status >= 400 else "rejected")
    raise Permanent(f"iCount refused the request: {message}", reason=redact_secrets(code, secrets))


def decipher(
    status: int,
    body: bytes,
    retry_after: str | None = None,
    *,
    secrets: Collection[str] = (),
) -> dict[str, Any]:
    """The JSON object of a successful answer, or the mapped error.

    `secrets` are scrubbed from any message taken from the answer.

    Raises:
        RateLimited: HTTP 429 or a plain-text "Too many requests" (seen with 200).
        Retryable: 5xx, or a 2xx/3xx body that is not a JSON object with a `status`.
        SessionExpired: `status: false` naming an invalid or expired `sid`.
        Permanent: `status: false` otherwise (with iCount's `reason`), or another 4xx.
    """
    if status == 429 or body.strip().lower().startswith(_THROTTLE_TEXT.encode()):
        raise RateLimited(
            "iCount asked us to slow down",
            delay_ms=retry_after_or(retry_after, RATE_LIMIT_DELAY_MS),
        )
    if status >= 500:
        raise Retryable(f"iCount answered HTTP {status}")
    data = _json_object(body)
    if data is None or "status" not in data:
        if status >= 400:
            raise Permanent(f"iCount answered HTTP {status}", reason=f"http_{status}")
        raise Retryable(f"iCount answered HTTP {status} without a JSON status ({len(body)} bytes)")
    if is_truthy(data["status"]) and status < 400:
        return data
    _raise_refusal(status, data, secrets)


def _optional_amount(value: Any) -> Decimal | None:
    try:
        return None if value is None else parse_amount(value)
    except ValueError:
        return None


def emails_on_create(body: Mapping[str, Any]) -> bool:
    """Whether iCount emails the document a `doc/create` body makes (F-DOCR-5)."""
    return is_truthy(body.get("send_email")) and bool(body.get("email"))


def created_document(data: Mapping[str, Any], body: Mapping[str, Any]) -> DocumentRef:
    """The document a `doc/create` success for `body` names (`parse_document`).

    Raises:
        OutcomeUnknown: success without a document number.
    """
    doctype = str(body.get("doctype", ""))
    return parse_document(data, emailed=emails_on_create(body), doctype=doctype)


def parse_document(data: Mapping[str, Any], *, emailed: bool, doctype: str = "") -> DocumentRef:
    """Read a `doc/create` success: top-level fields first, then a `data` sub-object.

    Raises:
        OutcomeUnknown: success without a document number; ask again with the same
            `sanity_string` to learn it.
    """
    docnum = pick(data, "docnum", "doc_number")
    if docnum is None:
        raise OutcomeUnknown("iCount reported success without a document number")
    url, client_id, total = (
        pick(data, "doc_url", "pdf_link", "doclink"),
        pick(data, "client_id"),
        pick(data, "totalwithvat", "total"),
    )
    vat = pick(data, "totalvat")
    return DocumentRef(
        doctype=str(pick(data, "doctype") or doctype),
        docnum=str(docnum),
        doc_url=None if url is None else str(url),
        client_id=None if client_id is None else str(client_id),
        total=_optional_amount(total),
        vat=_optional_amount(vat),
        emailed=emailed,
    )


def redact_fields(value: Any) -> Any:
    """A copy of a body with every `REDACTED_FIELDS` value blanked, at any depth."""
    if isinstance(value, Mapping):
        return {
            key: "[redacted]" if key in REDACTED_FIELDS else redact_fields(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_fields(item) for item in value]
    return value
