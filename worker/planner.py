"""The step planner: event + tenant settings + what the ledger already holds -> ordered steps.

Pure. A step is one document for one order; its name is also its idempotency
key's last part (`tenant:order:step`), so planning the same step twice is safe:
a done step is skipped and a started one is resumed, never duplicated.

    order.created  paid    -> invrec (invoice-receipt)
                   unpaid  -> invoice, or nothing when unpaid_doctype = "none"
    order.paid     invoice exists -> receipt based on it
                   otherwise      -> invrec
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from worker.domain.events import EventKind, OrderEvent
from worker.settings import DocumentSettings

#: the order in which an order's documents are made
STEP_ORDER = ("invoice", "invrec", "receipt")
_SALE = frozenset({"invoice", "invrec"})
_PAYMENT = frozenset({"invrec", "receipt"})


@dataclass(frozen=True)
class Step:
    """Make one document. `based_on` names the step whose document this one refers to."""

    name: str
    doctype: str
    email: bool
    based_on: str | None = None


def _wanted(event: OrderEvent, documents: DocumentSettings, existing: set[str]) -> list[str]:
    if event.kind is EventKind.ORDER_CREATED:
        if existing & _SALE:
            return []
        if event.order.paid:
            return [documents.paid_doctype]
        return ["invoice"] if documents.unpaid_doctype == "invoice" else []
    if event.kind is EventKind.ORDER_PAID:
        if existing & _PAYMENT:
            return []
        return ["receipt"] if "invoice" in existing else [documents.paid_doctype]
    return []


def plan(event: OrderEvent, documents: DocumentSettings, known: Mapping[str, str]) -> list[Step]:
    """Steps to run for `event`, given `known` (step name -> ledger state) for its order.

    Steps started before but not done (a crash, a retry, a failure) come back
    first, so nothing waits behind a half-made document.
    """
    unfinished = [name for name, state in known.items() if state != "done"]
    names = set(unfinished) | set(_wanted(event, documents, set(known)))
    email = documents.email and bool(event.order.customer.email)
    steps = []
    for name in sorted(names, key=STEP_ORDER.index):
        based_on = "invoice" if name == "receipt" else None
        steps.append(Step(name=name, doctype=name, email=email, based_on=based_on))
    return steps
