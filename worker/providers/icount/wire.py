"""iCount wire format, pure: canonical order → `doc/create` body, totals rule, response → result.

No I/O here. `expected_total` (implemented in `totals`, re-exported here) is *the*
totals rule: the builder uses it to set `roundup`, and the sandbox imports it to
compute the document total, so both sides always agree. Money goes out as
decimal strings with the currency's exponent ("117.00"), never as floats.

Discounts: the sum of the lines' discounts goes to one document-level field,
`discount_incvat` for VAT-inclusive orders or `discount` for VAT-exclusive ones.
The VAT-exclusive form assumes the discounts are on taxable lines (iCount takes
the document discount off the VAT base); a discount on a tax-exempt line shows
up as a rounding residual and, beyond `max_rounding`, as `TotalMismatch`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, NoReturn

from worker.domain.events import Customer, Line, Order
from worker.domain.money import parse_amount
from worker.domain.redaction import redact_text
from worker.errors import OutcomeUnknown, Permanent, RateLimited, Retryable, TotalMismatch
from worker.providers.base import DocumentRef
from worker.providers.icount.totals import (
    DEFAULT_VAT_PERCENT,
    DocumentTotals,
    document_totals,
    expected_total,
    format_amount,
    is_truthy,
)
from worker.settings import DocumentSettings

__all__ = [
    "DEFAULT_VAT_PERCENT",
    "RATE_LIMIT_DELAY_MS",
    "RECEIPT_DOCTYPES",
    "REDACTED_FIELDS",
    "DocumentRef",
    "DocumentTotals",
    "SessionExpired",
    "build_document_request",
    "decipher",
    "document_totals",
    "expected_total",
    "format_amount",
    "is_truthy",
    "parse_document",
    "redact_fields",
]

#: body keys whose values are secrets or card data; never logged, stored or echoed
REDACTED_FIELDS = frozenset({
    "pass", "sid", "cc_number", "cc_cvv", "cvv", "card_number", "cc_token_id", "token_id",
    "holder_id", "cc_holder_id", "api_token",
})  # fmt: skip

#: how long to wait after a throttle answer without `Retry-After`, in ms (seed S4: 90 s)
RATE_LIMIT_DELAY_MS = 90_000
#: document types that record a payment and so need a payment block
RECEIPT_DOCTYPES = frozenset({"invrec", "receipt"})

_SESSION_MARKERS = ("invalid_sid", "invalid sid", "session expired", "session_expired")
_THROTTLE_TEXT = "too many requests"


class SessionExpired(Retryable):
    """iCount no longer knows the `sid`; the client logs in again once, else the job retries."""


# --- the request body -----------------------------------------------------------------


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _quantity(value: Decimal) -> int | str:
    return int(value) if value == value.to_integral_value() else _plain(value)


def _item(line: Line, order: Order) -> dict[str, object]:
    item: dict[str, object] = {"description": line.description}
    if line.sku:
        item["sku"] = line.sku
    item["quantity"] = _quantity(line.quantity)
    key = "unitprice_incvat" if order.prices_include_tax else "unitprice"
    item[key] = format_amount(line.unit_price, order.currency)
    if not line.taxable:
        item["tax_exempt"] = True
    return item


def _client_fields(customer: Customer) -> dict[str, object]:
    fields: dict[str, object] = {"client_name": customer.name}
    if customer.email:
        fields["email"] = customer.email
    if customer.vat_id:
        fields["vat_id"] = customer.vat_id
    if customer.address:
        fields["client_address"] = customer.address
    if customer.city:
        fields["client_city"] = customer.city
    return fields


def _email_fields(customer: Customer, documents: DocumentSettings) -> dict[str, object]:
    if not customer.email:
        return {}
    if not documents.email:
        return {"send_email": 0}
    return {"send_email": 1, "email_to_client": 1}


def _vat_percent(order: Order, documents: DocumentSettings) -> Decimal | None:
    rates = {line.tax_rate for line in order.lines if line.taxable and line.tax_rate is not None}
    if len(rates) > 1:
        if order.prices_include_tax:
            return None  # the total is right either way; iCount extracts at its own rate
        shown = ", ".join(sorted(_plain(rate) for rate in rates))
        raise Permanent(
            f"taxable lines carry different VAT rates ({shown})", reason="unsupported_tax"
        )
    if rates:
        return rates.pop()
    return None if order.prices_include_tax else documents.default_vat_percent


def _reference(order: Order) -> str:
    return order.number.strip().lstrip("#") or order.order_id


def _payment_fields(order: Order, doctype: str, method: str, day: date) -> dict[str, object]:
    if doctype not in RECEIPT_DOCTYPES:
        return {}
    total = format_amount(order.total, order.currency)
    if method == "cc":
        return {
            "cc": {
                "sum": total,
                "date": day.isoformat(),
                "num_of_payments": 1,
                "first_payment": total,
                "confirmation_code": _reference(order),
            }
        }
    if method == "banktransfer":
        return {"banktransfer": {"sum": total, "date": day.isoformat(), "account": "shop"}}
    return {"cash": {"sum": total}}


def _hwc(order: Order) -> str:
    number = order.number if order.number.startswith("#") else f"#{order.number}"
    return f"Shopify order {number}"


def _reconcile(body: dict[str, object], order: Order, documents: DocumentSettings) -> None:
    expected = expected_total(body, order.currency)
    difference = order.total - expected
    if abs(difference) > documents.max_rounding:
        raise TotalMismatch(
            f"document total {expected} {order.currency} differs from the shop total "
            f"{order.total} {order.currency} by more than {documents.max_rounding}"
        )
    if difference:
        body["roundup"] = format_amount(difference, order.currency)


def build_document_request(
    order: Order,
    *,
    doctype: str,
    documents: DocumentSettings,
    sanity: str,
    issue_date: date,
    based_on: tuple[str, str] | None = None,
) -> dict[str, object]:
    """The `doc/create` body for `order`, without auth fields.

    Raises:
        Permanent: VAT-exclusive taxable lines carry different rates (`unsupported_tax`).
        TotalMismatch: the document cannot reach the shop's total within `max_rounding`.
    """
    body: dict[str, object] = {"doctype": doctype, **_client_fields(order.customer)}
    body.update(
        currency_code=order.currency, lang=documents.language, doc_date=issue_date.isoformat()
    )
    body["items"] = [_item(line, order) for line in order.lines]
    discount = sum((line.discount for line in order.lines), Decimal(0))
    if discount:
        key = "discount_incvat" if order.prices_include_tax else "discount"
        body[key] = format_amount(discount, order.currency)
    rate = _vat_percent(order, documents)
    if rate is not None:
        body["vat_percent"] = _plain(rate)
    body.update(sanity_string=sanity, hwc=_hwc(order))
    body.update(_email_fields(order.customer, documents))
    if documents.income_type_name:
        body["income_type_name"] = documents.income_type_name
    if based_on is not None:
        body["based_on"] = [{"doctype": based_on[0], "docnum": based_on[1]}]
    _reconcile(body, order, documents)
    body.update(_payment_fields(order, doctype, documents.payment_method, issue_date))
    return body


# --- responses ------------------------------------------------------------------------


def _delay_ms(retry_after: str | None) -> int:
    if retry_after is None:
        return RATE_LIMIT_DELAY_MS
    try:
        seconds = Decimal(retry_after.strip())
    except ArithmeticError:
        return RATE_LIMIT_DELAY_MS  # an HTTP date: not worth a clock here
    return int(seconds * 1000) if seconds.is_finite() and seconds >= 0 else RATE_LIMIT_DELAY_MS


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _scrub(text: str, secrets: Collection[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return redact_text(text)


def _raise_refusal(status: int, data: Mapping[str, Any], secrets: Collection[str]) -> NoReturn:
    reason = str(data.get("reason") or "")
    description = str(data.get("error_description") or "")
    text = f"{reason} {description}".lower()
    if any(marker in text for marker in _SESSION_MARKERS):
        raise SessionExpired("iCount no longer accepts the session id")
    if _THROTTLE_TEXT in text or reason == "too_many_requests":
        raise RateLimited("iCount asked us to slow down", delay_ms=RATE_LIMIT_DELAY_MS)
    message = _scrub(description or reason or "no error description", secrets)
    code = reason or (f"http_{status}" if status >= 400 else "rejected")
    raise Permanent(f"iCount refused the request: {message}", reason=_scrub(code, secrets))


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
        raise RateLimited("iCount asked us to slow down", delay_ms=_delay_ms(retry_after))
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


def _pick(data: Mapping[str, Any], *keys: str) -> Any:
    nested = data.get("data")
    for source in (data, nested if isinstance(nested, Mapping) else {}):
        for key in keys:
            value = source.get(key)
            if value not in (None, ""):
                return value
    return None


def _optional_amount(value: Any) -> Decimal | None:
    try:
        return None if value is None else parse_amount(value)
    except ValueError:
        return None


def parse_document(data: Mapping[str, Any], *, emailed: bool, doctype: str = "") -> DocumentRef:
    """Read a `doc/create` success: top-level fields first, then a `data` sub-object.

    Raises:
        OutcomeUnknown: success without a document number; ask again with the same
            `sanity_string` to learn it.
    """
    docnum = _pick(data, "docnum", "doc_number")
    if docnum is None:
        raise OutcomeUnknown("iCount reported success without a document number")
    url, client_id, total = (
        _pick(data, "doc_url", "pdf_link", "doclink"),
        _pick(data, "client_id"),
        _pick(data, "totalwithvat", "total"),
    )
    return DocumentRef(
        doctype=str(_pick(data, "doctype") or doctype),
        docnum=str(docnum),
        doc_url=None if url is None else str(url),
        client_id=None if client_id is None else str(client_id),
        total=_optional_amount(total),
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
