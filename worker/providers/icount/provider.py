"""iCount as a document provider: an order step becomes one `doc/create` with a sanity string.

A repeat of the same step (retry, redelivery, a worker killed mid-call) sends the
same `sanity_string`, and iCount answers with the document it already made, so
reconciling after an unknown outcome is simply asking again.
"""

from __future__ import annotations

from worker.domain.events import OrderEvent
from worker.domain.idempotency import sanity_string
from worker.errors import Permanent
from worker.ledger import JobRecord
from worker.planner import Step
from worker.providers.icount.client import ICountClient
from worker.providers.icount.wire import DocumentRef, build_document_request
from worker.settings import DocumentSettings


class ICountProvider:
    """Makes a tenant's documents in its iCount account. iCount emails on create."""

    emails_on_create = True

    def __init__(self, client: ICountClient, tenant: str, documents: DocumentSettings) -> None:
        self.client = client
        self.tenant = tenant
        self.documents = documents

    async def create_document(
        self, event: OrderEvent, step: Step, based_on: JobRecord | None
    ) -> DocumentRef:
        base: tuple[str, str] | None = None
        if step.based_on is not None:
            if based_on is None or based_on.doctype is None or based_on.docnum is None:
                raise Permanent(
                    f"{step.name} needs the {step.based_on} document first",
                    reason="missing_base_document",
                )
            base = (based_on.doctype, based_on.docnum)
        documents = self.documents.model_copy(update={"email": step.email})
        body = build_document_request(
            event.order,
            doctype=step.doctype,
            documents=documents,
            sanity=sanity_string(self.tenant, event.order.order_id, step.name),
            issue_date=(event.occurred_at or event.order.created_at).date(),
            based_on=base,
        )
        return await self.client.create_document(body)
