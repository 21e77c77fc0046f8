"""Charging a stored card exactly once, whatever happens to the answers.

Every charge carries our reference in the transaction's description. Before any
charge, the transactions are searched for it. When an earlier attempt's outcome
is unknown (its answer was lost, or its worker died mid-call):

    found                                   -> that transaction is the charge
    not found, within the settle window     -> wait (no retry spent) and look again
    not found after it, first time          -> one new attempt
    not found after it, after a re-attempt  -> stop: needs_attention, never billed blindly
"""

from __future__ import annotations

import time
from typing import cast

from worker.domain.events import Order
from worker.domain.idempotency import sanity_string
from worker.errors import NeedsAttention, Permanent, Waiting
from worker.jobs.process import StepContext
from worker.ledger.records import JobRecord
from worker.providers.base import ChargeOrder, ChargeRef, ChargingProvider, DocumentRef, Provider
from worker.settings import DocumentSettings

CHARGE_DOCTYPE = "charge"  #: how a charge is kept in the ledger: docnum = confirmation code


def charge_order(tenant: str, order: Order) -> ChargeOrder:
    if order.charge is None:
        raise Permanent("the order does not ask for a charge", reason="no_charge_request")
    request = order.charge
    return ChargeOrder(
        reference=sanity_string(tenant, order.order_id, "charge"),
        amount=order.total,
        currency=order.currency,
        customer_ref=request.customer_ref,
        num_of_payments=request.num_of_payments,
        first_payment=request.first_payment,
        customer_name=order.customer.name,
    )


def as_document(charge: ChargeRef) -> DocumentRef:
    return DocumentRef(
        doctype=CHARGE_DOCTYPE,
        docnum=charge.confirmation_code,
        doc_id=charge.transaction_id,
        total=charge.amount,
        card_type=charge.card_type,
    )


def recorded_charge(job: JobRecord | None, order: Order) -> ChargeRef:
    """The charge an invrec records, rebuilt from the ledger's charge step and the order."""
    if job is None or job.docnum is None or order.charge is None:
        raise Permanent("the invoice-receipt needs the charge first", reason="missing_charge")
    return ChargeRef(
        confirmation_code=job.docnum,
        amount=order.total,
        currency=order.currency,
        num_of_payments=order.charge.num_of_payments,
        first_payment=order.charge.first_payment,
        transaction_id=job.doc_id,
        card_type=job.card_type or None,
    )


def _check_unknown(job: JobRecord | None, settle_s: float) -> None:
    """Raise unless a new charge attempt is safe now (see the module docstring)."""
    if job is None or not job.unknown_count or job.unknown_since is None:
        return
    waited = time.time() - job.unknown_since
    if waited < settle_s:
        raise Waiting(
            "waiting for the card transaction to show up",
            delay_ms=max(500, int((settle_s - waited) * 1000)),
        )
    if job.unknown_count >= 2:
        raise NeedsAttention(
            "the charge's outcome is unknown: no transaction was found after the settle "
            "window and one new attempt; check the card transactions before charging",
            reason="charge_outcome_unknown",
        )


async def run_charge(
    provider: Provider, tenant: str, documents: DocumentSettings, context: StepContext
) -> DocumentRef:
    if not provider.capabilities.can_charge:
        raise Permanent("this provider cannot charge cards", reason="charge_unsupported")
    charging = cast(ChargingProvider, provider)
    order = charge_order(tenant, context.order)
    found = await charging.find_charge(order.reference)
    if found is not None:
        return as_document(found)
    _check_unknown(context.job, documents.charge_settle_s)
    return as_document(await charging.charge(order))
