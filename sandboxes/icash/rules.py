"""What the iCash sandbox accepts in `document-create`: every field checked, errors naming it.

Each refusal is `Refusal("Missing value for X")` or `Refusal("Wrong value for X: why")`,
the shape of iCash's own messages ("Wrong value for OperationID"); nested fields are
named as the form sends them, e.g. `DocumentServices[1][DocumentServiceQty]`.
Totals come from `wire.document_totals`, the rule the client builds with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sandboxes.icash.state import Refusal
from worker.providers.icash.wire import (
    DOCUMENT_TYPES,
    MONEY_PLACES,
    PAY_TYPE_IDS,
    PERCENT_PLACES,
    PRICE_PLACES,
    QTY_PLACES,
    SERVICES,
    SUBTYPES,
    VAT_PLACES,
    DocumentTotals,
    ServiceLine,
    document_totals,
)

#: text field → its longest accepted value (String(n) in the docs, else a plausible size)
TEXT_LIMITS = {
    "DocumentContragentName": 100, "DocumentContragentAddress": 255,
    "DocumentContragentMOL": 100, "DocumentContragentTaxNum": 20,
    "DocumentContragentTaxNumVatReg": 20, "DocumentComment": 255,
    "ImportSource": 30, "ImportRefID": 30,
}  # fmt: skip
DESCRIPTION_MAX = 255
#: DocumentPayTypeID values the sandbox's firms know
PAY_TYPES = frozenset(PAY_TYPE_IDS.values())
#: subtypes that refer to an earlier invoice through DocumentToDocumentID
REFERRING = frozenset({"CREDIT", "DEBIT"})
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class CreateRequest:
    """A checked `document-create`: header text fields, lines, and totals."""

    header: dict[str, Any]
    descriptions: tuple[str, ...]
    lines: tuple[ServiceLine, ...]
    totals: DocumentTotals


def parse_date(value: object, name: str) -> str:
    text = str(value).strip()
    try:
        if _DATE.fullmatch(text):
            date.fromisoformat(text)
            return text
    except ValueError:
        pass
    raise Refusal(f"Wrong value for {name}: expected YYYY-MM-DD")


def parse_choice(body: Mapping[str, Any], key: str, choices: Sequence[str], default: str) -> str:
    value = str(body.get(key) or default).strip().upper()
    if value not in choices:
        raise Refusal(f"Wrong value for {key}: one of {', '.join(choices)}")
    return value


def _decimal(value: object, name: str, places: int, low: Decimal, high: Decimal) -> Decimal:
    if value in (None, ""):
        raise Refusal(f"Missing value for {name}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise Refusal(f"Wrong value for {name}: not a decimal number") from None
    if not number.is_finite() or number != number.quantize(Decimal(1).scaleb(-places)):
        raise Refusal(f"Wrong value for {name}: at most {places} decimal places")
    if not low <= number <= high:
        raise Refusal(f"Wrong value for {name}: must be between {low} and {high}")
    return number


def _texts(body: Mapping[str, Any]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for key, limit in TEXT_LIMITS.items():
        value = str(body.get(key) or "").strip()
        if len(value) > limit:
            raise Refusal(f"Wrong value for {key}: at most {limit} characters")
        texts[key] = value
    if not texts["DocumentContragentName"]:
        raise Refusal("Missing value for DocumentContragentName")
    return texts


def _service(index: int, item: object) -> tuple[str, ServiceLine]:
    name = f"{SERVICES}[{index}]"
    if not isinstance(item, Mapping):
        raise Refusal(f"Wrong value for {name}: must be an object")
    description = str(item.get("DocumentServiceDescription") or "").strip()
    if not description or len(description) > DESCRIPTION_MAX:
        raise Refusal(f"Wrong value for {name}[DocumentServiceDescription]: 1-255 characters")
    qty = _decimal(item.get("DocumentServiceQty"), f"{name}[DocumentServiceQty]", QTY_PLACES,
                   Decimal("0.00001"), Decimal("99999.99999"))  # fmt: skip
    price = _decimal(item.get("DocumentServiceSinglePrice"), f"{name}[DocumentServiceSinglePrice]",
                     PRICE_PLACES, Decimal(-(10**13)), Decimal(10**13))  # fmt: skip
    vat = _decimal(item.get("DocumentServiceVatPercent"), f"{name}[DocumentServiceVatPercent]",
                   VAT_PLACES, Decimal(0), Decimal(100))  # fmt: skip
    discount = _decimal(item.get("DocumentServiceDiscount") or "0",
                        f"{name}[DocumentServiceDiscount]", PERCENT_PLACES, Decimal(0),
                        Decimal(100))  # fmt: skip
    return description, ServiceLine(qty, price, vat, discount)


def _services(body: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[ServiceLine, ...]]:
    items = body.get(SERVICES)
    if not isinstance(items, list) or not items:
        raise Refusal(f"Missing value for {SERVICES}: at least one line")
    parsed = [_service(index, item) for index, item in enumerate(items)]
    return tuple(d for d, _ in parsed), tuple(line for _, line in parsed)


def _payment(body: Mapping[str, Any]) -> dict[str, Any]:
    header: dict[str, Any] = {"DocumentPayTypeID": None, "DocumentPayDate": None}
    if body.get("DocumentPayTypeID") not in (None, ""):
        text = str(body["DocumentPayTypeID"]).strip()
        if not text.isdigit() or int(text) not in PAY_TYPES:
            raise Refusal("Wrong value for DocumentPayTypeID: 1 cash, 2 bank transfer, 3 card")
        header["DocumentPayTypeID"] = int(text)
    if body.get("DocumentPayDate") not in (None, ""):
        header["DocumentPayDate"] = parse_date(body["DocumentPayDate"], "DocumentPayDate")
    return header


def _reference(body: Mapping[str, Any], subtype: str) -> int | None:
    value = str(body.get("DocumentToDocumentID") or "").strip()
    if subtype in REFERRING and not value:
        raise Refusal(f"Missing value for DocumentToDocumentID: a {subtype} note refers to one")
    if subtype not in REFERRING and value:
        raise Refusal("Wrong value for DocumentToDocumentID: only CREDIT and DEBIT notes refer")
    if value and not value.isdigit():
        raise Refusal("Wrong value for DocumentToDocumentID")
    return int(value) if value else None


def check_create(body: Mapping[str, Any]) -> CreateRequest:
    """Validate a `document-create` body (the referred document is checked by the caller).

    Raises:
        Refusal: the first rule the body breaks.
    """
    subtype = parse_choice(body, "DocumentSubType", SUBTYPES, "NORMAL")
    header: dict[str, Any] = {
        "DocumentType": parse_choice(body, "DocumentType", DOCUMENT_TYPES, "INVOICE"),
        "DocumentSubType": subtype,
    }
    if body.get("DocumentDate") in (None, ""):
        raise Refusal("Missing value for DocumentDate")
    header["DocumentDate"] = parse_date(body["DocumentDate"], "DocumentDate")
    currency = str(body.get("DocumentCurrencyCode") or "").strip()
    if not _CURRENCY.fullmatch(currency):
        raise Refusal("Wrong value for DocumentCurrencyCode: an ISO 4217 code such as BGN")
    header["DocumentCurrencyCode"] = currency
    header.update(_texts(body), **_payment(body))
    header["DocumentToDocumentID"] = _reference(body, subtype)
    descriptions, lines = _services(body)
    totals = document_totals(lines)
    if totals.total < 0:
        raise Refusal(f"Wrong value for {SERVICES}: the document total cannot be negative")
    if totals.total >= Decimal(10**13):
        raise Refusal(f"Wrong value for {SERVICES}: the total exceeds DECIMAL(15,{MONEY_PLACES})")
    return CreateRequest(header, descriptions, lines, totals)
