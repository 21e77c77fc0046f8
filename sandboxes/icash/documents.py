"""Documents (3.21, 3.22): made from a printed operation, listed and read.

A document's lines are NET of VAT (seed 003: SinglePrice 20.000000 at 20 % for an item
sold at 24.00); DocumentTotalPrice is the operation's gross total and DocumentPriceBase
follows the switch `vat_rule`. Rows carry exactly the documented fields: the operation's
ImportSource/ImportRefID are kept beside the document, for the filters only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandboxes.icash.fields import (
    PAGING,
    Spec,
    integer,
    iso_date,
    opt,
    page,
    req,
    set_of,
    text,
    wrong,
)
from sandboxes.icash.models import (
    NO_DATE,
    Document,
    Operation,
    Row,
    SandboxAccount,
    base_of,
    fixed,
    line_net,
    now_text,
    quantize,
    today_text,
)
from sandboxes.icash.state import Call, Method, SandboxState

#: the first DocumentNum of a firm's INVOICE sequence (credit notes share it)
FIRST_NUMBER = 1_000_000_001


def _service(row: Row, account: SandboxAccount, created: str, vat_rule: str) -> dict[str, Any]:
    net = line_net(row.gross, row.item.rate, vat_rule)
    rate = row.item.rate
    return {
        "DocumentServiceSaleItemID": row.item.id,
        "DocumentServiceDescription": row.item.name,
        "DocumentServiceMeasureUnitID": 1,
        "DocumentServiceMeasureUnitName": "pcs.",
        "DocumentServiceVatPercent": int(rate) if rate == rate.to_integral_value() else f"{rate:f}",
        "DocumentServiceTaxGroupID": row.item.tax_group,
        "DocumentServiceSinglePrice": fixed(quantize(net / row.qty, 6), 6),
        "DocumentServiceQty": fixed(row.qty, 5),
        "DocumentServiceDiscount": fixed(row.discount, 5),
        "DocumentServiceTotalPrice": fixed(net, 2),
        "DocumentServiceCreateUserID": account.user_id,
        "DocumentServiceCreateDate": created,
    }


def _contragent(state: SandboxState, account: SandboxAccount, op: Operation) -> dict[str, Any]:
    if not op.contragent_id:
        return {
            "DocumentContragentID": 0,
            "DocumentContragentName": "",
            "DocumentContragentAddress": "",
            "DocumentContragentMOL": "",
            "DocumentContragentTaxNum": "",
            "DocumentContragentTaxNumVatReg": "",
        }
    fields = state.contragent(account, op.contragent_id, "ContragentID").fields
    address = ", ".join(
        part for part in (fields["ContragentCityName"], fields["ContragentAddress"]) if part
    )
    return {
        "DocumentContragentID": op.contragent_id,
        "DocumentContragentName": fields["ContragentName"],
        "DocumentContragentAddress": address,
        "DocumentContragentMOL": fields["ContragentMOL"],
        "DocumentContragentTaxNum": fields["ContragentTaxNum"],
        "DocumentContragentTaxNumVatReg": fields["ContragentVatNum"]
        if fields["ContragentVatRegistered"]
        else "",
    }


def _referred(state: SandboxState, sale: Operation | None) -> tuple[int, str]:
    """The sale's document (DocumentID, DocumentDate) a credit note points to, else 0."""
    if sale is None:
        return 0, NO_DATE
    for document in state.documents:
        fields = document.fields
        if fields["DocumentOperationID"] == sale.id and fields["DocumentSubType"] == "NORMAL":
            return document.id, fields["DocumentDate"]
    return 0, NO_DATE


def make_document(
    state: SandboxState,
    account: SandboxAccount,
    op: Operation,
    pay_type: int,
    sale: Operation | None,
) -> Document | None:
    """The INVOICE (or, for a return, CREDIT) document of a just printed operation, per the
    switches `document_on_print` and `vat_rule`; None when documents are never made."""
    switches = state.switches
    if switches.document_on_print == "never":
        return None
    created, today = now_text(), today_text()
    total = op.gross
    base = base_of([(row.gross, row.item.rate) for row in op.rows], switches.vat_rule)
    to_id, to_date = _referred(state, sale) if op.type == "ReturnClient" else (0, NO_DATE)
    fields: dict[str, Any] = {
        "DocumentID": state.next_id("document"),
        "DocumentStatus": "NORMAL",
        "DocumentNum": state.next_id(f"document-num:{account.api_key}", FIRST_NUMBER),
        "DocumentType": "INVOICE",
        "DocumentStoreID": op.store_id,
        "DocumentOperationID": op.id,
        "DocumentOperationType": "NORMAL",
        "DocumentSubType": "CREDIT" if op.type == "ReturnClient" else "NORMAL",
        "DocumentDate": today,
        "DocumentFirmName": account.firm_name,
        "DocumentFirmAddress": account.firm_address,
        "DocumentFirmMOL": account.firm_mol,
        "DocumentFirmEIK": account.firm_eik,
        **_contragent(state, account, op),
        "DocumentToDocumentID": to_id,
        "DocumentToDocumentDate": to_date,
        "DocumentPriceBase": fixed(base, 2),
        "DocumentDiscount": "0.00000",
        "DocumentTotalPrice": fixed(total, 2),
        "DocumentTotalPriceTxt": f"{fixed(total, 2)} {account.currency}",
        "DocumentCurrencyCode": account.currency,
        "DocumentPayTypeID": pay_type,
        "DocumentPayDate": today,
        "DocumentBankAccountID": 0,
        "DocumentBankAccountBankName": "",
        "DocumentBankAccountIBAN": "",
        "DocumentBankAccountBIC": "",
        "DocumentBankAccountCurrencyCode": account.currency,
        "DocumentAcceptedBy": "",
        "DocumentCreatedBy": account.user_name,
        "DocumentCreateUserID": account.user_id,
        "DocumentCreateDate": created,
        "DocumentVatReason": "",
        "DocumentComment": op.comment,
        "DocumentServices": [_service(row, account, created, switches.vat_rule) for row in op.rows],
    }
    delay = switches.document_delay_s if switches.document_on_print == "delayed" else 0.0
    document = Document(
        account.api_key, fields, op.import_source, op.import_ref, visible_at=state.clock() + delay
    )
    state.documents.append(document)
    return document


#: the `document` fields of 3.21 (seed 001), in order
DOCUMENT_ROW = (
    "DocumentID",
    "DocumentStatus",
    "DocumentNum",
    "DocumentType",
    "DocumentStoreID",
    "DocumentOperationID",
    "DocumentOperationType",
    "DocumentSubType",
    "DocumentDate",
    "DocumentFirmName",
    "DocumentFirmAddress",
    "DocumentFirmMOL",
    "DocumentFirmEIK",
    "DocumentContragentID",
    "DocumentContragentName",
    "DocumentContragentAddress",
    "DocumentContragentMOL",
    "DocumentContragentTaxNum",
    "DocumentContragentTaxNumVatReg",
    "DocumentToDocumentID",
    "DocumentToDocumentDate",
    "DocumentPriceBase",
    "DocumentDiscount",
    "DocumentTotalPrice",
    "DocumentTotalPriceTxt",
    "DocumentCurrencyCode",
    "DocumentPayTypeID",
    "DocumentPayDate",
    "DocumentBankAccountID",
    "DocumentBankAccountBankName",
    "DocumentBankAccountIBAN",
    "DocumentBankAccountBIC",
    "DocumentBankAccountCurrencyCode",
    "DocumentAcceptedBy",
    "DocumentCreatedBy",
    "DocumentCreateUserID",
    "DocumentCreateDate",
    "DocumentVatReason",
    "DocumentComment",
)

LIST: dict[str, Spec] = {
    "DocumentID": opt(integer()),
    "DocumentStoreID": opt(integer()),
    "DocumentType": opt(set_of("INVOICE", "PROFORMA"), frozenset({"INVOICE"})),
    "DocumentNum": opt(integer()),
    "DocumentStatus": opt(set_of("NORMAL", "DELETED"), frozenset({"NORMAL"})),
    "DocumentOperationType": opt(set_of("NORMAL", "FINANCIAL"), frozenset({"NORMAL"})),
    "DocumentOperationID": opt(integer()),
    "DocumentSubType": opt(set_of("NORMAL", "CREDIT", "DEBIT", "ADVANCE"), frozenset({"NORMAL"})),
    "DocumentContragentID": opt(integer()),
    "DocumentDateFrom": opt(iso_date),
    "DocumentDateTo": opt(iso_date),
    "DocumentPayTypeID": opt(integer()),
    "DocumentBankAccountID": opt(integer()),
    "ImportSource": opt(text(30)),
    "ImportRefID": opt(text(30)),
    **PAGING,
}
_EQUAL = (
    "DocumentID",
    "DocumentStoreID",
    "DocumentNum",
    "DocumentOperationID",
    "DocumentContragentID",
    "DocumentPayTypeID",
    "DocumentBankAccountID",
)
_SETS = ("DocumentType", "DocumentStatus", "DocumentOperationType", "DocumentSubType")


def _listed(call: Call, document: Document) -> bool:
    values, fields = call.values, document.fields
    if any(values[name] is not None and fields[name] != values[name] for name in _EQUAL):
        return False
    if any(fields[name] not in values[name] for name in _SETS):
        return False
    low, high = values["DocumentDateFrom"], values["DocumentDateTo"]
    if (low is not None and fields["DocumentDate"] < low) or (
        high is not None and fields["DocumentDate"] > high
    ):
        return False
    return call.imported_as(document.import_source, document.import_ref)


def documents_list(call: Call) -> dict[str, Any]:
    documents = call.state.visible_documents(call.account)
    return page([d.row() for d in documents if _listed(call, d)], call.values, DOCUMENT_ROW)


def get_document(call: Call) -> dict[str, Any]:
    for document in call.state.visible_documents(call.account):
        if document.id == call.values["DocumentID"]:
            return dict(document.fields)
    raise wrong("DocumentID")


def document_view(document: Document) -> dict[str, Any]:
    """A document as GET /_sandbox/documents shows it: short names plus every iCash field."""
    fields = document.fields
    total, base = Decimal(fields["DocumentTotalPrice"]), Decimal(fields["DocumentPriceBase"])
    return {
        "doctype": "CREDIT" if fields["DocumentSubType"] == "CREDIT" else fields["DocumentType"],
        "docnum": str(fields["DocumentNum"]),
        "id": str(fields["DocumentID"]),
        "total": fields["DocumentTotalPrice"],
        "vat": fixed(total - base, 2),
        "base": fields["DocumentPriceBase"],
        "currency": fields["DocumentCurrencyCode"],
        "status": fields["DocumentStatus"],
        "to_document_id": fields["DocumentToDocumentID"],
        "date": fields["DocumentDate"],
        "contragent": fields["DocumentContragentName"],
        "operation_id": fields["DocumentOperationID"],
        #: not answered by the API (filters only): for tools matching documents to orders
        "import_source": document.import_source,
        "import_ref_id": document.import_ref,
        "fields": fields,
    }


DOCUMENT_METHODS: dict[str, Method] = {
    "documents-list": Method(LIST, documents_list),
    "get-document": Method({"DocumentID": req(integer())}, get_document),
}
