"""iCount as a `Provider`: documents are guarded by `sanity_string` and emailed on create.

A repeat of the same create (retry, redelivery, a worker killed mid-call) sends the same
`sanity_string`, and iCount issues no second document. What the repeat answers is not
documented (docs/providers/icount.md F-DOC-20, D-24), so both plausible answers are handled:
the first document comes back (`status: true`, its docnum), or the call is refused. The
refusal's reason code is unknown too, so *any* refusal of a create is taken as "maybe a
duplicate": the document made for our reference is looked up (`find_document`: "Search
documents" for the day's documents of the customer, then "Get document information" on
each, newest first, bounded) and recorded; found nowhere, the refusal stands. Either way
nothing is issued twice, and the runner keeps `idempotent_create` (a retry repeats the create).

`email_document` sends an issued document again with "Send document by email" (`doc/email`);
the first email still goes out with the create (`send_email`).

Charges bill the customer's stored card (`cc/bill`) with our reference in the
transaction's description; `find_charge` searches the transactions for it. The
card's token is fetched per charge and lives only in `charge`'s local variables.
"""

from __future__ import annotations

from worker.domain.events import Customer
from worker.errors import NeedsAttention, Permanent
from worker.providers.base import (
    Capabilities,
    ChargeOrder,
    ChargeRef,
    DocumentHint,
    DocumentKind,
    DocumentRef,
    DocumentRequest,
)
from worker.providers.icount.client import ICountClient
from worker.providers.icount.vat_check import check_answer
from worker.providers.icount.wire import (
    build_document_request,
    created_document,
    emails_on_create,
    parse_document,
)
from worker.providers.icount.wire_charge import (
    build_charge_request,
    build_search_request,
    find_in_transactions,
    parse_charge,
)
from worker.providers.icount.wire_docs import (
    MAX_CANDIDATES,
    build_doc_searches,
    candidates,
    carries_reference,
)


class ICountProvider:
    """A tenant's iCount account."""

    capabilities = Capabilities(
        idempotent_create=True, emails_on_create=True, can_email=True, can_charge=True
    )

    def __init__(self, client: ICountClient) -> None:
        self.client = client

    async def ensure_customer(self, customer: Customer) -> str | None:
        return None  # doc/create matches or creates the client by name and email

    async def create_document(self, request: DocumentRequest) -> DocumentRef:
        """Create the document, or get the one this `reference` already made.

        Raises:
            Permanent: iCount refused and has no document for the reference.
            OutcomeUnknown: the answer was lost; repeat the same request.
        """
        based_on = request.based_on
        body = build_document_request(
            request.order,
            doctype=request.kind,
            documents=request.documents.model_copy(update={"email": request.email}),
            sanity=request.reference,
            issue_date=request.issue_date,
            based_on=(based_on.doctype, based_on.docnum) if based_on else None,
            charge=request.charge,
            bank_account_id=self.client.bank_account_id,
        )
        try:
            made = created_document(await self.client.create_document(body), body)
        except Permanent as refused:  # a repeated sanity_string, or a real refusal
            found = await self._made_before(request, refused)
            made = found.model_copy(update={"emailed": emails_on_create(body)})
        check_answer(request.order, request.documents, made)
        return made

    async def _made_before(self, request: DocumentRequest, refused: Permanent) -> DocumentRef:
        """The document an earlier attempt made for the refused request's reference.

        Raises:
            Permanent: `refused` itself, when no such document can be found.
            Retryable: the look-up could not be made now (the next attempt repeats it all).
        """
        try:
            found = await self.find_document(
                request.kind, request.reference, hint=DocumentHint.of(request)
            )
        except Permanent:
            found = None  # iCount refused the look-up as well: nothing known, the refusal stands
        if found is None:
            raise refused
        return found

    async def find_document(
        self, kind: DocumentKind, reference: str, *, hint: DocumentHint | None = None
    ) -> DocumentRef | None:
        """The document made for `reference`: the documents of `kind` dated `hint.issue_date`
        for the hint's customer (by email, then by name), read newest first, at most
        `MAX_CANDIDATES` of them, until one carries the reference. None without a hint:
        `doc/search` cannot filter by our reference.

        `emailed` is False: no answer field is known to say whether iCount emailed it.
        """
        if hint is None:
            return None
        seen: set[str] = set()
        for search in build_doc_searches(kind, hint):
            rows = await self.client.search_documents(search)
            fresh = [docnum for docnum in candidates(rows) if docnum not in seen]
            for docnum in fresh[: MAX_CANDIDATES - len(seen)]:
                seen.add(docnum)
                found = await self._read(kind, docnum, reference)
                if found is not None:
                    return found
        return None

    async def _read(self, kind: DocumentKind, docnum: str, reference: str) -> DocumentRef | None:
        try:
            info = await self.client.document_info(kind, docnum)
        except Permanent:
            return None  # this candidate cannot be read (of another kind, say); try the next
        if not carries_reference(info, reference):
            return None
        fields = {**info, "doctype": kind, "docnum": info.get("docnum") or docnum}
        return parse_document(fields, emailed=False)

    async def email_document(self, ref: DocumentRef, to: str) -> None:
        """Email the document to `to` again (`doc/email`).

        Raises:
            Permanent: `email_unsupported` (iCount refused) or `email_not_confirmed`.
        """
        await self.client.send_document_email(ref.doctype, ref.docnum, to)

    async def document_pdf(self, ref: DocumentRef) -> bytes:
        raise Permanent("iCount documents are emailed by iCount", reason="pdf_unsupported")

    async def cancel_document(self, ref: DocumentRef, reason: str) -> None:
        await self.client.cancel_document(ref.doctype, ref.docnum, reason)

    async def charge(self, order: ChargeOrder) -> ChargeRef:
        """Bill the stored card of `order.customer_ref` once.

        Raises:
            Permanent: a decline (reason `declined`, `expired_card`, ...) or no stored card.
            Retryable: the card company could not process it; nothing was charged.
            OutcomeUnknown: the answer was lost; `find_charge` before anything else.
        """
        token = await self.client.stored_card(order.customer_ref)
        is_test = self.client.is_test
        data = await self.client.bill(build_charge_request(order, token, is_test=is_test))
        return _live(parse_charge(data, order), is_test)

    async def find_charge(self, reference: str) -> ChargeRef | None:
        is_test = self.client.is_test
        data = await self.client.transactions(build_search_request(reference, is_test=is_test))
        found = find_in_transactions(data, reference, is_test=is_test)
        return None if found is None else _live(found, is_test)


def _live(charge: ChargeRef, is_test: bool) -> ChargeRef:
    """`charge`, unless it was a test (`icount.is_test`): then nobody was charged, and no
    invoice-receipt may record it, so the step stops for a person. Its description marks
    it a test, so once `is_test` is off a retry charges for real."""
    if is_test:
        raise NeedsAttention(
            f"test charge {charge.confirmation_code} made with icount.is_test: nobody was "
            "charged and no document is issued; turn is_test off and retry to charge for real",
            reason="test_charge",
        )
    return charge
