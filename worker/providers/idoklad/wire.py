"""iDoklad wire format (API v2; v3 for credit notes), pure: JSON, totals, bodies, filters, errors.

No I/O here. Choices where providers.md says *unknown* or *inferred*:

- Money and quantities travel as JSON numbers written straight from `Decimal`
  (`dumps`), and answers are read with `parse_float=Decimal` (`loads`): no float
  ever holds an amount.
- The totals rule (`item_amounts`, shared with the sandbox): per item, gross =
  round(Amount × UnitPrice). WithVat (0): VAT = round(gross × r / (100 + r)) is
  contained in it; WithoutVat (1): VAT = round(gross × r / 100) is added;
  OnlyBase (2): no VAT. r is the item's `VatRate`, else the `VatRateType`'s rate in
  `VAT_RATES`; Zero is always 0. Rounding is `worker.domain.vat`'s (half-up).
- Discounts are one negative-price item per discounted line, at that line's price
  type and VAT rate; the residual `vat.reconcile` allows against the shop's total
  is a "Rounding" item at the zero rate, so the document total equals the order's.
- An order's exchange rate, when it has one, goes out as `ExchangeRate`.
- Our reference goes in three places: `OrderNumber` = `order_number(reference)`
  (the reference itself when it is ≤ 20 characters of [A-Za-z0-9._-], else "ib" +
  18 base32 characters of its SHA-256), `VariableSymbol` = `variable_symbol(reference)`
  (SHA-256 → integer mod 10^10, ≤ 10 digits) and `Description` ends with
  `[reference]` for the `Description~ct~` fallback lookup (D.2.7).
- Maturity is `MATURITY_DAYS` after the issue date; tax date = issue date.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from worker.domain import vat
from worker.domain.events import Customer, Line, Order
from worker.domain.money import parse_amount, quantize
from worker.domain.redaction import redact_text
from worker.errors import OutcomeUnknown, Permanent
from worker.providers.base import DocumentRef, DocumentRequest
from worker.providers.idoklad.answers import RATE_LIMIT_DELAY_MS as RATE_LIMIT_DELAY_MS
from worker.providers.idoklad.answers import MalformedAnswer as MalformedAnswer
from worker.providers.idoklad.answers import TokenRejected as TokenRejected
from worker.providers.idoklad.answers import decipher as decipher
from worker.providers.idoklad.answers import decipher_token as decipher_token
from worker.providers.idoklad.codec import dumps as dumps
from worker.providers.idoklad.codec import loads as loads
from worker.providers.idoklad.totals import VAT_RATES as VAT_RATES
from worker.providers.idoklad.totals import Amounts as Amounts
from worker.providers.idoklad.totals import PriceType as PriceType
from worker.providers.idoklad.totals import VatRateType as VatRateType
from worker.providers.idoklad.totals import document_amounts as document_amounts
from worker.providers.idoklad.totals import item_amounts as item_amounts
from worker.providers.idoklad.totals import item_rate as item_rate
from worker.settings import DocumentSettings

ORDER_NUMBER_MAX = 20  #: characters (v2 IssuedInvoice.OrderNumber)
VARIABLE_SYMBOL_DIGITS = 10  #: Czech variable symbol
MATURITY_DAYS = 14  #: days from issue to maturity
FILTER_OPS = frozenset({"lt", "lte", "gt", "gte", "eq", "!eq", "ct", "!ct"})
#: fields never posted back from a `Default` template; `DocumentSerialNumber` is kept, as
#: seed 004 says the Default model "always returns a model suitable for POST" (fact I-12)
ASSIGNED_FIELDS = frozenset({"Id", "DocumentNumber"})
#: v3 item fields the SDK marks required that v2 items lack (`CreditNoteItemPostModel`)
V3_ITEM_DEFAULTS: dict[str, object] = {"IsTaxMovement": False, "DiscountPercentage": Decimal(0)}


_RATE_TYPES = {
    Decimal(21): VatRateType.BASIC,
    Decimal(12): VatRateType.REDUCED1,
    Decimal(15): VatRateType.REDUCED1,
    Decimal(10): VatRateType.REDUCED2,
    Decimal(0): VatRateType.ZERO,
}
_SAFE_REFERENCE = re.compile(rf"^[A-Za-z0-9._-]{{1,{ORDER_NUMBER_MAX}}}$")


# --- the reference ------------------------------------------------------------------------


def _sha(reference: str) -> bytes:
    return hashlib.sha256(reference.encode()).digest()


def order_number(reference: str) -> str:
    """Our reference as an `OrderNumber` (≤ 20 characters, filter-safe, deterministic)."""
    if _SAFE_REFERENCE.fullmatch(reference):
        return reference
    return "ib" + base64.b32encode(_sha(reference)).decode().lower()[: ORDER_NUMBER_MAX - 2]


def variable_symbol(reference: str) -> str:
    """A variable symbol of at most 10 digits derived from our reference."""
    return str(int.from_bytes(_sha(reference)[:8], "big") % 10**VARIABLE_SYMBOL_DIGITS)


def reference_marker(reference: str) -> str:
    """The text `Description` carries for the `Description~ct~` fallback lookup."""
    return f"[{reference}]"


def matches_reference(document: Mapping[str, Any], reference: str) -> bool:
    """Whether a listed document is the one made for `reference` (filters may be loose)."""
    if document.get("OrderNumber") == order_number(reference):
        return True
    return reference_marker(reference) in str(document.get("Description") or "")


# --- lists and filters --------------------------------------------------------------------


def build_filter(*conditions: tuple[str, str, str]) -> str:
    """`Prop~op~value|...`. Raises ValueError on an unknown op or a value holding `|`."""
    parts = []
    for prop, op, value in conditions:
        if op not in FILTER_OPS or not prop.isalnum():
            raise ValueError(f"not a filter: {prop}~{op}")
        if "|" in value:
            raise ValueError("a filter value cannot contain '|'")
        parts.append(f"{prop}~{op}~{value}")
    return "|".join(parts)


def filter_holds(row: Mapping[str, Any], condition: tuple[str, str, str]) -> bool:
    """Whether a listed row satisfies `eq` / `ct` (text, case-insensitive), as the service would.

    A page holding a row that does not is a page the service did not filter (fact I-8).
    """
    prop, op, value = condition
    stored, wanted = str(row.get(prop) or "").casefold(), value.casefold()
    if op == "eq":
        return stored == wanted
    if op == "ct":
        return wanted in stored
    raise ValueError(f"cannot check a {op} filter locally")


def v3_base_url(base_url: str) -> str | None:
    """The v3 API root beside a v2 `base_url` (`.../v2` → `.../v3`); None if it is not v2."""
    root = base_url.rstrip("/")
    return f"{root.removesuffix('/v2')}/v3" if root.endswith("/v2") else None


def unwrap_v3(data: Any) -> Any:
    """`Data` of a v3 `ApiResult` envelope. Raises Permanent when `IsSuccess` is false (I-14)."""
    if not isinstance(data, Mapping) or "Data" not in data:
        raise MalformedAnswer("iDoklad v3 answered without its ApiResult envelope")
    if data.get("IsSuccess") is False:
        message = redact_text(str(data.get("Message") or ""))[:300]
        raise Permanent(f"iDoklad v3 refused the call: {message}", reason="invalid_model")
    return data["Data"]


def list_params(
    filter: str | None = None,
    *,
    filtertype: str | None = None,
    sort: str | None = None,
    page: int = 1,
    pagesize: int = 20,
) -> dict[str, str]:
    """Query parameters of a v2 list call."""
    params = {"page": str(page), "pagesize": str(pagesize)}
    named = {"filter": filter, "filtertype": filtertype, "sort": sort}
    params.update({key: value for key, value in named.items() if value})
    return params


@dataclass(frozen=True)
class ListPage:
    """One page of a v2 list: `Data`, `TotalItems`, `TotalPages`."""

    items: list[dict[str, Any]]
    total_items: int
    total_pages: int


def parse_list(data: Any) -> ListPage:
    """Read a list envelope (also a bare list, or v3's `Data.Items`). Raises Retryable."""
    items: Any = data.get("Data") if isinstance(data, Mapping) else data
    if isinstance(items, Mapping):
        items = items.get("Items")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise MalformedAnswer("iDoklad answered a list call without a Data list")
    source = data if isinstance(data, Mapping) else {}
    total = int(source.get("TotalItems", len(items)))
    return ListPage(items, total, int(source.get("TotalPages", 1 if items else 0)))


# --- request bodies -----------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    return text.strip()[:limit]


def _vat(line: Line, documents: DocumentSettings) -> dict[str, object]:
    rate = vat.line_rate(line, documents.default_vat_percent)
    if rate is None:
        return {"VatRateType": int(VatRateType.ZERO), "VatRate": Decimal(0)}
    return {"VatRateType": int(_RATE_TYPES.get(rate, VatRateType.BASIC)), "VatRate": rate}


def _item(
    name: str,
    amount: Decimal,
    price: Decimal,
    price_type: PriceType,
    tax: Mapping[str, object],
    unit: str = "",
) -> dict[str, object]:
    return {
        "Name": _clip(name, 200),
        "Amount": amount,
        "UnitPrice": price,
        "PriceType": int(price_type),
        **tax,
        "Unit": unit,
    }


def build_items(order: Order, documents: DocumentSettings) -> list[dict[str, object]]:
    """The order's lines, discounts and rounding as items whose total is the order's total.

    Raises:
        TotalMismatch: the shop's total is more than `max_rounding` from its lines, or
            the items are further from them than rounding explains (`vat.reconcile`).
    """
    price_type = PriceType.WITH_VAT if order.prices_include_tax else PriceType.WITHOUT_VAT
    items = []
    for line in order.lines:
        tax = _vat(line, documents)
        unit = "pcs" if line.kind == "item" else ""
        items.append(_item(line.description, line.quantity, line.unit_price, price_type, tax, unit))
        if line.discount:
            name = f"Discount: {line.description}"
            items.append(_item(name, Decimal(1), -line.discount, price_type, tax))
    residual = vat.reconcile(
        order,
        document_amounts(items, order.currency).total,
        max_rounding=documents.max_rounding,
        default_rate=documents.default_vat_percent,
    )
    if residual:
        zero = {"VatRateType": int(VatRateType.ZERO), "VatRate": Decimal(0)}
        items.append(_item("Rounding", Decimal(1), residual, PriceType.WITH_VAT, zero))
    return items


def _document_fields(request: DocumentRequest, currency_id: int, title: str) -> dict[str, object]:
    order, reference, day = request.order, request.reference, request.issue_date
    exchange = vat.exchange_rate(order)
    return {
        "CurrencyId": currency_id,
        "DateOfIssue": day.isoformat(),
        "DateOfTaxing": day.isoformat(),
        "DateOfMaturity": (day + timedelta(days=MATURITY_DAYS)).isoformat(),
        "Description": f"{title} {order.number} {reference_marker(reference)}",
        "OrderNumber": order_number(reference),
        "VariableSymbol": variable_symbol(reference),
        "Note": f"Shop order {order.number}",
        **({} if exchange is None else {"ExchangeRate": exchange}),
    }


def build_invoice(
    template: Mapping[str, Any], request: DocumentRequest, *, purchaser_id: int, currency_id: int
) -> dict[str, object]:
    """`POST IssuedInvoices` body: the `Default` template, our fields, numbers left to iDoklad."""
    items = build_items(request.order, request.documents)
    body: dict[str, object] = {k: v for k, v in template.items() if k not in ASSIGNED_FIELDS}
    body.update(_document_fields(request, currency_id, "Order"))
    body.update(PurchaserId=purchaser_id, IssuedInvoiceItems=items)
    note = gift_card_note(request.order)
    if note:
        body["Note"] = f"{body['Note']}; {note}"
    return body


def gift_card_note(order: Order) -> str | None:
    """What the invoice's `Note` says of the part gift cards paid (#18): the total stays the
    sale, the invoice is paid in full (`FullyPay`), "24.00 EUR of 28.00 paid by gift card";
    None when gift cards paid nothing. A separate `IssuedDocumentPayments` entry would need
    fields seed004 does not list (facts register I-19)."""
    if not order.gift_cards:
        return None
    gift, total = (quantize(amount, order.currency) for amount in (order.gift_cards, order.total))
    return f"{gift} {order.currency} of {total} paid by gift card"


def build_credit_note(
    template: Mapping[str, Any], request: DocumentRequest, *, credited_id: int, currency_id: int
) -> dict[str, object]:
    """v3 `POST CreditNotes` body from `GET CreditNotes/Default/{credited_id}` (facts I-10, I-11).

    The template's numbering, partner, payment option and flags are kept; the dates,
    reference fields and items are ours. Items credit positive amounts (**guess** I-11).
    """
    body: dict[str, object] = {k: v for k, v in template.items() if k not in ASSIGNED_FIELDS}
    body.update(_document_fields(request, currency_id, "Refund for order"))
    items = build_items(request.order, request.documents)
    body.update(
        CreditedInvoiceId=credited_id,
        CreditNoteReason="Refund",
        Items=[{**V3_ITEM_DEFAULTS, **item} for item in items],
    )
    return body


def contact_name(customer: Customer) -> str:
    """The `CompanyName` a customer's contact carries: the company, else the person's name."""
    return _clip(customer.company or customer.name, 200)


def build_contact(
    template: Mapping[str, Any], customer: Customer, country_id: int | None
) -> dict[str, object]:
    """`POST Contacts` body from the `Contacts/Default` template."""
    first, _, last = customer.name.strip().rpartition(" ")
    body: dict[str, object] = {k: v for k, v in template.items() if k != "Id"}
    body.update(
        CompanyName=contact_name(customer), Firstname=_clip(first, 50), Surname=_clip(last, 50)
    )
    optional = {
        "Email": (customer.email, 254),
        "Street": (customer.address, 100),
        "City": (customer.city, 100),
        "PostalCode": (customer.postcode, 11),
        "Phone": (customer.phone, 40),
        "VatIdentificationNumber": (customer.vat_id, 20),
    }
    body.update({key: _clip(value, limit) for key, (value, limit) in optional.items() if value})
    if country_id is not None:
        body["CountryId"] = country_id
    return body


# --- answers ------------------------------------------------------------------------------


def parse_document(data: Any, doctype: str) -> DocumentRef:
    """A created or listed invoice / credit note as a `DocumentRef`.

    Raises:
        OutcomeUnknown: the answer has no `Id` (look the document up by reference).
    """
    if not isinstance(data, Mapping) or data.get("Id") in (None, ""):
        raise OutcomeUnknown(f"iDoklad answered without the {doctype}'s Id")
    purchaser = data.get("PurchaserId", data.get("PartnerId"))  # v2 name, else v3's
    total = data.get("TotalWithVat")
    return DocumentRef(
        doctype=doctype,
        docnum=str(data.get("DocumentNumber") or data["Id"]),
        doc_id=str(data["Id"]),
        client_id=None if purchaser in (None, 0) else str(purchaser),
        total=None if total is None else parse_amount(total),
        emailed=bool(data.get("IsSentToPurchaser")),
    )
