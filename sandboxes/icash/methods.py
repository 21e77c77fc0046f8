"""The iCash API methods the sandbox serves, over `SandboxState`.

Each method takes an authenticated `Call` and returns the answer's `data`, or
raises `Refusal` (`status: 0`). Documents are stored in iCash's own field names
(providers.md C), money as decimal strings ("24.00"), ids and numbers as integers.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sandboxes.icash.pdf import document_pdf
from sandboxes.icash.rules import (
    CreateRequest,
    check_create,
    parse_choice,
    parse_date,
)
from sandboxes.icash.state import (
    Document,
    Refusal,
    SandboxAccount,
    SandboxState,
    now_text,
)
from worker.providers.icash.wire import (
    DOCUMENT_CANCEL,
    DOCUMENT_CREATE,
    DOCUMENT_PDF,
    DOCUMENT_TYPES,
    DOCUMENTS_LIST,
    GET_DOCUMENT,
    LIST_FILTERS,
    LIST_MAX_COUNT,
    LOGIN,
    STATUSES,
    SUBTYPES,
    line_total,
)

#: `documents-list` filters with a fixed set of values
ENUM_FILTERS: dict[str, tuple[str, ...]] = {
    "DocumentType": DOCUMENT_TYPES, "DocumentStatus": STATUSES, "DocumentSubType": SUBTYPES,
    "DocumentOperationType": ("NORMAL", "FINANCIAL"),
}  # fmt: skip
#: fields `sort` may name
SORTABLE = frozenset({
    "DocumentID", "DocumentNum", "DocumentDate", "DocumentTotalPrice", "DocumentPriceBase",
    "DocumentContragentName", "DocumentCreateDate", "DocumentStatus", "DocumentSubType",
    "DocumentType", "ImportRefID", "DocumentPayDate",
})  # fmt: skip
DEFAULT_COUNT = 10
_WINDOW = ("DocumentDateFrom", "DocumentDateTo")


@dataclass
class Call:
    """One authenticated API call."""

    state: SandboxState
    account: SandboxAccount
    body: dict[str, Any]


def _fixed(value: Decimal, places: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


def login(call: Call) -> dict[str, Any]:
    return {"session_id": call.state.open_session(call.account, call.body)}


# --- document-create -----------------------------------------------------------------


def _referred(call: Call, request: CreateRequest) -> Document | None:
    doc_id = request.header["DocumentToDocumentID"]
    if doc_id is None:
        return None
    referred = call.state.find(call.account, {"DocumentID": doc_id})
    fields = referred.fields
    if fields["DocumentSubType"] != "NORMAL" or fields["DocumentStatus"] != "NORMAL":
        raise Refusal("Wrong value for DocumentToDocumentID: not a NORMAL, live document")
    if fields["DocumentType"] != request.header["DocumentType"]:
        raise Refusal("Wrong value for DocumentToDocumentID: another DocumentType")
    return referred


def _services(call: Call, request: CreateRequest) -> list[dict[str, Any]]:
    account, created = call.account, now_text()
    return [
        {
            "DocumentServiceSaleItemID": None, "DocumentServiceDescription": description,
            "DocumentServiceMeasureUnitID": 1, "DocumentServiceMeasureUnitName": "pcs.",
            "DocumentServiceVatPercent": _fixed(line.vat_percent, 2),
            "DocumentServiceTaxGroupID": None,
            "DocumentServiceSinglePrice": _fixed(line.price, 6),
            "DocumentServiceQty": _fixed(line.qty, 5),
            "DocumentServiceDiscount": _fixed(line.discount, 5),
            "DocumentServiceTotalPrice": _fixed(line_total(line), 2),
            "DocumentServiceCreateUserID": account.user_id,
            "DocumentServiceCreateDate": created,
        }
        for description, line in zip(request.descriptions, request.lines, strict=True)
    ]  # fmt: skip


def _fields(call: Call, request: CreateRequest, referred: Document | None) -> dict[str, Any]:
    state, account, head, money = call.state, call.account, request.header, request.totals
    currency = head["DocumentCurrencyCode"]
    return {
        "DocumentID": None, "DocumentStatus": "NORMAL",
        "DocumentNum": state.next_number(account, head["DocumentType"]),
        "DocumentType": head["DocumentType"], "DocumentStoreID": account.store_id,
        "DocumentOperationID": None, "DocumentOperationType": "NORMAL",
        "DocumentSubType": head["DocumentSubType"], "DocumentDate": head["DocumentDate"],
        "DocumentFirmName": account.firm_name, "DocumentFirmAddress": account.firm_address,
        "DocumentFirmMOL": account.firm_mol, "DocumentFirmEIK": account.firm_eik,
        "DocumentContragentID": state.contragent_id(
            account, head["DocumentContragentName"], head["DocumentContragentTaxNum"]),
        **{key: value for key, value in head.items() if key.startswith("DocumentContragent")},
        "DocumentToDocumentID": head["DocumentToDocumentID"],
        "DocumentToDocumentDate": referred.fields["DocumentDate"] if referred else None,
        "DocumentPriceBase": _fixed(money.base, 2), "DocumentDiscount": "0.00000",
        "DocumentTotalPrice": _fixed(money.total, 2),
        "DocumentTotalPriceTxt": f"{_fixed(money.total, 2)} {currency}",
        "DocumentCurrencyCode": currency, "DocumentPayTypeID": head["DocumentPayTypeID"],
        "DocumentPayDate": head["DocumentPayDate"], "DocumentBankAccountID": None,
        "DocumentAcceptedBy": "", "DocumentCreatedBy": account.user_name,
        "DocumentCreateUserID": account.user_id, "DocumentCreateDate": now_text(),
        "DocumentVatReason": "", "DocumentComment": head["DocumentComment"],
        "ImportSource": head["ImportSource"], "ImportRefID": head["ImportRefID"],
        "DocumentServices": _services(call, request),
    }  # fmt: skip


def document_create(call: Call) -> dict[str, Any]:
    """Issue a document. No duplicate guard: the same ImportRefID twice makes two."""
    request = check_create(call.body)
    referred = _referred(call, request)
    document = call.state.add(call.account, _fields(call, request, referred))
    return copy.deepcopy(document.fields)


# --- reading, cancelling, PDF ----------------------------------------------------------


def get_document(call: Call) -> dict[str, Any]:
    return copy.deepcopy(call.state.find(call.account, call.body).fields)


def document_cancel(call: Call) -> dict[str, Any]:
    """Mark the document DELETED; it stays listed (filter DocumentStatus to hide it)."""
    document = call.state.find(call.account, call.body)
    if document.fields["DocumentStatus"] == "DELETED":
        raise Refusal("Document is already deleted")
    document.fields["DocumentStatus"] = "DELETED"
    return {"DocumentID": document.fields["DocumentID"], "DocumentStatus": "DELETED"}


def document_pdf_method(call: Call) -> dict[str, Any]:
    fields = call.state.find(call.account, call.body).fields
    name = f"{fields['DocumentType'].lower()}-{fields['DocumentNum']}.pdf"
    content = base64.b64encode(document_pdf(fields)).decode()
    return {"DocumentID": fields["DocumentID"], "FileName": name, "Base64": content}


# --- documents-list --------------------------------------------------------------------


def _norm(value: object) -> str:
    text = "" if value is None else str(value).strip()
    return str(int(text)) if text.isdigit() else text


def _filters(body: Mapping[str, Any]) -> dict[str, str]:
    filters = {"DocumentType": parse_choice(body, "DocumentType", DOCUMENT_TYPES, "INVOICE")}
    for key in LIST_FILTERS:
        if key in filters or key in _WINDOW or body.get(key) in (None, ""):
            continue
        choices = ENUM_FILTERS.get(key)
        filters[key] = parse_choice(body, key, choices, "") if choices else _norm(body[key])
    return filters


def _int(body: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    text = str(body.get(key) or default).strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise Refusal(f"Wrong value for {key}: an integer from {low} to {high}")
    return int(text)


def _sort_key(value: object) -> tuple[int, Decimal, str]:
    if value is None:
        return (2, Decimal(0), "")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    return (0, number, "") if number.is_finite() else (1, Decimal(0), str(value))


def documents_list(call: Call) -> dict[str, Any]:
    """Every filter of providers.md C, a date window, `sort`/`order`, `offset`/`count` ≤ 100."""
    body = call.body
    filters = _filters(body)
    window = [parse_date(body[key], key) if body.get(key) else None for key in _WINDOW]
    sort = str(body.get("sort") or "DocumentID")
    if sort not in SORTABLE:
        raise Refusal(f"Wrong value for sort: one of {', '.join(sorted(SORTABLE))}")
    descending = parse_choice(body, "order", ("ASC", "DESC"), "ASC") == "DESC"
    offset = _int(body, "offset", 0, 0, 10**9)
    count = _int(body, "count", DEFAULT_COUNT, 1, LIST_MAX_COUNT)
    rows = [
        d.row()
        for d in call.state.owned(call.account)
        if all(_norm(d.fields.get(key)) == value for key, value in filters.items())
        and (window[0] is None or d.fields["DocumentDate"] >= window[0])
        and (window[1] is None or d.fields["DocumentDate"] <= window[1])
    ]
    rows.sort(key=lambda row: (_sort_key(row.get(sort)), row["DocumentID"]), reverse=descending)
    return {"TotalRecords": len(rows), "Data": rows[offset : offset + count]}


#: method → (handler, whether it needs a session)
METHODS: dict[str, tuple[Callable[[Call], dict[str, Any]], bool]] = {
    LOGIN: (login, False),
    DOCUMENTS_LIST: (documents_list, True),
    GET_DOCUMENT: (get_document, True),
    DOCUMENT_CREATE: (document_create, True),
    DOCUMENT_CANCEL: (document_cancel, True),
    DOCUMENT_PDF: (document_pdf_method, True),
}
