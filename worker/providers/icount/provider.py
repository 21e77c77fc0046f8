"""iCount as a `Provider`: documents are guarded by `sanity_string` and emailed on create.

A repeat of the same create (retry, redelivery, a worker killed mid-call) sends the
same `sanity_string`, and iCount answers with the document it already made, so
reconciling after an unknown outcome is simply asking again (`idempotent_create`).
iCount has no documented standalone email or look-up-by-reference call
(providers.md D.1.3), so `find_document` answers None and `email_document` is
never needed: the document goes out with `send_email` on create.

Charges bill the customer's stored card (`cc/bill`) with our reference in the
transaction's description; `find_charge` searches the transactions for it. The
card's token is fetched per charge and lives only in `charge`'s local variables.
"""

from __future__ import annotations

from worker.domain.events import Customer
from worker.errors import Permanent
from worker.providers.base import (
    Capabilities,
    ChargeOrder,
    ChargeRef,
    DocumentKind,
    DocumentRef,
    DocumentRequest,
)
from worker.providers.icount.client import ICountClient
from worker.providers.icount.wire import build_document_request
from worker.providers.icount.wire_charge import (
    build_charge_request,
    build_search_request,
    find_in_transactions,
    parse_charge,
)


class ICountProvider:
    """A tenant's iCount account."""

    capabilities = Capabilities(
        idempotent_create=True, emails_on_create=True, can_email=False, can_charge=True
    )

    def __init__(self, client: ICountClient) -> None:
        self.client = client

    async def ensure_customer(self, customer: Customer) -> str | None:
        return None  # doc/create matches or creates the client by name and email

    async def create_document(self, request: DocumentRequest) -> DocumentRef:
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
        return await self.client.create_document(body)

    async def find_document(self, kind: DocumentKind, reference: str) -> DocumentRef | None:
        return None  # the guarded create is the look-up

    async def email_document(self, ref: DocumentRef, to: str) -> None:
        raise Permanent("iCount emails documents on create only", reason="email_unsupported")

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
        data = await self.client.bill(
            build_charge_request(order, token, is_test=self.client.is_test)
        )
        return parse_charge(data, order)

    async def find_charge(self, reference: str) -> ChargeRef | None:
        data = await self.client.transactions(build_search_request(reference))
        return find_in_transactions(data, reference)
