"""iDoklad as a document provider: look up by reference, then create; iDoklad has no guard.

Two POSTs make two invoices, so the step runner looks a document up by our
reference before creating it and after an ambiguous failure (`idempotent_create`
is False). Choices where providers.md is silent:

- Kinds: `invoice` → an issued invoice; `invrec` → an issued invoice marked paid
  with `FullyPay` (dated the issue date); `receipt` based on an invoice → that
  invoice is marked paid and returned (no second document: iDoklad has no
  separate receipt); `refund` → a credit note through API v3, the only documented
  way to make one (`GET v3/CreditNotes/Default/{invoiceId}`, then `POST v3/CreditNotes`
  with `CreditedInvoiceId`; facts I-10, D-1). With no v3 root (a `base_url` not
  ending in `/v2`) a refund stops as `NeedsAttention("credit_note_unsupported")`.
- A paid kind found unpaid by `find_document` (a worker stopped between the POST
  and `FullyPay`) is paid there and then, so reconciling completes the step.
- Lookup: `OrderNumber~eq~<order_number(reference)>`; if iDoklad refuses that
  filter (400), `Description~ct~[reference]`; either way a result must match the
  reference exactly (`wire.matches_reference`); the oldest match wins. A page with a
  row the filter should have left out shows the filter was ignored: then every page
  is read and matched here (fact I-8).
- Customers: found by `Email~eq~`, else by `CompanyName~eq~` (company, else name),
  with the same check of the filter; created from `Contacts/Default`. The country is
  looked up by ISO code (or name) in `Countries`; unknown → the template's country.
  Currencies likewise by code in `Currencies`; unknown →
  `Permanent("unsupported_currency")`. Both lists are read whole (every page, I-7)
  once per provider.
- Emails go to the document's purchaser contact (`SendMailToPurchaser`,
  `Mails/CreditNote/Send` with `SendToPurchaser`); `to` is that contact's address
  by construction (`ensure_customer` finds or makes the contact by it). PDFs:
  `IssuedInvoices/{id}/GetPdf`, `Reports/CreditNote/{id}/Pdf` (seed 004, I-13).
- Cancelling: iDoklad v2 has no cancel for issued documents (only DELETE, which
  fiscal records must not use), so `can_cancel` is False and `cancel_document`
  raises `Permanent("cancel_unsupported")`; a credit note is the way back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from worker.domain.events import Customer
from worker.errors import NeedsAttention, Permanent
from worker.providers.base import (
    Capabilities,
    DocumentHint,
    DocumentKind,
    DocumentRef,
    DocumentRequest,
)
from worker.providers.idoklad.client import MAX_PAGE_SIZE, IDokladClient
from worker.providers.idoklad.wire import (
    build_contact,
    build_credit_note,
    build_filter,
    build_invoice,
    contact_name,
    filter_holds,
    matches_reference,
    order_number,
    parse_document,
    reference_marker,
)
from worker.settings import DocumentSettings

INVOICE, CREDIT_NOTE = "IssuedInvoice", "CreditNote"
#: the API resource of each document type
RESOURCES = {INVOICE: "IssuedInvoices", CREDIT_NOTE: "CreditNotes"}
#: the documented PDF of each document type (seed 004)
PDF_PATHS = {INVOICE: "IssuedInvoices/{id}/GetPdf", CREDIT_NOTE: "Reports/CreditNote/{id}/Pdf"}
_Row = dict[str, Any]
#: kinds whose invoice is marked paid
PAID_KINDS = frozenset({"invrec", "receipt"})
_PAID = 1  #: PaymentStatus.Paid


def _entity_id(value: object, what: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise Permanent(f"{what} {value!r} is not an iDoklad id", reason="bad_id") from None


def _doc_id(ref: DocumentRef) -> int:
    if ref.doc_id is None:
        raise Permanent(f"{ref.doctype} {ref.docnum} has no iDoklad id", reason="bad_id")
    return _entity_id(ref.doc_id, "document id")


def _code_map(items: list[dict[str, Any]]) -> dict[str, int]:
    codes: dict[str, int] = {}
    for item in items:
        for key in ("Name", "Code"):  # codes win over names
            if item.get(key) and item.get("Id") is not None:
                codes[str(item[key]).strip().upper()] = int(item["Id"])
    return codes


class IDokladProvider:
    """Makes a tenant's documents in its iDoklad account."""

    capabilities = Capabilities(
        idempotent_create=False, emails_on_create=False, can_email=True, can_cancel=False
    )

    def __init__(self, client: IDokladClient, tenant_documents: DocumentSettings) -> None:
        self.client = client
        self.documents = tenant_documents
        self._codes: dict[str, dict[str, int]] = {}

    async def ensure_customer(self, customer: Customer) -> str:
        """The contact's id: found by email (else name), or created from `Contacts/Default`."""
        if customer.email:
            condition = ("Email", "eq", customer.email)
        else:
            condition = ("CompanyName", "eq", contact_name(customer))
        try:
            found = await self._search("Contacts", condition, lambda row: True)
        except ValueError:  # a value the filter syntax cannot carry: make a new contact
            found = None
        if found is not None:
            return str(_entity_id(found.get("Id"), "contact id"))
        template = await self.client.default("Contacts")
        country = await self._code("Countries", customer.country) if customer.country else None
        created = await self.client.create("Contacts", build_contact(template, customer, country))
        return str(_entity_id(created.get("Id"), "contact id"))

    async def create_document(self, request: DocumentRequest) -> DocumentRef:
        if request.kind == "refund":
            return await self._credit_note(request)
        if request.kind == "receipt" and request.based_on is not None:
            return await self._pay(_doc_id(request.based_on), request)
        purchaser = request.customer_id or await self.ensure_customer(request.order.customer)
        currency = await self._currency(request.order.currency)
        template = await self.client.default("IssuedInvoices")
        body = build_invoice(
            template,
            request,
            purchaser_id=_entity_id(purchaser, "contact id"),
            currency_id=currency,
        )
        created = parse_document(await self.client.create("IssuedInvoices", body), INVOICE)
        if request.kind in PAID_KINDS:
            await self.client.fully_pay(_doc_id(created), request.issue_date)
        return created

    async def find_document(
        self, kind: DocumentKind, reference: str, *, hint: DocumentHint | None = None
    ) -> DocumentRef | None:
        """The document made for `reference` (by `OrderNumber`, so `hint` is not needed)."""
        doctype = CREDIT_NOTE if kind == "refund" else INVOICE
        found = await self._lookup(RESOURCES[doctype], reference)
        if found is None:
            return None
        if kind in PAID_KINDS and found.get("PaymentStatus") != _PAID:
            invoice_id = _entity_id(found.get("Id"), "document id")
            await self.client.fully_pay(invoice_id, _issue_day(found.get("DateOfIssue")))
        return parse_document(found, doctype)

    async def email_document(self, ref: DocumentRef, to: str) -> None:
        """Email the document to its purchaser contact (whose address is `to`)."""
        if ref.doctype == CREDIT_NOTE:
            await self.client.send_credit_note_mail(_doc_id(ref))
        else:
            await self.client.send_mail_to_purchaser(_doc_id(ref))

    async def document_pdf(self, ref: DocumentRef) -> bytes:
        path = PDF_PATHS.get(ref.doctype, PDF_PATHS[INVOICE])
        return await self.client.pdf(path.format(id=_doc_id(ref)))

    async def cancel_document(self, ref: DocumentRef, reason: str) -> None:
        """iDoklad cannot cancel an issued document; issue a credit note instead."""
        raise Permanent(
            f"iDoklad cannot cancel {ref.doctype} {ref.docnum}; issue a credit note",
            reason="cancel_unsupported",
        )

    # --- helpers --------------------------------------------------------------------------

    async def _lookup(self, resource: str, reference: str) -> _Row | None:
        def wanted(row: _Row) -> bool:
            return matches_reference(row, reference)

        try:
            condition = ("OrderNumber", "eq", order_number(reference))
            return await self._search(resource, condition, wanted)
        except Permanent as exc:
            if exc.reason != "invalid_model":
                raise
        condition = ("Description", "ct", reference_marker(reference))
        return await self._search(resource, condition, wanted)

    async def _search(
        self, resource: str, condition: tuple[str, str, str], wanted: Callable[[_Row], bool]
    ) -> _Row | None:
        """The oldest row matching `condition` and `wanted`, filtered by iDoklad if it honours
        the filter (every row of the first page matches), else by reading every page (I-8).

        Raises:
            ValueError: `condition` cannot be written as a filter.
        """
        query = {"sort": "Id~asc"}
        page = await self.client.list_page(
            resource, filter=build_filter(condition), pagesize=MAX_PAGE_SIZE, **query
        )
        if all(filter_holds(row, condition) for row in page.items):
            return next((row for row in page.items if wanted(row)), None)
        async for each in self.client.pages(resource, **query):
            for row in each.items:
                if filter_holds(row, condition) and wanted(row):
                    return row
        return None

    async def _pay(self, invoice_id: int, request: DocumentRequest) -> DocumentRef:
        await self.client.fully_pay(invoice_id, request.issue_date)
        return parse_document(await self.client.get("IssuedInvoices", invoice_id), INVOICE)

    async def _credit_note(self, request: DocumentRequest) -> DocumentRef:
        base = request.based_on
        if base is None or base.doc_id is None:
            raise Permanent(
                "a credit note needs the invoice it credits", reason="missing_base_document"
            )
        if self.client.v3_url is None:
            raise NeedsAttention(
                "iDoklad v2 cannot create credit notes and no v3 API root is known "
                "(base_url must end in /v2); issue the credit note by hand",
                reason="credit_note_unsupported",
            )
        invoice_id = _doc_id(base)
        template = await self.client.credit_note_default(invoice_id)
        currency = template.get("CurrencyId") or await self._currency(request.order.currency)
        body = build_credit_note(
            template, request, credited_id=invoice_id, currency_id=int(currency)
        )
        if request.customer_id is not None:
            body["PartnerId"] = _entity_id(request.customer_id, "contact id")
        return parse_document(await self.client.create_credit_note(body), CREDIT_NOTE)

    async def _currency(self, code: str) -> int:
        currency = await self._code("Currencies", code)
        if currency is None:
            raise Permanent(f"iDoklad has no currency {code}", reason="unsupported_currency")
        return currency

    async def _code(self, code_list: str, code: str) -> int | None:
        if code_list not in self._codes:
            self._codes[code_list] = _code_map(await self.client.code_list(code_list))
        return self._codes[code_list].get(code.strip().upper())


def _issue_day(value: object) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return datetime.now(UTC).date()
