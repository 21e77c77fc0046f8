"""iCash as a `Provider`: each document is one operation of ours, found again by our reference.

iCash documents no call that makes a document directly; it documents operations
(providers.md D.3.4; icash.bg/bg/api/ 3.13-3.22, facts register docs/providers/icash.md):

    new-operation (ImportSource, ImportRefID, Sell | ReturnClient, register, store,
                   contragent, Comment)
    add-operation-sale-item   once per item (`sale.sale_items`)
    add-operation-payment     the whole amount at the order's pay type; the part gift cards
                              paid first, at its own (`payment.payments`)
    print-operation           finalises it (TEMP -> NORMAL)
    documents-list            the document made from it (`DocumentOperationID`)

iCash has no duplicate guard, so (`idempotent_create=False`) the runner looks the
document up before creating and after an unknown outcome, and every step of the flow
starts by finding our operation (`operations-list` by ImportSource + ImportRefID,
ours only when its `OperationComment` carries our reference's token). An operation
found unfinished is resumed: its `OperationPrice` says how many of our items it
already holds (`sale.items_added`), its `OperationPayedSum` whether it was paid. A
printed one is never printed again; its document is looked up, and the step waits
for it (`Retryable`) for `document_wait_s`, then stops as needs_attention.

What the flow cannot express stops as needs_attention: an unpaid invoice (an
operation is a sale, paid), a receipt for an issued invoice, cancelling a document.
iCash cannot email (`can_email=False`): the runner sends the PDF, which we render
from `get-document` (`pdf.document_pdf`): no documented call returns one.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worker.domain.events import Customer, Order
from worker.domain.money import parse_amount
from worker.errors import NeedsAttention, OutcomeUnknown, Permanent, Retryable
from worker.providers.base import (
    Capabilities,
    DocumentHint,
    DocumentKind,
    DocumentRef,
    DocumentRequest,
)
from worker.providers.icash import payment, sale, wire
from worker.providers.icash.client import ICashClient
from worker.providers.icash.pdf import document_pdf
from worker.settings import DocumentSettings, ICashSettings

#: a look-up gives up (fail closed) after reading this many rows
MAX_SCAN = 5_000
#: the country of a business customer whose address names none
DEFAULT_COUNTRY = "BG"
_Row = dict[str, Any]
#: `create_document` found nothing `find_document` had just looked up for it
_UNSEEN: Any = object()


def _number(value: object) -> Decimal:
    try:
        return parse_amount(value) if value not in (None, "") else Decimal(0)
    except ValueError:
        raise Permanent(
            f"iCash answered {value!r} for an amount", reason="unexpected_answer"
        ) from None


def _zone(icash: ICashSettings) -> tzinfo:
    """The zone iCash's clock runs in; UTC where this host has no zone data."""
    try:
        return ZoneInfo(icash.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _type(kind: DocumentKind) -> str:
    return wire.RETURN if kind == "refund" else wire.SELL


class ICashProvider:
    """A tenant's iCash account (Bulgaria)."""

    capabilities = Capabilities(
        idempotent_create=False, emails_on_create=False, can_email=False, can_cancel=False
    )

    def __init__(
        self, client: ICashClient, documents: DocumentSettings, icash: ICashSettings
    ) -> None:
        self.client = client
        self.documents = documents
        self.icash = icash
        #: what `find_document` found of (kind, reference) when it answered None: the runner
        #: calls `create_document` next (the order's lock keeps one step of an order at a
        #: time), which takes it instead of listing the operations again
        self._looked_up: dict[tuple[str, str], _Row | None] = {}

    # --- customers --------------------------------------------------------------------------

    async def ensure_customer(self, customer: Customer) -> str | None:
        """The business customer's contragent, found or added; None for a consumer."""
        if not sale.needs_contragent(customer):
            return None
        fields = sale.contragent_fields(customer, DEFAULT_COUNTRY)
        found = await self._find_contragent(fields)
        if found is not None:
            return found
        try:
            data = await self.client.call(wire.ADD_CONTRAGENT, fields, mutating=True)
        except OutcomeUnknown:
            found = await self._find_contragent(fields)
            if found is None:
                raise
            return found
        if not isinstance(data, dict) or data.get("ContragentID") in (None, ""):
            raise Permanent(
                "iCash add-contragent answered no ContragentID", reason="unexpected_answer"
            )
        return str(data["ContragentID"])

    async def _find_contragent(self, fields: dict[str, object]) -> str | None:
        query = {"ContragentName": fields["ContragentName"], "ContragentType": "CLIENT"}
        row = await self._scan(
            wire.GET_CONTRAGENTS, query, lambda row: sale.same_contragent(row, fields)
        )
        return None if row is None else str(row["ContragentID"])

    # --- documents --------------------------------------------------------------------------

    async def find_document(
        self, kind: DocumentKind, reference: str, *, hint: DocumentHint | None = None
    ) -> DocumentRef | None:
        """The document of our finalised operation for `reference`, if iCash shows one yet;
        checked against the order the hint carries, as a document just made would be."""
        operation = await self._operation(kind, reference)
        if operation is None or operation["OperationStatus"] == wire.TEMP:
            self._looked_up[(kind, reference)] = operation  # the runner creates next
            return None
        return await self._document(
            kind, int(operation["OperationID"]), hint.order if hint else None
        )

    async def create_document(self, request: DocumentRequest) -> DocumentRef:
        kind, order = request.kind, request.order
        if kind in ("invoice", "receipt"):
            what = "an unpaid invoice" if kind == "invoice" else "a receipt for an issued invoice"
            raise NeedsAttention(
                f"iCash documents no way to make {what}: an operation is a paid sale or a return",
                reason=f"{kind}_unsupported",
            )
        items = sale.sale_items(order, self.documents, self.icash)
        price = sum((item.amount for item in items), Decimal(0))
        payments = payment.payments(order, price, self.documents, self.icash)
        operation = self._looked_up.pop((kind, request.reference), _UNSEEN)
        if operation is _UNSEEN:  # not just looked up by `find_document`
            operation = await self._operation(kind, request.reference)
        if operation is None:
            operation = await self._open(request)
        operation_id = int(operation["OperationID"])
        printed_now = False
        if operation["OperationStatus"] == wire.TEMP:
            await self._fill(operation, items, payments)
            await self._print(operation_id, payments[-1].pay_type)
            printed_now = True
        ref = await self._document(kind, operation_id, order, items)
        if ref is None:
            raise self._no_document(operation, printed_now)
        return ref

    async def email_document(self, ref: DocumentRef, to: str) -> None:
        raise Permanent("iCash cannot email documents", reason="email_unsupported")

    async def document_pdf(self, ref: DocumentRef) -> bytes:
        """The document rendered from `get-document` (iCash documents no PDF call)."""
        if not ref.doc_id:
            raise Permanent(
                f"iCash document {ref.docnum} has no DocumentID", reason="document_not_found"
            )
        return document_pdf(await self.client.record(wire.GET_DOCUMENT, {"DocumentID": ref.doc_id}))

    async def cancel_document(self, ref: DocumentRef, reason: str) -> None:
        raise NeedsAttention(
            f"iCash documents no way to cancel {ref.doctype} {ref.docnum}: "
            "cancel it in iCash, or refund it",
            reason="cancel_unsupported",
        )

    # --- the operation ------------------------------------------------------------------------

    async def _operation(self, kind: DocumentKind, reference: str) -> _Row | None:
        """Our operation for `reference`, as `get-operation` reads it (a finalised one before
        an unfinished one); None when there is none. Every status but DELETED is looked
        through, and any but TEMP counts as finalised: it is never printed again."""
        query = {
            "ImportSource": wire.IMPORT_SOURCE,
            "ImportRefID": wire.import_ref_id(reference),
            "OperationType": _type(kind),
            "OperationStatus": ",".join(wire.LIVE_STATUSES),
            "sort": "OperationID",
        }
        token = wire.comment_token(reference)
        found: list[_Row] = []

        async def ours(row: _Row) -> bool:
            read = await self.client.record(wire.GET_OPERATION, {"OperationID": row["OperationID"]})
            if token not in str(read.get("OperationComment") or ""):
                return False
            if read.get("OperationStatus") in (None, ""):
                raise NeedsAttention(
                    f"iCash shows operation {row['OperationID']} without a status",
                    reason="operation_unreadable",
                )
            found.append(read)
            return bool(read["OperationStatus"] != wire.TEMP)

        await self._scan_async(wire.OPERATIONS_LIST, query, ours)
        final = [row for row in found if row["OperationStatus"] != wire.TEMP]
        return (final or found)[0] if found else None

    async def _open(self, request: DocumentRequest) -> _Row:
        reference, order = request.reference, request.order
        comment = f"{wire.comment_token(reference)} order {order.number}"
        fields: dict[str, object] = {
            "ImportSource": wire.IMPORT_SOURCE,
            "ImportRefID": wire.import_ref_id(reference),
            "OperationType": _type(request.kind),
            "OperationElectronicReceipt": "YES" if self.icash.electronic_receipt else "NO",
            "CashRegisterID": self.icash.cash_register_id,
            "StoreID": self.icash.store_id,
            "ContragentID": request.customer_id,
            "Comment": comment[:255],
        }
        if request.kind == "refund":
            fields.update(await self._storno(request))
        data = await self.client.call(
            wire.NEW_OPERATION, {k: v for k, v in fields.items() if v is not None}, mutating=True
        )
        if not isinstance(data, dict) or data.get("OperationID") in (None, ""):
            raise OutcomeUnknown("iCash new-operation answered no OperationID")
        return {
            "OperationID": data["OperationID"],
            "OperationStatus": wire.TEMP,
            "OperationPrice": "0",
            "OperationPayedSum": "0",
        }

    async def _storno(self, request: DocumentRequest) -> dict[str, object]:
        """The return's storno fields: the sale's receipt, from the invoice's operation."""
        based_on = request.based_on
        if based_on is None or not based_on.doc_id:
            raise Permanent(
                "a return needs the iCash DocumentID of its sale", reason="missing_base_document"
            )
        if self.icash.fiscal_device_number is None:
            raise NeedsAttention(
                "a refund's return names the fiscal device: set icash.fiscal_device_number",
                reason="no_fiscal_device",
            )
        document = await self.client.record(wire.GET_DOCUMENT, {"DocumentID": based_on.doc_id})
        sold = await self.client.record(
            wire.GET_OPERATION, {"OperationID": document["DocumentOperationID"]}
        )
        uuid, completed = (
            sold.get("OperationFiskBonUUID"),
            str(sold.get("OperationCompleteDate") or ""),
        )
        try:
            when = datetime.strptime(completed, "%Y-%m-%d %H:%M:%S").strftime(wire.FISK_BON_DATE)
        except ValueError:
            when = ""
        if not uuid or not when:
            raise NeedsAttention(
                f"iCash shows no receipt for the sale of {based_on.docnum} to return against",
                reason="no_sale_receipt",
            )
        return {
            "StornoType": self.icash.storno_type,
            "FiskBonRcpNum": sold.get("OperationNum"),
            "FiskDeviceNum": self.icash.fiscal_device_number,
            "FiskBonDate": when,
            "FiskBonUUID": uuid,
        }

    async def _fill(
        self, operation: _Row, items: list[sale.SaleItem], payments: list[payment.PaymentPart]
    ) -> None:
        """Add the items the operation does not hold yet, then the payments it does not hold
        yet (a gift card's part, then the rest: `payment.payments_added`)."""
        operation_id = int(operation["OperationID"])
        if any(operation.get(key) in (None, "") for key in ("OperationPrice", "OperationPayedSum")):
            raise NeedsAttention(
                f"iCash shows operation {operation_id} without its price or paid sum",
                reason="operation_unreadable",
            )
        held = sale.items_added(items, _number(operation.get("OperationPrice")))
        for item in items[held:]:
            await self.client.call(wire.ADD_SALE_ITEM, item.fields(operation_id), mutating=True)
        paid = payment.payments_added(payments, _number(operation.get("OperationPayedSum")))
        for part in payments[paid:]:
            await self.client.call(wire.ADD_PAYMENT, part.fields(operation_id), mutating=True)

    async def _print(self, operation_id: int, pay_type: int) -> None:
        fields = {"OperationID": operation_id, "PayTypeID": pay_type}
        try:
            await self.client.call(wire.PRINT_OPERATION, fields, mutating=True)
        except Permanent:
            again = await self.client.record(wire.GET_OPERATION, {"OperationID": operation_id})
            if again.get("OperationStatus") in (None, "", wire.TEMP):
                raise  # refused, and not because it was already printed

    async def _document(
        self,
        kind: DocumentKind,
        operation_id: int,
        order: Order | None,
        items: list[sale.SaleItem] | None = None,
    ) -> DocumentRef | None:
        """The document made from the operation, read with `get-document` and checked
        against `order` (when known; `items` are its sale items, when already made); None
        while iCash shows none."""
        query = {
            "DocumentOperationID": operation_id,
            "DocumentType": "INVOICE",
            "DocumentSubType": "CREDIT" if kind == "refund" else "NORMAL",
            "sort": "DocumentID",
        }
        row = await self._scan(
            wire.DOCUMENTS_LIST,
            query,
            lambda row: str(row.get("DocumentOperationID")) == str(operation_id),
        )
        if row is None:
            return None
        document = await self.client.record(wire.GET_DOCUMENT, {"DocumentID": row["DocumentID"]})
        if order is None:
            return sale.document_ref(document)
        if items is None:
            items = sale.sale_items(order, self.documents, self.icash)
        return sale.check_document(order, self.documents, document, items)

    def _no_document(self, operation: _Row, printed_now: bool) -> Exception:
        operation_id = operation["OperationID"]
        waiting = Retryable(f"iCash has not shown the document of operation {operation_id} yet")
        if printed_now:
            return waiting
        try:  # iCash's clock, in the account's time zone
            completed = datetime.strptime(
                str(operation.get("OperationCompleteDate")), "%Y-%m-%d %H:%M:%S"
            )
        except ValueError:
            completed = None
        if completed is not None:
            age = (datetime.now(UTC) - completed.replace(tzinfo=_zone(self.icash))).total_seconds()
            if age < self.icash.document_wait_s:
                return waiting
        return NeedsAttention(
            f"iCash finalised operation {operation_id} but shows no document "
            "made from it: issue the invoice in iCash, then retry the job",
            reason="no_document_for_operation",
        )

    # --- paging -------------------------------------------------------------------------------

    async def _scan(self, method: str, query: dict[str, object], wanted: Any) -> _Row | None:
        """The first row of `method` that `wanted` accepts, paging through every row the
        query returns (a service that ignores a filter returns more; each row is checked)."""
        found: list[_Row] = []

        async def check(row: _Row) -> bool:
            if wanted(row):
                found.append(row)
                return True
            return False

        await self._scan_async(method, query, check)
        return found[0] if found else None

    async def _scan_async(self, method: str, query: dict[str, object], check: Any) -> None:
        """Call `check` on rows in order until it answers True.

        Raises:
            Permanent: more than `MAX_SCAN` rows to read (`lookup_too_large`).
        """
        offset = 0
        while offset < MAX_SCAN:
            total, rows = await self.client.rows(
                method, {**query, "offset": offset, "count": wire.LIST_MAX_COUNT}
            )
            for row in rows:
                if await check(row):
                    return
            offset += len(rows)
            if not rows or offset >= total:
                return
        raise Permanent(
            f"iCash {method} lists too many rows to look through", reason="lookup_too_large"
        )
