"""iCount as a document provider: each step is one idempotent iCount call.

Issuing a document or a credit note sends a `sanity_string` derived from tenant,
order and step, so a repeat of the step (retry, redelivery, a worker killed
mid-call) gets the document iCount already made: reconciling after an unknown
outcome is simply asking again. Cancelling an already-cancelled document counts
as done, for the same reason.
"""

from __future__ import annotations

from worker.domain.events import Line, Order, Refund
from worker.domain.idempotency import sanity_string
from worker.errors import Permanent
from worker.jobs import StepContext
from worker.ledger import JobRecord
from worker.planner import Step
from worker.providers.icount.client import ICountClient
from worker.providers.icount.wire import DocumentRef, build_document_request
from worker.settings import DocumentSettings


def _base(step: Step, based_on: JobRecord | None) -> tuple[str, str]:
    if based_on is None or not based_on.doctype or not based_on.docnum:
        raise Permanent(
            f"{step.name} needs the {step.based_on} document first", reason="missing_base_document"
        )
    return based_on.doctype, based_on.docnum


def credit_note_order(order: Order, refund: Refund) -> Order:
    """The refund as an order-shaped document: its own lines, or one line for the amount."""
    lines = refund.lines or (
        Line(description=f"Refund for order {order.number}", quantity=1, unit_price=refund.amount),
    )
    return order.model_copy(update={
        "lines": lines, "total": refund.amount, "total_tax": sum(line.tax for line in lines),
        "prices_include_tax": True, "paid": False, "refunds": (),
        "created_at": refund.created_at or order.created_at,
    })  # fmt: skip


class ICountProvider:
    """Makes a tenant's documents in its iCount account. iCount emails on create."""

    emails_on_create = True

    def __init__(self, client: ICountClient, tenant: str, documents: DocumentSettings) -> None:
        self.client = client
        self.tenant = tenant
        self.documents = documents

    async def run(self, step: Step, context: StepContext) -> DocumentRef:
        if step.action == "cancel":
            return await self._cancel(step, context)
        order, based_on = context.order, None
        if step.action == "credit":
            if context.refund is None:
                raise Permanent(f"no refund data for {step.name}", reason="missing_refund")
            order = credit_note_order(order, context.refund)
        if step.based_on is not None:
            based_on = _base(step, context.based_on)
        body = build_document_request(
            order,
            doctype=step.doctype,
            documents=self.documents.model_copy(update={"email": step.email}),
            sanity=sanity_string(self.tenant, context.order.order_id, step.name),
            issue_date=order.created_at.date(),
            based_on=based_on,
        )
        return await self.client.create_document(body)

    async def _cancel(self, step: Step, context: StepContext) -> DocumentRef:
        doctype, docnum = _base(step, context.based_on)
        reason = f"Order {context.order.number} was cancelled"
        await self.client.cancel_document(doctype, docnum, reason)
        return DocumentRef(doctype=doctype, docnum=docnum)
