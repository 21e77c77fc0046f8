"""The step runner: carries out a planned step through any `Provider`, exactly once in effect.

For a service without its own duplicate guard, the document is looked up by our
reference before it is created, and again after an ambiguous failure (the answer
was lost after the request was sent): found means done; not found means the
next attempt looks again before creating. Emails go through the provider, or,
where it cannot email, as a PDF through the tenant's SMTP server.
"""

from __future__ import annotations

from decimal import Decimal

from worker.domain.events import Line, Order, Refund
from worker.domain.idempotency import sanity_string
from worker.errors import NeedsAttention, OutcomeUnknown, Permanent
from worker.jobs.charging import recorded_charge, run_charge
from worker.jobs.mailer import Mailer
from worker.jobs.planner import CHARGE as CHARGE_STEP
from worker.jobs.planner import Step
from worker.jobs.process import StepContext
from worker.metrics import count_step
from worker.providers.base import (
    DocumentHint,
    DocumentKind,
    DocumentRef,
    DocumentRequest,
    Provider,
)
from worker.settings import DocumentSettings

_KINDS: dict[str, DocumentKind] = {
    "invoice": "invoice",
    "invrec": "invrec",
    "receipt": "receipt",
    "refund": "refund",
}


def _refund_line(order: Order, refund: Refund) -> Line:
    """One line for a refund that names none, taxed as the order was: exempt when no line
    of it was taxable, at its one rate when its taxable lines share one.

    Raises:
        NeedsAttention: the order's taxable lines have several rates; which of them the
            amount was refunded at cannot be told (reason `refund_rate_unknown`).
    """
    rates = {line.tax_rate for line in order.lines if line.taxable}
    if len(rates) > 1:
        raise NeedsAttention(
            f"refund {refund.refund_id} of order {order.number} names no lines, and the "
            "order was taxed at several rates: issue its credit note by hand",
            reason="refund_rate_unknown",
        )
    return Line(
        description=f"Refund for order {order.number}",
        quantity=1,
        unit_price=refund.amount,
        taxable=bool(rates),
        tax_rate=next(iter(rates), None),
    )


def credit_note_order(order: Order, refund: Refund) -> Order:
    """The refund as an order-shaped document: its own lines, or one line for the amount
    (`_refund_line`)."""
    lines = refund.lines or (_refund_line(order, refund),)
    return order.model_copy(
        update={
            "lines": lines,
            "total": refund.amount,
            "total_tax": sum(line.tax for line in lines),
            "prices_include_tax": True,
            "paid": False,
            "refunds": (),
            "created_at": refund.created_at or order.created_at,
            "gift_cards": Decimal(0),  # what gift cards paid of the sale is not the refund's
        }
    )


def _require(step: Step, context: StepContext) -> DocumentRef:
    document = context.based_on.document() if context.based_on else None
    if document is None:
        raise Permanent(
            f"{step.name} needs the {step.based_on} document first", reason="missing_base_document"
        )
    return document


class StepRunner:
    """One tenant's steps, through its provider (and its SMTP server where needed)."""

    def __init__(
        self,
        provider: Provider,
        tenant: str,
        documents: DocumentSettings,
        mailer: Mailer | None = None,
    ) -> None:
        self.provider = provider
        self.tenant = tenant
        self.documents = documents
        self.mailer = mailer
        #: the `provider` label of step metrics: ICountProvider -> "icount"
        self.provider_name = type(provider).__name__.removesuffix("Provider").lower()

    @property
    def emails_on_create(self) -> bool:
        return self.provider.capabilities.emails_on_create

    async def run(self, step: Step, context: StepContext) -> DocumentRef:
        """Carry out `step`, counted in `invoicebridge_steps_total` by how it ended."""
        with count_step(self.provider_name, step.action):
            return await self._run(step, context)

    async def _run(self, step: Step, context: StepContext) -> DocumentRef:
        if step.action == "cancel":
            document = _require(step, context)
            await self.provider.cancel_document(document, f"order {context.order.number} cancelled")
            return document
        if step.action == "email":
            return await self._email(step, context)
        if step.action == "charge":
            return await run_charge(self.provider, self.tenant, self.documents, context)
        return await self._issue(step, context)

    def _request(self, step: Step, context: StepContext) -> DocumentRequest:
        order = context.order
        charged = step.based_on == CHARGE_STEP
        if step.action == "credit":
            if context.refund is None:
                raise Permanent(f"no refund data for {step.name}", reason="missing_refund")
            order = credit_note_order(order, context.refund)
        return DocumentRequest(
            kind=_KINDS[step.doctype],
            order=order,
            reference=sanity_string(self.tenant, context.order.order_id, step.name),
            email=step.email and self.provider.capabilities.emails_on_create,
            documents=self.documents,
            issue_date=order.created_at.date(),
            based_on=_require(step, context) if step.based_on and not charged else None,
            charge=recorded_charge(context.based_on, order) if charged else None,
        )

    async def _issue(self, step: Step, context: StepContext) -> DocumentRef:
        request = self._request(step, context)
        guarded = self.provider.capabilities.idempotent_create
        hint = DocumentHint.of(request)
        if not guarded:
            found = await self.provider.find_document(request.kind, request.reference, hint=hint)
            if found is not None:
                return found
        customer_id = await self.provider.ensure_customer(request.order.customer)
        try:
            return await self.provider.create_document(_with_customer(request, customer_id))
        except OutcomeUnknown:
            if guarded:
                raise  # the retry repeats the guarded call and gets the same document
            found = await self.provider.find_document(request.kind, request.reference, hint=hint)
            if found is None:
                raise  # not visible (yet): the next attempt looks again before creating
            return found

    async def _email(self, step: Step, context: StepContext) -> DocumentRef:
        document = _require(step, context)
        to = context.order.customer.email
        if to is None:
            raise Permanent("the customer has no email address", reason="no_email")
        if self.provider.capabilities.can_email:
            if await self._already_emailed(step, context):
                return document.model_copy(update={"emailed": True})
            await self.provider.email_document(document, to)
        elif self.mailer is not None:
            pdf = await self.provider.document_pdf(document)
            mailer = self.mailer

            async def send() -> None:
                await mailer.send_document(
                    to,
                    f"Your document {document.docnum}",
                    f"Order {context.order.number}: your document {document.docnum} is attached.",
                    pdf,
                    f"{document.docnum}.pdf",
                )

            if context.smtp_guard is not None:
                sent = await context.smtp_guard(send)
                return document.model_copy(update={"emailed": sent})
            await send()
        else:
            raise Permanent("the provider cannot email and no SMTP is set", reason="no_smtp")
        return document.model_copy(update={"emailed": True})

    async def _already_emailed(self, step: Step, context: StepContext) -> bool:
        """After a crash mid-email, ask the service whether it already sent it."""
        assert step.based_on is not None
        reference = sanity_string(self.tenant, context.order.order_id, step.based_on)
        found = await self.provider.find_document(
            _KINDS[step.doctype], reference, hint=_hint(step, context)
        )
        return found is not None and found.emailed


def _hint(step: Step, context: StepContext) -> DocumentHint:
    """The hint for the document an email step sends: a credit note is dated by its refund."""
    order = context.order
    if step.refund_id and context.refund is not None:
        order = credit_note_order(order, context.refund)
    return DocumentHint(issue_date=order.created_at.date(), customer=order.customer)


def _with_customer(request: DocumentRequest, customer_id: str | None) -> DocumentRequest:
    from dataclasses import replace

    return replace(request, customer_id=customer_id)
