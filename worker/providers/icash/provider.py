"""iCash as a `Provider`: our orders as `document-create` fields, found again by `ImportRefID`.

iCash has no duplicate guard and no email (`idempotent_create=False`,
`can_email=False`): the runner looks a document up by our reference before it
creates one and after an unknown outcome, and sends the PDF by SMTP.

The mapping (pure, `build_document_fields`):

- invoice / invrec → `DocumentType` INVOICE, `DocumentSubType` NORMAL; an invrec
  also carries `DocumentPayTypeID` (from `payment_method`) and `DocumentPayDate`.
- refund → INVOICE / CREDIT with `DocumentToDocumentID` = the invoice's DocumentID.
- receipt → refused (`receipt_unsupported`): a receipt pays an invoice we already
  issued, and iCash has no known call to record a payment on a document; a second
  INVOICE would bill the sale twice.
- Lines carry VAT-inclusive unit prices: the shop's price for VAT-inclusive orders;
  for VAT-exclusive ones the price grossed up by the line's own tax (so the shop's
  VAT rounding is kept; `vat.line_gross`). A line discount becomes
  `DocumentServiceDiscount` percent (5 places). The residual `vat.reconcile` allows
  against the shop total is a "Rounding" line at 0% VAT; beyond it, `TotalMismatch`.
  iCash keeps 2 decimal places: a 3-decimal currency (BHD, KWD) is refused.
- `DocumentContragentName` is the company, else the person (then `…MOL` is the
  person); `…TaxNum` is the VAT id, and `…TaxNumVatReg` too when it has a country prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from worker.domain import vat
from worker.domain.events import Customer, Line, Order
from worker.domain.money import exponent, parse_amount
from worker.errors import OutcomeUnknown, Permanent
from worker.providers.base import (
    Capabilities,
    DocumentHint,
    DocumentKind,
    DocumentRef,
    DocumentRequest,
)
from worker.providers.icash import wire
from worker.providers.icash.client import ICashClient
from worker.settings import DocumentSettings

#: `find_document` gives up (fail closed) after looking through this many documents
MAX_SCAN = 10_000
ROUNDING_LINE = "Rounding"
_VAT_ID = re.compile(r"^[A-Z]{2}[0-9A-Z]{2,}$")
#: longest names and texts the sandbox takes (ContragentName 100 as in add-contragent)
_NAME_MAX, _TEXT_MAX = 100, 255


# --- request building (pure) -----------------------------------------------------------


def _quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def service_line(line: Line, order: Order, documents: DocumentSettings) -> wire.ServiceLine:
    """One order line as iCash amounts: VAT-inclusive unit price and discount percent."""
    before = line.unit_price * line.quantity
    price = line.unit_price
    taxed = vat.line_rate(line, documents.default_vat_percent)
    rate = Decimal(0) if taxed is None else taxed
    if not order.prices_include_tax:
        after = before - line.discount
        gross = vat.line_gross(line, False, taxed, order.currency)
        factor = gross / after if after > 0 else (100 + rate) / 100
        price = line.unit_price * factor
    discount = min(Decimal(100), line.discount * 100 / before) if before > 0 else Decimal(0)
    return wire.ServiceLine(
        qty=line.quantity.quantize(_quantum(wire.QTY_PLACES), ROUND_HALF_UP),
        price=price.quantize(_quantum(wire.PRICE_PLACES), ROUND_HALF_UP),
        vat_percent=rate.quantize(_quantum(wire.VAT_PLACES), ROUND_HALF_UP),
        discount=discount.quantize(_quantum(wire.PERCENT_PLACES), ROUND_HALF_UP),
    )


def _service_fields(description: str, line: wire.ServiceLine) -> dict[str, str]:
    return {
        "DocumentServiceDescription": description[:_TEXT_MAX],
        "DocumentServiceQty": wire.plain(line.qty, wire.QTY_PLACES),
        "DocumentServiceSinglePrice": wire.plain(line.price, wire.PRICE_PLACES, wire.MONEY_PLACES),
        "DocumentServiceVatPercent": wire.plain(line.vat_percent, wire.VAT_PLACES),
        "DocumentServiceDiscount": wire.plain(line.discount, wire.PERCENT_PLACES),
    }


def service_lines(order: Order, documents: DocumentSettings) -> list[dict[str, str]]:
    """The `DocumentServices` of `order`, plus a rounding line when needed.

    Raises:
        Permanent: the currency or the shop total has more than 2 decimal places
            (`unsupported_amount`).
        TotalMismatch: the shop's total is more than `max_rounding` from its lines, or
            the document is further from them than rounding explains (`vat.reconcile`).
    """
    places = exponent(order.currency)
    if places > wire.MONEY_PLACES or order.total != order.total.quantize(wire.CENT):
        raise Permanent(
            f"iCash keeps 2 decimal places, too few for {order.total} {order.currency}",
            reason="unsupported_amount",
        )
    amounts = [service_line(line, order, documents) for line in order.lines]
    fields = [_service_fields(line.description, amounts[i]) for i, line in enumerate(order.lines)]
    difference = vat.reconcile(order, wire.document_totals(amounts).total,
                               max_rounding=documents.max_rounding,
                               default_rate=documents.default_vat_percent)  # fmt: skip
    if difference:
        rounding = wire.ServiceLine(Decimal(1), difference, Decimal(0))
        fields.append(_service_fields(ROUNDING_LINE, rounding))
    return fields


def _contragent(customer: Customer) -> dict[str, str | None]:
    place = " ".join(part for part in (customer.postcode, customer.city) if part)
    address = ", ".join(part for part in (customer.address, place, customer.country) if part)
    vat_id = customer.vat_id.strip() if customer.vat_id else None
    return {
        "DocumentContragentName": (customer.company or customer.name)[:_NAME_MAX],
        "DocumentContragentMOL": customer.name[:_NAME_MAX] if customer.company else None,
        "DocumentContragentAddress": address[:_TEXT_MAX] or None,
        "DocumentContragentTaxNum": vat_id,
        "DocumentContragentTaxNumVatReg": vat_id if vat_id and _VAT_ID.fullmatch(vat_id) else None,
    }


def _base_document_id(request: DocumentRequest) -> str:
    based_on = request.based_on
    if based_on is None or not based_on.doc_id:
        raise Permanent(
            "a credit note needs the iCash DocumentID of its invoice",
            reason="missing_base_document",
        )
    return based_on.doc_id


def build_document_fields(request: DocumentRequest) -> dict[str, Any]:
    """The `document-create` fields for `request` (services as a list), without auth fields.

    Raises:
        Permanent: a receipt (`receipt_unsupported`), a credit note without its invoice's
            DocumentID, or an amount iCash cannot hold.
        TotalMismatch: the lines cannot reach the shop's total within `max_rounding`.
    """
    kind, order, documents = request.kind, request.order, request.documents
    if kind == "receipt":
        raise Permanent(
            "iCash cannot record a payment on an issued invoice", reason="receipt_unsupported"
        )
    credit = kind == "refund"
    fields: dict[str, Any] = {
        "DocumentType": "INVOICE",
        "DocumentSubType": "CREDIT" if credit else "NORMAL",
        "DocumentDate": request.issue_date.isoformat(),
        "DocumentCurrencyCode": order.currency,
        **_contragent(order.customer),
        "DocumentComment": f"{'Credit note for order' if credit else 'Order'} {order.number}",
        "ImportSource": wire.IMPORT_SOURCE,
        "ImportRefID": str(wire.import_ref_id(request.reference)),
    }
    if credit:
        fields["DocumentToDocumentID"] = _base_document_id(request)
    if kind == "invrec":
        fields["DocumentPayTypeID"] = wire.PAY_TYPE_IDS[documents.payment_method]
        fields["DocumentPayDate"] = request.issue_date.isoformat()
    fields["DocumentComment"] = fields["DocumentComment"][:_TEXT_MAX]
    fields[wire.SERVICES] = service_lines(order, documents)
    return {key: value for key, value in fields.items() if value is not None}


# --- answers -----------------------------------------------------------------------------


def _amount(value: object) -> Decimal | None:
    try:
        return None if value in (None, "") else parse_amount(value)
    except ValueError:
        return None


def document_ref(document: Mapping[str, Any]) -> DocumentRef:
    """What we keep of an iCash document (a create answer, a list row, or `get-document`).

    Raises:
        OutcomeUnknown: no DocumentID or DocumentNum; look the document up to learn them.
    """
    doc_id, docnum = document.get("DocumentID"), document.get("DocumentNum")
    if doc_id in (None, "") or docnum in (None, ""):
        raise OutcomeUnknown("iCash answered without a DocumentID and DocumentNum")
    credit = str(document.get("DocumentSubType") or "").upper() == "CREDIT"
    return DocumentRef(
        doctype="CREDIT" if credit else str(document.get("DocumentType") or "INVOICE"),
        docnum=str(docnum),
        doc_id=str(doc_id),
        total=_amount(document.get("DocumentTotalPrice")),
    )


def _matches(row: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    """Check the filters on the row too, where it shows them (the service might ignore one)."""
    return all(str(row[key]) == value for key, value in wanted.items() if key in row)


def _subtype(kind: DocumentKind) -> str:
    return "CREDIT" if kind == "refund" else "NORMAL"


class ICashProvider:
    """A tenant's iCash account (Bulgaria / Albania)."""

    capabilities = Capabilities(
        idempotent_create=False, emails_on_create=False, can_email=False, can_cancel=True
    )

    def __init__(self, client: ICashClient, documents: DocumentSettings) -> None:
        self.client = client
        self.documents = documents

    async def ensure_customer(self, customer: Customer) -> str | None:
        return None  # documents carry the contragent's name, address and tax numbers

    async def create_document(self, request: DocumentRequest) -> DocumentRef:
        data = await self.client.create_document(build_document_fields(request))
        if data.get("DocumentID") not in (None, "") and data.get("DocumentNum") in (None, ""):
            data = await self.client.get_document(str(data["DocumentID"]))
        return document_ref(data)

    async def find_document(
        self, kind: DocumentKind, reference: str, *, hint: DocumentHint | None = None
    ) -> DocumentRef | None:
        """The earliest document of this kind made for `reference` (DELETED ones included);
        `ImportRefID` is a filter, so `hint` is not needed.

        Raises:
            Permanent: more than `MAX_SCAN` documents to look through (`lookup_too_large`).
        """
        wanted = {
            "ImportSource": wire.IMPORT_SOURCE,
            "ImportRefID": str(wire.import_ref_id(reference)),
            "DocumentSubType": _subtype(kind),
        }
        query = {**wanted, "DocumentType": "INVOICE", "sort": "DocumentID", "order": "ASC"}
        offset = 0
        while offset < MAX_SCAN:
            page = {**query, "offset": offset, "count": wire.LIST_MAX_COUNT}
            total, rows = await self.client.list_documents(page)
            found = next((row for row in rows if _matches(row, wanted)), None)
            if found is not None:
                return document_ref(found)
            offset += len(rows)
            if not rows or offset >= total:
                return None
        raise Permanent("iCash lists too many documents to look through", reason="lookup_too_large")

    async def email_document(self, ref: DocumentRef, to: str) -> None:
        raise Permanent("iCash cannot email documents", reason="email_unsupported")

    async def document_pdf(self, ref: DocumentRef) -> bytes:
        return await self.client.document_pdf(await self._doc_id(ref))

    async def cancel_document(self, ref: DocumentRef, reason: str) -> None:
        """Mark the document DELETED (iCash keeps it); already DELETED is done. `reason` is
        not sent: no cancel-reason field is known."""
        await self.client.cancel_document(await self._doc_id(ref))

    async def _doc_id(self, ref: DocumentRef) -> str:
        if ref.doc_id:
            return ref.doc_id
        subtype = "CREDIT" if ref.doctype == "CREDIT" else "NORMAL"
        query = {"DocumentNum": ref.docnum, "DocumentType": "INVOICE", "DocumentSubType": subtype}
        _, rows = await self.client.list_documents({**query, "count": wire.LIST_MAX_COUNT})
        if not rows:
            raise Permanent(f"iCash has no document {ref.docnum}", reason="document_not_found")
        return str(rows[0]["DocumentID"])
