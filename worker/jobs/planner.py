"""The step planner: the order's newest snapshot + its refunds + the ledger -> missing steps.

Pure. The planner does not replay events; it reconciles. From the newest
snapshot of the order (a stale event never replaces a newer one) it decides
which documents should exist, and returns those the ledger does not show done:

    unpaid, asks to be charged (and the tenant charges stored cards)
                         -> charge the stored card, then an invrec recording that charge
    paid                 -> invrec (invoice-receipt), or a receipt for an invoice
                            already issued while the order was unpaid
    unpaid, open         -> invoice (unless unpaid_doctype = "none")
    unpaid, cancelled    -> cancel the invoice, if one was issued
    every refund seen    -> one credit note ("refund" document) based on the sale document

A step's name is the last part of its idempotency key (`tenant:order:step`), so
planning a step twice is safe: a done step is skipped and a started one resumed.
Events can arrive in any order: a `paid` before `created` yields one invrec, a
stale `updated` or `created` after a cancellation yields nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from worker.domain.events import Order, Refund
from worker.settings import DocumentSettings

#: step states that need nothing more: done by us, or by a person (`jobs resolve`)
FINISHED = frozenset({"done", "resolved"})
REFUND_PREFIX = "refund:"
EMAIL_PREFIX = "email:"
CANCEL_INVOICE = "cancel:invoice"
SALE_STEPS = ("invoice", "invrec", "receipt")

Action = Literal["charge", "issue", "credit", "cancel", "email"]
CHARGE = "charge"


@dataclass(frozen=True)
class Step:
    """One thing to do for an order: issue a document, a credit note, or cancel a document.

    `based_on` names the step whose document this one refers to (or cancels).
    """

    name: str
    action: Action
    doctype: str
    email: bool
    based_on: str | None = None
    refund_id: str | None = None


def newest(stored: Order | None, incoming: Order | None) -> Order | None:
    """The fresher of two snapshots of one order; the incoming one wins ties and unknowns."""
    if stored is None or incoming is None:
        return incoming or stored
    if stored.updated_at and incoming.updated_at and stored.updated_at > incoming.updated_at:
        return stored
    return incoming


def charging(order: Order, documents: DocumentSettings) -> bool:
    """The order asks us to bill a stored card, the tenant allows it, and it is not paid."""
    return order.charge is not None and documents.charge_stored_cards and not order.paid


def _sale_steps(order: Order, documents: DocumentSettings, known: Mapping[str, str]) -> list[str]:
    if charging(order, documents):
        if known.keys() & {"invrec", "receipt"}:
            return []
        return ([] if known.get(CHARGE) in FINISHED else [CHARGE]) + ["invrec"]
    if order.paid:
        if known.keys() & {"invrec", "receipt"}:
            return []
        return ["receipt"] if "invoice" in known else [documents.paid_doctype]
    if known.keys() & {"invoice", "invrec"}:
        cancel = order.cancelled and "invoice" in known and CANCEL_INVOICE not in known
        return [CANCEL_INVOICE] if cancel else []
    if order.cancelled or documents.unpaid_doctype == "none":
        return []
    return ["invoice"]


def _step(name: str, email: bool, has_invrec: bool, charged: bool = False) -> Step:
    if name == CHARGE:
        return Step(name, "charge", CHARGE, False)
    if name == "invrec" and charged:
        return Step(name, "issue", name, email, CHARGE)  # records the charge's confirmation
    if name.startswith(EMAIL_PREFIX):
        document = _step(name.removeprefix(EMAIL_PREFIX), email, has_invrec, charged)
        return Step(name, "email", document.doctype, True, document.name, document.refund_id)
    if name.startswith(REFUND_PREFIX):
        base = "invrec" if has_invrec else "invoice"
        return Step(name, "credit", "refund", email, base, name.removeprefix(REFUND_PREFIX))
    if name == CANCEL_INVOICE:
        return Step(name, "cancel", "invoice", False, "invoice")
    return Step(name, "issue", name, email, "invoice" if name == "receipt" else None)


def _rank(name: str) -> tuple[int, str]:
    if name == CHARGE:
        return -1, name
    if name in SALE_STEPS:
        return SALE_STEPS.index(name), name
    if name.startswith(REFUND_PREFIX):
        return len(SALE_STEPS), name
    return (len(SALE_STEPS) + 1, name) if name.startswith(EMAIL_PREFIX) else (99, name)


def plan(
    order: Order,
    refunds: Mapping[str, Refund],
    known: Mapping[str, str],
    documents: DocumentSettings,
    *,
    emails_on_create: bool = True,
) -> list[Step]:
    """Steps still to run for `order` (its newest snapshot), given every refund seen and
    `known` (step name -> ledger state). Unfinished steps come back first, in order.

    A provider that does not email on create gets an `email:<step>` step after each
    document that should reach the customer."""
    names = {name for name, state in known.items() if state not in FINISHED}
    names |= set(_sale_steps(order, documents, known))
    sale_doc = names | known.keys()
    if refunds and sale_doc & {"invoice", "invrec", "receipt"}:
        names |= {REFUND_PREFIX + rid for rid in refunds if REFUND_PREFIX + rid not in known}
    email = documents.email and bool(order.customer.email)
    if email and not emails_on_create:
        documents_made = {
            n for n in names | known.keys() if n in SALE_STEPS or n.startswith(REFUND_PREFIX)
        }
        names |= {EMAIL_PREFIX + n for n in documents_made if EMAIL_PREFIX + n not in known}
    has_invrec = "invrec" in sale_doc
    charged = CHARGE in names or CHARGE in known
    return [_step(name, email, has_invrec, charged) for name in sorted(names, key=_rank)]
