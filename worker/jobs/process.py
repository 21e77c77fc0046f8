"""Jobs: what a worker does with one queued event. Actors are thin shims around these.

`process_event` loads the event from the ledger, takes the order's lock, plans
the steps and runs each through the tenant's provider. A done step is skipped;
the provider call itself is idempotent (iCount `sanity_string`), so a worker that
dies mid-call and is replaced still yields one document. A payment-details event
plans nothing: its payment is kept for the order's documents (`payment_details`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import structlog
from redis.exceptions import LockError

from worker.alerts.alerter import Alerter
from worker.domain.events import EventKind, Order, OrderEvent, Refund
from worker.domain.idempotency import job_key
from worker.domain.states import BUSY_STATES, EventState
from worker.errors import (
    BridgeError,
    DocumentNeedsAttention,
    NeedsAttention,
    OutcomeUnknown,
    Permanent,
    RateLimited,
    Retryable,
)
from worker.jobs.email_once import EmailGuard, email_guard
from worker.jobs.limits import TenantLimits
from worker.jobs.order_lock import Renew, renew_until
from worker.jobs.payment_details import awaited, keep, merged, preferred
from worker.jobs.planner import Step, newest, plan
from worker.jobs.reading import NotReadable, ReadDelivery, read_received
from worker.jobs.refunds import added
from worker.ledger.ledger import Ledger
from worker.ledger.records import JobFailure, JobRecord, OrderState, StoredInvalid
from worker.providers.base import DocumentRef
from worker.settings import Settings

log = structlog.get_logger("worker.jobs")
#: the keeper under the name it had before it moved to `order_lock`
_keep = renew_until


@dataclass(frozen=True)
class StepContext:
    """What a provider needs to carry out one step."""

    tenant: str
    order: Order  #: the order's newest snapshot
    refund: Refund | None = None  #: for a credit note
    based_on: JobRecord | None = None  #: the document a receipt, credit note or cancel refers to
    job: JobRecord | None = None  #: this step's own record as this attempt began
    #: how an email with no idempotency of its own (SMTP) is sent (worker/jobs/email_once.py)
    smtp_guard: EmailGuard | None = None


class DocumentProvider(Protocol):
    """The part of a provider the job needs: carry out a step, idempotently."""

    @property
    def emails_on_create(self) -> bool: ...

    async def run(self, step: Step, context: StepContext) -> DocumentRef: ...


#: event states a worker never acts on again (an operator's `jobs retry` moves them on)
SETTLED = frozenset({"done", "failed", "needs_attention", "resolved", "discarded"})
#: how often an event of a paused tenant looks again (ms)
PAUSED_RECHECK_MS = 10_000


class RetryLater(Exception):
    """Run the event again after `delay_ms`; raised to the actor, which hands it to dramatiq."""

    def __init__(self, reason: str, delay_ms: int) -> None:
        super().__init__(reason)
        self.delay_ms = delay_ms


@dataclass
class Deps:
    settings: Settings
    ledger: Ledger
    provider_for: Callable[[str], DocumentProvider]
    #: told of every event that ends done, failed or needs_attention; None: no alerts
    alerter: Alerter | None = None
    #: per-tenant limits across hosts; None: none enforced (tests that build Deps by hand)
    limits: TenantLimits | None = None
    #: the receiver's parsers, for deliveries recorded as they came; None: none read
    read: ReadDelivery | None = None


def backoff_ms(failures: int, settings: Settings) -> int:
    """Exponential backoff with full jitter between the configured bounds."""
    queue = settings.queue
    ceiling = min(queue.max_backoff_ms, queue.min_backoff_ms * 2 ** min(failures, 20))
    return max(queue.min_backoff_ms, int(random.uniform(0, ceiling)))  # noqa: S311 (jitter)


async def process_event(deps: Deps, event_id: str) -> None:
    """Bring one event to `done`, `failed`, or raise `RetryLater`."""
    found = await _event_to_run(deps, event_id)
    if found is None:
        return
    event, fresh, paused = found
    try:
        await _admitted(deps, event, fresh, paused)
    except RetryLater:  # paused, over its share, its order busy: it waits, read once
        if fresh:
            await deps.ledger.read_as(event_id, event)
        raise


async def _admitted(deps: Deps, event: OrderEvent, fresh: bool, paused: bool) -> None:
    """Run the event within its tenant's limits (paused: later; over its share: later)."""
    if paused:
        # recorded and queued as usual; it waits, without spending a retry
        raise RetryLater("tenant paused", delay_ms=PAUSED_RECHECK_MS)
    tenant = deps.settings.tenants.get(event.tenant)
    if deps.limits is None or tenant is None:
        await _locked(deps, event, fresh=fresh)
        return
    admission = await deps.limits.admit(event.tenant, tenant.limits)
    if not admission.admitted:  # over the tenant's share: later, no retry spent
        raise RetryLater(admission.reason, delay_ms=admission.wait_ms)
    limits = deps.limits

    async def keep_slot() -> None:
        await limits.renew(event.tenant, admission)

    try:
        await _locked(deps, event, keep_slot, fresh)
    finally:
        await deps.limits.release(event.tenant, admission)


async def _event_to_run(deps: Deps, event_id: str) -> tuple[OrderEvent, bool, bool] | None:
    """The event to run, whether it was read from its delivery just now (kept with its next
    write), and whether its tenant is paused; None when there is nothing to run (settled,
    missing, unreadable).

    Raises:
        RetryLater: it is still to be read and this worker has no parsers.
    """
    item = await deps.ledger.work_item(event_id)
    event, state = item.event, item.state
    if item.unreadable is not None:
        await _unreadable(deps, event_id, state, item.unreadable)
        return None
    if item.received is not None:
        event = await _read(deps, item.received, state)
        if event is None:
            return None
    if event is None:
        log.warning("event_missing", event_id=event_id)
        return None
    structlog.contextvars.bind_contextvars(
        event_id=event_id, tenant=event.tenant, order_id=event.order_id
    )
    if state in SETTLED:
        log.info("event_already_settled", state=state)
        return None
    return event, item.received is not None, item.paused


async def _read(deps: Deps, fields: dict[str, str], state: str | None) -> OrderEvent | None:
    """The event a delivery recorded as it came reads as (`worker.jobs.reading`); None when
    it asks nothing of us, or cannot be read (then kept `unreadable`, and alerted)."""
    if state not in BUSY_STATES:  # `unreadable` already, or settled by an operator
        log.info("event_already_settled", event_id=fields["id"], state=state)
        return None
    if deps.read is None:  # a worker started without the parsers: another may have them
        log.error("worker_cannot_read", event_id=fields["id"])
        raise RetryLater("no parser for received deliveries", delay_ms=PAUSED_RECHECK_MS)
    try:
        return await read_received(deps.ledger, deps.read, fields)
    except NotReadable as exc:
        if deps.alerter is not None:
            tenant, event_id = fields["tenant"], fields["id"]
            await deps.alerter.event_failed(tenant, event_id, "unreadable", exc.reason)
        return None


async def _unreadable(deps: Deps, event_id: str, state: str | None, exc: StoredInvalid) -> None:
    """An event recorded in a shape this version refuses (before its models were tightened)
    fails with `stored_event_invalid`, naming the field; retrying cannot make it readable."""
    if state in SETTLED:
        log.info("event_already_settled", state=state)
        return
    fields = await deps.ledger.event(event_id)
    tenant, order_id = fields.get("tenant", ""), fields.get("order_id", "")
    structlog.contextvars.bind_contextvars(tenant=tenant, order_id=order_id)
    log.error("event_failed", reason=exc.reason, error=str(exc))
    await _settle_as(
        deps,
        event_id,
        tenant,
        "failed",
        f"{exc.reason}: {exc}",
        order_id=order_id,
        number=fields.get("order_number") or None,
    )


async def _locked(
    deps: Deps, event: OrderEvent, also_renew: Renew | None = None, fresh: bool = False
) -> None:
    """Run the event holding its order's lock (renewed while it runs, with `also_renew`: the
    tenant's concurrency slot, so both end together if the worker dies); `fresh`: it was
    read from the delivery just now, and is kept with its `running` state."""
    ttl_s = deps.settings.queue.lock_ttl_ms / 1000
    lock = deps.ledger.order_lock(event.tenant, event.order_id, ttl_s)
    if not await lock.acquire():
        raise RetryLater("order busy", delay_ms=500 + random.randint(0, 500))  # noqa: S311
    done = asyncio.Event()
    keeper = asyncio.create_task(renew_until(lock, ttl_s, done, also_renew))
    try:
        await _run_event(deps, event, fresh)
    finally:
        # stopped by its flag, not cancelled: on Python 3.11, asyncio.wait_for (which redis-py
        # wraps every command in) can swallow a cancel that lands as a command completes, and
        # the keeper would then renew the lock for ever while this waits on it
        done.set()
        await keeper
        try:
            await lock.release()
        except LockError:  # held past its TTL; another worker may own the order now
            log.warning("order_lock_expired_while_held", ttl_s=ttl_s)


async def _run_event(deps: Deps, event: OrderEvent, fresh: bool = False) -> None:
    ledger = deps.ledger
    if not await ledger.start_event(event.event_id, event if fresh else None):
        log.info("event_moved_on")  # read meanwhile by another worker, or settled by hand
        return
    try:
        await _run_steps(deps, event)
    except Permanent as exc:
        state: EventState = "needs_attention" if isinstance(exc, NeedsAttention) else "failed"
        log.error("event_" + state, reason=exc.reason, error=str(exc))
        await _settle(deps, event, state, error=f"{exc.reason}: {exc}")
        return
    except RateLimited as exc:
        await ledger.set_event_state(event.event_id, "retrying", error=str(exc))
        raise RetryLater("rate limited", delay_ms=exc.delay_ms or 60_000) from exc
    except (Retryable, OutcomeUnknown) as exc:
        await _retry_or_fail(deps, event, exc)
        return
    log.info("event_done")
    await _settle(deps, event, "done")


async def _retry_or_fail(deps: Deps, event: OrderEvent, exc: BridgeError) -> None:
    failures = await deps.ledger.count_failure(event.event_id)
    if failures > deps.settings.queue.max_retries:
        log.error("event_failed", reason="retries_exhausted", error=str(exc))
        await _settle(deps, event, "failed", error=f"retries exhausted: {exc}")
        return
    await deps.ledger.set_event_state(event.event_id, "retrying", error=str(exc))
    log.warning("event_retrying", failures=failures, error=str(exc))
    raise RetryLater(type(exc).__name__, delay_ms=backoff_ms(failures, deps.settings)) from exc


async def _settle(deps: Deps, event: OrderEvent, state: EventState, error: str = "") -> None:
    number = event.order.number if event.order is not None else None
    await _settle_as(
        deps, event.event_id, event.tenant, state, error, order_id=event.order_id, number=number
    )


async def _settle_as(
    deps: Deps,
    event_id: str,
    tenant: str,
    state: EventState,
    error: str,
    *,
    order_id: str,
    number: str | None,
) -> None:
    """Write the event's final state, then tell the alerter (which never raises: an alert
    that cannot go out is logged, and the job's outcome stands)."""
    await deps.ledger.set_event_state(event_id, state, error=error or None)
    alerter = deps.alerter
    if alerter is None:
        return
    if state == "done":
        await alerter.event_done(tenant, event_id)
        return
    await alerter.event_failed(
        tenant, event_id, state, error, order_id=order_id, order_number=number
    )


async def _current_order(deps: Deps, event: OrderEvent) -> tuple[Order, OrderState]:
    """The newest snapshot of the event's order and all the ledger knows of it; what is new
    (a newer snapshot, refunds not seen before, a payment that wins over the kept one) is
    saved for later events, in one round trip."""
    ledger, tenant, order_id = deps.ledger, event.tenant, event.order_id
    known = await ledger.order_state(tenant, order_id)
    order = newest(known.snapshot, event.order)
    seen = [*([event.refund] if event.refund else []), *(order.refunds if order else ())]
    fresh = added(seen, known.refunds)
    own = event.order.payment if event.order is not None else None
    # a payment that names its transaction may fill a gap of another event's order
    kept = preferred(known.payment, own) if own is not None and own.transaction_id else None
    snapshot = order if order is not known.snapshot else None
    # The refund is kept even when its order is not known yet: the order's own event will
    # issue the credit note when it comes.
    await ledger.save_order(tenant, order_id, snapshot, fresh, kept)
    payment = kept or known.payment
    if order is None:
        # A refund (Stripe, Shopify refunds/create) before any event that showed the order.
        raise Retryable("the order of this refund has not been seen yet")
    refunds = known.refunds | {refund.refund_id: refund for refund in fresh}
    return order, replace(known, snapshot=order, refunds=refunds, payment=payment)


async def _keep_payment(deps: Deps, event: OrderEvent) -> None:
    """A payment-details event: its payment is kept for the order, whether or not the order
    has been seen yet; no step is planned (a step waiting for it comes back on its own)."""
    stored = await deps.ledger.payment(event.tenant, event.order_id)
    kept = await keep(deps.ledger, event.tenant, event.order_id, stored, event.payment)
    log.info(
        "payment_details_kept",
        kept=kept is not stored,
        transaction_id=bool(kept and kept.transaction_id),
    )


async def _run_steps(deps: Deps, event: OrderEvent) -> None:
    tenant = deps.settings.tenants.get(event.tenant)
    if tenant is None:
        raise Permanent(f"tenant {event.tenant!r} is no longer configured", reason="no_tenant")
    if event.kind is EventKind.PAYMENT_DETAILS:
        await _keep_payment(deps, event)
        return
    order, current = await _current_order(deps, event)
    known, refunds = dict(current.steps), current.refunds
    provider = deps.provider_for(event.tenant)
    states = {name: job.state for name, job in known.items()}
    steps = plan(
        order, refunds, states, tenant.documents, emails_on_create=provider.emails_on_create
    )
    if not steps:
        log.info("nothing_to_do", kind=event.kind.value)
    # a paid order's documents record how it was paid, with details that came apart from it
    paid = merged(order, current.payment) if order.paid else order
    for step in steps:
        context = StepContext(
            tenant=event.tenant,
            order=paid if step.action == "issue" else order,
            refund=refunds.get(step.refund_id) if step.refund_id else None,
            based_on=known.get(step.based_on) if step.based_on else None,
        )
        known[step.name] = await _run_step(deps, provider, event, step, context)


async def _fail_step(
    deps: Deps, event: OrderEvent, job: JobRecord, exc: BridgeError, where: dict[str, Any]
) -> BridgeError:
    """Record how a step's attempt failed, and return the error it ends with: a payment block
    without its transaction id waits a while for the payment details to arrive
    (`payment_details.awaited`); any other error stands."""
    documents = deps.settings.tenants[event.tenant].documents
    outcome = awaited(
        exc,
        job,
        wait_s=documents.payment_details_wait_s,
        source=event.source,
        max_delay_ms=deps.settings.queue.max_backoff_ms,
    )
    await deps.ledger.fail_job(
        job.key,
        state=_job_state(outcome),
        error=f"{type(outcome).__name__}: {outcome}",
        unknown=isinstance(outcome, OutcomeUnknown),
        document=_made(outcome),
        **where,
    )
    return outcome


def _made(exc: BridgeError) -> DocumentRef | None:
    """The document a step made before it stopped for a human, if it made one."""
    document = exc.document if isinstance(exc, DocumentNeedsAttention) else None
    return document if isinstance(document, DocumentRef) else None


def _job_state(exc: BridgeError) -> JobFailure:
    if isinstance(exc, NeedsAttention):
        return "needs_attention"
    return "failed" if isinstance(exc, Permanent) else "retrying"


async def _run_step(
    deps: Deps, provider: DocumentProvider, event: OrderEvent, step: Step, context: StepContext
) -> JobRecord:
    ledger, order_id = deps.ledger, event.order_id
    key = job_key(event.tenant, order_id, step.name)
    where: dict[str, Any] = {"tenant": event.tenant, "order_id": order_id, "step": step.name}
    job = await ledger.start_job(key, event_id=event.event_id, **where)
    if job.state == "done":
        log.info("step_skipped_done", step=step.name, docnum=job.docnum)
        return job
    guard = None
    if step.action == "email":  # only an email step may go out through SMTP
        policy = deps.settings.tenants[event.tenant].documents.email_recovery
        guard = email_guard(ledger, key, policy, where)
    try:
        ref = await provider.run(step, replace(context, job=job, smtp_guard=guard))
    except BridgeError as exc:
        outcome = await _fail_step(deps, event, job, exc, where)
        if outcome is exc:
            raise
        raise outcome from exc
    except Exception as exc:  # a bug or an unforeseen library error: keep it visible, retry
        log.exception("step_crashed", step=step.name)
        error = f"unexpected {type(exc).__name__}: {exc}"
        await ledger.fail_job(key, state="retrying", error=error, **where)
        raise Retryable(error) from exc
    await ledger.finish_job(key, document=ref, **where)
    log.info(
        "step_done",
        step=step.name,
        action=step.action,
        doctype=ref.doctype,
        docnum=ref.docnum,
        emailed=ref.emailed,
    )
    return replace(
        job,
        state="done",
        doctype=ref.doctype,
        docnum=ref.docnum,
        doc_id=ref.doc_id or "",
        doc_url=ref.doc_url or "",
        emailed=ref.emailed,
        card_type=ref.card_type or "",
        last_error=None,
    )
