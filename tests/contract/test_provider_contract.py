"""The provider contract: every provider (real client + its sandbox over HTTP) must pass it.

Create, find by our reference, a repeated step, a credit note, email, and each fault
kind: 5xx, the answer lost after the document was made (timeout, disconnect), 429, nothing
listening; and a session (or token) the service forgot.
Steps run through the generic `StepRunner`, as the worker runs them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp
import pytest

from handlers.sources import shopify
from invoicebridge.samples import shopify as samples
from tests.contract.harness import HARNESSES, Harness, Running, free_port, runner_at, running
from worker.domain.events import Order, Refund
from worker.domain.idempotency import sanity_string
from worker.errors import BridgeError, OutcomeUnknown, RateLimited, Retryable
from worker.jobs.planner import Step
from worker.jobs.process import StepContext
from worker.ledger.records import JobRecord
from worker.providers.base import DocumentHint, DocumentRef

INVREC = Step("invrec", "issue", "invrec", email=True)
REFUND = Step("refund:r1", "credit", "refund", email=True, based_on="invrec", refund_id="r1")
EMAIL = Step("email:invrec", "email", "invrec", email=True, based_on="invrec")


@pytest.fixture(params=HARNESSES, ids=str)
async def box(request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    harness: Harness = request.param
    async with running(harness) as started:
        yield started


def order(box: Running | Harness, order_id: int = 501) -> Order:
    """A paid card order that names its transaction id, as the worker hands it to a provider
    once the payment details are in (a Shopify order's own webhook has no id), priced as a
    shop in the provider's country would."""
    harness = box if isinstance(box, Harness) else box.harness
    payload = samples.shopify_order(
        order_id,
        discount="7.00",
        customer_name="Dana Levi",
        currency=harness.sample_currency,
        vat_rate=harness.sample_vat_rate,
    )
    payload = samples.with_sale(payload)
    body = json.dumps(payload).encode()
    parsed = shopify.parse(
        body, samples.headers_for(body, topic="orders/paid", secret="s", event_id="e")
    )
    assert parsed.order is not None
    return parsed.order


def context(
    the_order: Order, based_on: DocumentRef | None = None, refund: Refund | None = None
) -> StepContext:
    record = None
    if based_on is not None:
        record = JobRecord(
            key="k",
            state="done",
            attempts=1,
            doctype=based_on.doctype,
            docnum=based_on.docnum,
            doc_id=based_on.doc_id,
        )
    return StepContext(tenant="acme", order=the_order, refund=refund, based_on=record)


async def issue_until_done(box: Running, step: Step, ctx: StepContext) -> DocumentRef:
    """Run a step as the worker would: again after a retryable error, at most 3 times."""
    for _ in range(3):
        try:
            return await box.runner.run(step, ctx)
        except (Retryable, OutcomeUnknown):
            continue
    raise AssertionError("the step never completed")


async def test_create_makes_one_document_with_the_exact_total(box: Running) -> None:
    """An invoice-receipt whose total is the shop's to the smallest unit."""
    the_order = order(box)
    await box.runner.run(INVREC, context(the_order))
    [doc] = await box.documents()
    assert box.harness.total(doc) == the_order.total


async def test_repeating_a_step_never_makes_a_second_document(box: Running) -> None:
    """The same step run three times (redelivery, operator retry): one document."""
    the_order = order(box)
    refs = [await box.runner.run(INVREC, context(the_order)) for _ in range(3)]
    assert len({ref.docnum for ref in refs}) == 1
    assert len(await box.documents()) == 1


async def test_find_by_our_reference(box: Running) -> None:
    """Every provider finds the document by our reference (iCount, whose search has no such
    filter, with the hint of its day and customer: F-DOCX-5), else None."""
    provider = box.runner.provider
    the_order = order(box)
    made = await box.runner.run(INVREC, context(the_order))
    reference = sanity_string("acme", the_order.order_id, "invrec")
    hint = DocumentHint(issue_date=the_order.created_at.date(), customer=the_order.customer)
    found = await provider.find_document("invrec", reference, hint=hint)
    assert found is not None and found.docnum == made.docnum
    missing = sanity_string("acme", "nope", "invrec")
    assert await provider.find_document("invrec", missing, hint=hint) is None


async def test_credit_note_refers_to_the_invoice(box: Running) -> None:
    """A refund becomes one credit note, for the refund's amount, based on the invrec."""
    the_order = order(box)
    invrec = await box.runner.run(INVREC, context(the_order))
    refund = Refund(
        refund_id="r1",
        amount=Decimal("20.00"),
        currency=the_order.currency,
        created_at=datetime(2026, 11, 2, tzinfo=UTC),
    )
    for _ in range(2):
        await box.runner.run(REFUND, context(the_order, invrec, refund))
    credits = [d for d in await box.documents() if box.harness.is_credit(d)]
    assert len(credits) == 1 and box.harness.total(credits[0]) == Decimal("20.00")


async def test_the_customer_gets_exactly_one_email(box: Running) -> None:
    """Emailed on create, by the provider's email call, or as a PDF by SMTP: once."""
    the_order = order(box)
    invrec = await box.runner.run(INVREC, context(the_order))
    if not box.runner.emails_on_create:
        await box.runner.run(EMAIL, context(the_order, invrec))
    assert await box.emails() == 1


async def test_server_error_is_retryable_and_makes_nothing(box: Running) -> None:
    """A 503 before any work: a retryable error (not a rate limit) and no document; the next
    run goes through."""
    await box.control("POST", "faults", {"path": box.harness.create_path, "plan": [503]})
    the_order = order(box)
    with pytest.raises(Retryable) as caught:
        await box.runner.run(INVREC, context(the_order))
    assert not isinstance(caught.value, RateLimited)
    assert await box.documents() == []
    await box.runner.run(INVREC, context(the_order))
    [doc] = await box.documents()
    assert box.harness.total(doc) == the_order.total


@pytest.mark.parametrize("harness", HARNESSES, ids=str)
async def test_nothing_listening_is_retryable(harness: Harness) -> None:
    """Connection refused: nothing was sent, so even a create is Retryable (not a rate limit),
    not OutcomeUnknown."""
    async with aiohttp.ClientSession() as session:
        runner = runner_at(harness, f"http://127.0.0.1:{free_port()}", session, free_port())
        with pytest.raises(Retryable) as caught:
            await runner.run(INVREC, context(order(harness)))
    assert not isinstance(caught.value, (RateLimited, OutcomeUnknown))


async def test_an_expired_session_logs_in_again_once(box: Running) -> None:
    """After the service forgets its sessions (iCount, iCash) or tokens (iDoklad), the
    provider opens a new one, once, and the call goes through."""
    await box.runner.run(INVREC, context(order(box)))
    assert (await box.control("POST", box.harness.expire))["expired"] == 1
    await box.runner.run(INVREC, context(order(box, 502)))
    counts = (await box.control("GET", "requests"))["counts"]
    assert counts[box.harness.login_path] == 2
    assert len(await box.documents()) == 2


@pytest.mark.parametrize("fault", ["timeout-after-commit", "disconnect-after-commit"])
async def test_lost_answer_after_commit_still_one_document(box: Running, fault: str) -> None:
    """The service made the document but the answer was lost: the step ends with that one."""
    plan = {"path": box.harness.create_path, "plan": [fault], "hang_s": 2}
    await box.control("POST", "faults", plan)
    made = await issue_until_done(box, INVREC, context(order(box)))
    [doc] = await box.documents()
    assert str(doc["docnum"]) == made.docnum


async def test_short_rate_limit_is_waited_out_in_line(box: Running) -> None:
    """429 with Retry-After 1: the call waits and goes through; the job sees no error."""
    await box.control(
        "POST", "faults", {"path": box.harness.create_path, "plan": [429], "retry_after": 1}
    )
    await box.runner.run(INVREC, context(order(box)))
    assert len(await box.documents()) == 1


async def test_long_rate_limit_is_left_to_the_queue(box: Running) -> None:
    """429 with a long Retry-After: RateLimited with that delay, and nothing made."""
    plan = {"path": box.harness.create_path, "plan": [429], "retry_after": 30}
    await box.control("POST", "faults", plan)
    with pytest.raises(RateLimited) as raised:
        await box.runner.run(INVREC, context(order(box)))
    assert raised.value.delay_ms == 30_000
    assert await box.documents() == []


async def test_errors_are_from_the_one_taxonomy(box: Running) -> None:
    """A refused document is a BridgeError the worker knows how to act on."""
    bad = order(box).model_copy(update={"total": Decimal("1.00")})  # a total that cannot add up
    with pytest.raises(BridgeError):
        await box.runner.run(INVREC, context(bad))
    assert await box.documents() == []
