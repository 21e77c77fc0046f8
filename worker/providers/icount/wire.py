"""iCount wire format, pure: canonical order → `doc/create` body, totals rule, response → result.

No I/O here. `expected_total` is *the* totals rule: the builder uses it to set
`roundup`, and the sandbox imports it to compute the document total, so both
sides always agree. Money goes out as decimal strings with the currency's
exponent ("117.00"), never as floats.

Discounts: the sum of the lines' discounts goes to one document-level field,
`discount_incvat` for VAT-inclusive orders or `discount` for VAT-exclusive ones.
The VAT-exclusive form assumes the discounts are on taxable lines (iCount takes
the document discount off the VAT base); a discount on a tax-exempt line shows
up as a rounding residual and, beyond `max_rounding`, as `TotalMismatch`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict

from worker.domain.events import Customer, Line, Order
from worker.domain.money import parse_amount, quantize
from worker.domain.redaction import redact_text
from worker.errors import OutcomeUnknown, Permanent, RateLimited, Retryable, TotalMismatch
from worker.settings import DocumentSettings

#: body keys whose values are secrets or card data; never logged, stored or echoed
REDACTED_FIELDS = frozenset({
    "pass", "sid", "cc_number", "cc_cvv", "cvv", "card_number", "cc_token_id", "token_id",
    "holder_id", "cc_holder_id", "api_token",
})  # fmt: skip

#: VAT percent iCount applies when a body names none (Israel's standard rate)
DEFAULT_VAT_PERCENT = Decimal(18)
#: how long to wait after a throttle answer without `Retry-After`, in ms (seed S4: 90 s)
RATE_LIMIT_DELAY_MS = 90_000
#: document types that record a payment and so need a payment block
RECEIPT_DOCTYPES = frozenset({"invrec", "receipt"})

_SESSION_MARKERS = ("invalid_sid", "invalid sid", "session expired", "session_expired")
_THROTTLE_TEXT = "too many requests"
_TRUE_TEXT = frozenset({"1", "true", "yes", "on"})


class SessionExpired(Retryable):
    """iCount no longer knows the `sid`; the client logs in again once, else the job retries."""


class DocumentRef(BaseModel):
    """What the worker keeps about a document iCount made (or already had)."""

    model_config = ConfigDict(frozen=True)

    doctype: str
    docnum: str
    doc_url: str | None = None
    client_id: str | None = None
    total: Decimal | None = None
    emailed: bool = False


@dataclass(frozen=True)
class DocumentTotals:
    """A document's totals under the one rule shared by the builder and the sandbox."""

    gross: Decimal  #: Σ VAT-inclusive item amounts
    net: Decimal  #: Σ VAT-exclusive item amounts (taxable and exempt)
    vat: Decimal  #: VAT added on the taxable net after `discount`
    vat_included: Decimal  #: VAT contained in the taxable gross after `discount_incvat`
    total: Decimal  #: what the customer pays: the document's `totalwithvat`


# --- formatting -----------------------------------------------------------------------


def format_amount(amount: Decimal, currency: str) -> str:
    """A money string with the currency's exponent ("117.00"), keeping any extra precision."""
    rounded = quantize(amount, currency)
    return f"{rounded:f}" if rounded == amount else f"{amount.normalize():f}"


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _quantity(value: Decimal) -> int | str:
    return int(value) if value == value.to_integral_value() else _plain(value)


def is_truthy(value: object) -> bool:
    """iCount flags arrive as bools, 0/1 or (form bodies) strings."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_TEXT
    return bool(value)


# --- the totals rule ------------------------------------------------------------------


def _amount(source: Mapping[str, object], key: str) -> Decimal:
    value = source.get(key)
    return Decimal(0) if value in (None, "") else parse_amount(value)


def _items(body: Mapping[str, object]) -> list[Mapping[str, object]]:
    items = body.get("items")
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise ValueError("items must be a list of objects")
    return items


@dataclass
class _Sums:
    gross_taxable: Decimal = Decimal(0)
    gross_exempt: Decimal = Decimal(0)
    net_taxable: Decimal = Decimal(0)
    net_exempt: Decimal = Decimal(0)


def _add_item(sums: _Sums, item: Mapping[str, object], exempt_doc: bool, currency: str) -> None:
    quantity = _amount(item, "quantity")
    exempt = exempt_doc or is_truthy(item.get("tax_exempt"))
    if item.get("unitprice_incvat") not in (None, ""):
        part = quantize(quantity * _amount(item, "unitprice_incvat"), currency)
        if exempt:
            sums.gross_exempt += part
        else:
            sums.gross_taxable += part
    elif item.get("unitprice") not in (None, ""):
        part = quantize(quantity * _amount(item, "unitprice"), currency)
        if exempt:
            sums.net_exempt += part
        else:
            sums.net_taxable += part
    elif item.get("unitprice_exempt") not in (None, ""):
        sums.net_exempt += quantize(quantity * _amount(item, "unitprice_exempt"), currency)
    else:
        raise ValueError("an item has no unitprice, unitprice_incvat or unitprice_exempt")


def document_totals(body: Mapping[str, object], currency: str) -> DocumentTotals:
    """Apply the totals rule to a `doc/create` body; see `expected_total`.

    Raises:
        ValueError: an amount is missing or not a decimal number.
    """
    exempt_doc = is_truthy(body.get("tax_exempt"))
    sums = _Sums()
    for item in _items(body):
        _add_item(sums, item, exempt_doc, currency)
    discount = _amount(body, "discount")
    discount_incvat = _amount(body, "discount_incvat")
    rate = DEFAULT_VAT_PERCENT if body.get("vat_percent") in (None, "") else (
        _amount(body, "vat_percent"))
    rate = Decimal(0) if exempt_doc else rate
    vat = quantize((sums.net_taxable - discount) * rate / 100, currency)
    taxable_gross = sums.gross_taxable - discount_incvat
    vat_included = quantize(taxable_gross * rate / (100 + rate), currency)
    gross = sums.gross_taxable + sums.gross_exempt
    net = sums.net_taxable + sums.net_exempt
    total = gross + net - discount + vat - discount_incvat + _amount(body, "roundup")
    return DocumentTotals(gross=gross, net=net, vat=vat, vat_included=vat_included,
                          total=quantize(total, currency))


def expected_total(body: Mapping[str, object], currency: str) -> Decimal:
    """The total iCount arrives at for `body`, quantised to the currency's unit.

    Each item is q×unitprice_incvat (gross) or q×unitprice (net; taxable unless the
    item or the document is `tax_exempt`), rounded. VAT = round((Σ taxable net −
    `discount`) × `vat_percent` / 100), with `vat_percent` 18 when absent and 0 for
    a `tax_exempt` document. Total = Σ gross + Σ net − `discount` + VAT −
    `discount_incvat` + `roundup`.

    Raises:
        ValueError: an amount is missing or not a decimal number.
    """
    return document_totals(body, currency).total


# --- the request body -----------------------------------------------------------------


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
        raise Permanent(f"taxable lines carry different VAT rates ({shown})",
                        reason="unsupported_tax")
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
        return {"cc": {"sum": total, "date": day.isoformat(), "num_of_payments": 1,
                       "first_payment": total, "confirmation_code": _reference(order)}}
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
            f"{order.total} {order.currency} by more than {documents.max_rounding}")
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
    body.update(currency_code=order.currency, lang=documents.language,
                doc_date=issue_date.isoformat())
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
        _pick(data, "doc_url", "pdf_link", "doclink"), _pick(data, "client_id"),
        _pick(data, "totalwithvat", "total"))
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
        return {key: "[redacted]" if key in REDACTED_FIELDS else redact_fields(item)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_fields(item) for item in value]
    return value
