"""iDoklad as a document provider: look up by reference, then create; iDoklad has no guard.

Two POSTs make two invoices, so the step runner looks a document up by our
reference before creating it and after an ambiguous failure (`idempotent_create`
is False). Choices where providers.md is silent:

- Kinds: `invoice` → an issued invoice; `invrec` → an issued invoice marked paid
  with `FullyPay` (dated the issue date); `receipt` based on an invoice → that
  invoice is marked paid and returned (no second document: iDoklad has no
  separate receipt); `refund` → a credit note (`POST CreditNotes`,
  `CreditNoteForDocumentId` = the invoice's id).
- A paid kind found unpaid by `find_document` (a worker stopped between the POST
  and `FullyPay`) is paid there and then, so reconciling completes the step.
- Lookup: `OrderNumber~eq~<order_number(reference)>`; if iDoklad refuses that
  filter (400), `Description~ct~[reference]`; either way a result must match the
  reference exactly (`wire.matches_reference`); the oldest match wins.
- Customers: found by `Email~eq~`, else by `CompanyName~eq~` (company, else name);
  created from `Contacts/Default`. The country is looked up by ISO code (or name)
  in `Countries`; unknown → the template's country. Currencies likewise by code in
  `Currencies`; unknown → `Permanent("unsupported_currency")`. Both lists are read
  once per provider.
- Emails go to the document's purchaser contact (`SendMailToPurchaser`,
  `Mails/CreditNote/Send` with `SendToPurchaser`); `to` is that contact's address
  by construction (`ensure_customer` finds or makes the contact by it).
- Cancelling: iDoklad v2 has no cancel for issued documents (only DELETE, which
  fiscal records must not use), so `can_cancel` is False and `cancel_document`
  raises `Permanent("cancel_unsupported")`; a credit note is the way back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from worker.domain.events import Customer
from worker.errors import Permanent
from worker.providers.base import (
    Capabilities,
    DocumentHint,
    DocumentKind,
    DocumentRef,
    DocumentRequest,
)
from worker.providers.idoklad.client import IDokladClient
from worker.providers.idoklad.wire import (
    build_contact,
    build_credit_note,
    build_filter,
    build_invoice,
    contact_name,
    matches_reference,
    order_number,
    parse_document,
    reference_marker,
)
from worker.settings import DocumentSettings

INVOICE, CREDIT_NOTE = "IssuedInvoice", "CreditNote"
#: the API resource of each document type
RESOURCES = {INVOICE: "IssuedInvoices", CREDIT_NOTE: "CreditNotes"}
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
        field, value = ("Email", customer.email) if customer.email else (
            "CompanyName", contact_name(customer))  # fmt: skip
        try:
            flt: str | None = build_filter((field, "eq", value))
        except ValueError:  # a value the filter syntax cannot carry: make a new contact
            flt = None
        if flt is not None:
            found = await self.client.list_page("Contacts", filter=flt, sort="Id~asc", pagesize=1)
            if found.items:
                return str(_entity_id(found.items[0].get("Id"), "contact id"))
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
        body = build_invoice(template, request, purchaser_id=_entity_id(purchaser, "contact id"),
                             currency_id=currency)  # fmt: skip
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
        return await self.client.pdf(RESOURCES.get(ref.doctype, "IssuedInvoices"), _doc_id(ref))

    async def cancel_document(self, ref: DocumentRef, reason: str) -> None:
        """iDoklad cannot cancel an issued document; issue a credit note instead."""
        raise Permanent(
            f"iDoklad cannot cancel {ref.doctype} {ref.docnum}; issue a credit note",
            reason="cancel_unsupported",
        )

    # --- helpers --------------------------------------------------------------------------

    async def _lookup(self, resource: str, reference: str) -> dict[str, Any] | None:
        query = {"sort": "Id~asc", "pagesize": 50}
        try:
            flt = build_filter(("OrderNumber", "eq", order_number(reference)))
            page = await self.client.list_page(resource, filter=flt, **query)
        except Permanent as exc:
            if exc.reason != "invalid_model":
                raise
            flt = build_filter(("Description", "ct", reference_marker(reference)))
            page = await self.client.list_page(resource, filter=flt, **query)
        return next((doc for doc in page.items if matches_reference(doc, reference)), None)

    async def _pay(self, invoice_id: int, request: DocumentRequest) -> DocumentRef:
        await self.client.fully_pay(invoice_id, request.issue_date)
        return parse_document(await self.client.get("IssuedInvoices", invoice_id), INVOICE)

    async def _credit_note(self, request: DocumentRequest) -> DocumentRef:
        base = request.based_on
        if base is None or base.doc_id is None:
            raise Permanent("a credit note needs the invoice it credits",
                            reason="missing_base_document")  # fmt: skip
        purchaser = request.customer_id
        body = build_credit_note(
            request,
            credited_id=_doc_id(base),
            purchaser_id=None if purchaser is None else _entity_id(purchaser, "contact id"),
            currency_id=await self._currency(request.order.currency),
        )
        return parse_document(await self.client.create("CreditNotes", body), CREDIT_NOTE)

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
