"""A repeated iCount `sanity_string`, answered either way, and the look-up and email methods:
the real provider and worker against the iCount sandbox over HTTP (docs/providers/icount.md
F-DOC-20, D-24, F-DOCX-5 to F-DOCX-9)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from handlers.deliveries import to_item
from handlers.sources import shopify
from invoicebridge.samples import shopify as samples
from sandboxes.icount.app import RunningSandbox
from sandboxes.icount.control import DUPLICATE_MODES
from tests.tenants import icount_login, worker_settings
from worker.domain.events import Order, OrderEvent
from worker.domain.idempotency import sanity_string
from worker.errors import Permanent, Retryable
from worker.jobs import process as jobs
from worker.jobs.planner import Step
from worker.jobs.process import StepContext
from worker.jobs.runner import StepRunner
from worker.ledger.records import JobRecord
from worker.providers.base import DocumentHint, DocumentKind, DocumentRef, DocumentRequest
from worker.providers.icount.client import ICountClient
from worker.providers.icount.provider import ICountProvider
from worker.providers.icount.wire_docs import MAX_CANDIDATES
from worker.runtime.resources import Resources
from worker.settings import DocumentSettings, ICountSettings

INVREC = Step("invrec", "issue", "invrec", email=True)
EMAIL_AGAIN = Step("email:invrec", "email", "invrec", email=True, based_on="invrec")


@pytest.fixture
async def deps(redis_url: str, sandbox: RunningSandbox) -> AsyncIterator[jobs.Deps]:
    tenant = {"source": "shopify", "secret": "s", "provider": "icount"}
    icount = icount_login(sandbox.api_url)
    settings = worker_settings(redis_url, {"acme": {**tenant, "icount": icount}})
    resources = Resources(settings)
    yield await resources.open()
    await resources.close()


def provider_for(http: aiohttp.ClientSession, sandbox: RunningSandbox) -> ICountProvider:
    settings = ICountSettings(
        base_url=sandbox.api_url, api_token="API3E8-sandbox-token", timeout_s=5.0
    )
    return ICountProvider(ICountClient(http, settings))


async def control(sandbox: RunningSandbox, method: str, what: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{sandbox.url}/_sandbox/{what}", json=body) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


def sample_event(order_id: int) -> OrderEvent:
    body = json.dumps(samples.with_sale(samples.shopify_order(order_id))).encode()
    headers = samples.headers_for(body, topic="orders/paid", secret="s", event_id=f"e{order_id}")
    event = to_item(shopify.parse(body, headers), "acme", "shopify")
    assert isinstance(event, OrderEvent) and event.order is not None
    return event


def request_for(order: Order, reference: str | None = None, email: bool = True) -> DocumentRequest:
    """The invrec the worker asks for (`reference` overrides ours, as another step's would)."""
    return DocumentRequest(
        kind="invrec",
        order=order,
        reference=reference or sanity_string("acme", order.order_id, "invrec"),
        email=email,
        documents=DocumentSettings(),
        issue_date=order.created_at.date(),
    )


async def counts(sandbox: RunningSandbox) -> dict[str, int]:
    return dict((await control(sandbox, "GET", "requests"))["counts"])


# --- the worker, in both duplicate modes ------------------------------------------------


@pytest.mark.parametrize("mode", DUPLICATE_MODES)
async def test_a_repeated_create_records_the_first_document(
    deps: jobs.Deps, sandbox: RunningSandbox, mode: str
) -> None:
    """F-DOC-20, D-24: an earlier attempt made the invrec and died before recording it. The
    worker's create repeats the sanity_string; iCount answers the first document, or refuses
    and the provider finds it (doc/search + doc/info, by hwc: F-DOCX-5 to 7). The ledger
    records that docnum; one document, one email."""
    await control(sandbox, "POST", "config", {"duplicate_mode": mode})
    event = sample_event(11)
    await deps.ledger.record(event)
    assert event.order is not None
    first = await deps.provider_for("acme").run(INVREC, StepContext("acme", event.order))
    await jobs.process_event(deps, event.event_id)
    [doc] = await control(sandbox, "GET", "documents")
    job = await deps.ledger.job("acme:11:invrec")
    assert job is not None and (job.state, job.docnum, job.emailed) == ("done", first.docnum, True)
    assert doc["docnum"] == first.docnum
    assert len(await control(sandbox, "GET", "emails")) == 1
    made = await counts(sandbox)
    assert made["doc/create"] == 2
    assert (made.get("doc/search", 0), made.get("doc/info", 0)) == (
        (1, 1) if mode == "reject" else (0, 0)
    )


@pytest.mark.parametrize("mode", DUPLICATE_MODES)
async def test_a_lost_answer_then_retry_makes_one_document(
    deps: jobs.Deps, sandbox: RunningSandbox, mode: str
) -> None:
    """F-ERR-6, F-DOC-20: iCount made the document but the answer was lost (OutcomeUnknown);
    the retry repeats the sanity_string and records that document, whichever way iCount
    answers the repeat. One document, one email."""
    await control(sandbox, "POST", "config", {"duplicate_mode": mode})
    plan = {"path": "doc/create", "plan": ["timeout-after-commit"], "hang_s": 2}
    await control(sandbox, "POST", "faults", plan)
    event = sample_event(12)
    await deps.ledger.record(event)
    with pytest.raises(jobs.RetryLater):
        await jobs.process_event(deps, event.event_id)
    job = await deps.ledger.job("acme:12:invrec")
    assert job is not None and "OutcomeUnknown" in (job.last_error or "")
    await jobs.process_event(deps, event.event_id)
    [doc] = await control(sandbox, "GET", "documents")
    job = await deps.ledger.job("acme:12:invrec")
    assert job is not None and (job.state, job.docnum, job.attempts) == ("done", doc["docnum"], 2)
    assert len(await control(sandbox, "GET", "emails")) == 1


# --- the provider's look-up ---------------------------------------------------------------


@pytest.mark.parametrize("shows", [True, False], ids=["by-sanity-string", "by-hwc"])
async def test_find_document_by_our_reference(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, shows: bool
) -> None:
    """F-DOCX-5 to 7: find_document lists the day's documents of the customer and reads each
    with doc/info until one carries the reference: its sanity_string where doc/info shows it
    (`info_shows_sanity_string`), else the hwc naming it. Another document of that customer
    and day is not taken for it; another reference, day or kind, or no hint: None."""
    await control(sandbox, "POST", "config", {"info_shows_sanity_string": shows})
    provider = provider_for(http, sandbox)
    order = sample_event(21).order
    assert order is not None
    request = request_for(order)
    made = await provider.create_document(request)
    await provider.create_document(request_for(order, reference="ib-another-step"))
    hint = DocumentHint.of(request)
    found = await provider.find_document("invrec", request.reference, hint=hint)
    assert found is not None and (found.doctype, found.docnum) == (made.doctype, made.docnum)
    assert found.doc_url == made.doc_url and found.total == made.total
    next_day = replace(hint, issue_date=hint.issue_date + timedelta(days=1))
    misses: list[tuple[DocumentKind, str, DocumentHint | None]] = [
        ("invrec", "ib-never-made", hint),
        ("invrec", request.reference, next_day),
        ("invoice", request.reference, hint),
        ("invrec", request.reference, None),
    ]
    for kind, reference, where in misses:
        assert await provider.find_document(kind, reference, hint=where) is None


@pytest.mark.parametrize("mode", DUPLICATE_MODES)
async def test_a_refusal_that_is_no_duplicate_stands(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, mode: str
) -> None:
    """D-24: any refused create is looked up as a possible duplicate; when no document carries
    its reference (the customer's other document that day does not), the refusal itself is
    raised, with its reason, and nothing more was made."""
    await control(sandbox, "POST", "config", {"duplicate_mode": mode})
    provider = provider_for(http, sandbox)
    order = sample_event(31).order
    assert order is not None
    await provider.create_document(request_for(order, reference="ib-first"))
    with pytest.raises(Permanent) as caught:  # the sandbox refuses a 31-character reference
        await provider.create_document(request_for(order, reference="x" * 31))
    assert caught.value.reason == "sanity_string_too_long"
    assert len(await control(sandbox, "GET", "documents")) == 1
    made = await counts(sandbox)
    assert (made["doc/search"], made["doc/info"]) == (2, 1)  # by email, by name; read once


async def test_a_look_up_that_fails_never_issues_again(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """D-24: the repeat is refused and the look-up cannot answer: a 503 leaves the step to be
    retried (Retryable); iCount refusing the search keeps the duplicate refusal. One document."""
    provider = provider_for(http, sandbox)
    order = sample_event(41).order
    assert order is not None
    await provider.create_document(request_for(order))
    await control(sandbox, "POST", "faults", {"path": "doc/search", "plan": [503, 400]})
    with pytest.raises(Retryable):
        await provider.create_document(request_for(order))
    with pytest.raises(Permanent) as caught:
        await provider.create_document(request_for(order))
    assert caught.value.reason == "duplicate_sanity_string"
    assert len(await control(sandbox, "GET", "documents")) == 1
    found = await provider.create_document(request_for(order))  # the search answers again
    assert found.docnum == (await control(sandbox, "GET", "documents"))[0]["docnum"]


async def test_the_look_up_reads_at_most_twenty_documents(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """F-DOCX-5: candidates are read newest first, at most MAX_CANDIDATES of them: of 22 of the
    customer's documents that day the newest is found with one doc/info, the oldest is not
    found (None, the refusal would stand) after exactly 20."""
    provider = provider_for(http, sandbox)
    order = sample_event(51).order
    assert order is not None
    refs = [f"ib-bound-{n:02}" for n in range(MAX_CANDIDATES + 2)]
    for ref in refs:
        await provider.create_document(request_for(order, reference=ref, email=False))
    hint = DocumentHint.of(request_for(order))
    before = (await counts(sandbox)).get("doc/info", 0)
    assert await provider.find_document("invrec", refs[-1], hint=hint) is not None
    middle = (await counts(sandbox))["doc/info"]
    assert await provider.find_document("invrec", refs[0], hint=hint) is None
    assert (middle - before, (await counts(sandbox))["doc/info"] - middle) == (1, MAX_CANDIDATES)


# --- sending a document again --------------------------------------------------------------


async def test_email_document_sends_one_email(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """F-DOCX-8, F-DOCX-9: email_document sends the issued document with doc/email (doctype,
    docnum, email_to) and iCount confirms the address: exactly one email, to that address."""
    provider = provider_for(http, sandbox)
    order = sample_event(61).order
    assert order is not None
    made = await provider.create_document(request_for(order, email=False))
    assert await control(sandbox, "GET", "emails") == []
    await provider.email_document(made, "dana@example.com")
    [sent] = await control(sandbox, "GET", "emails")
    assert (sent["to"], sent["docnum"]) == ("dana@example.com", made.docnum)
    [call] = [
        e for e in (await control(sandbox, "GET", "requests"))["log"] if e["path"] == "doc/email"
    ]
    assert call["body"]["email_to"] == "dana@example.com"
    assert call["body"]["docnum"] == int(made.docnum)


async def test_an_email_icount_refuses_is_email_unsupported(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """F-DOCX-8: a refused doc/email is Permanent `email_unsupported`, iCount's reason kept in
    the message; nothing is sent."""
    provider = provider_for(http, sandbox)
    with pytest.raises(Permanent) as caught:
        await provider.email_document(DocumentRef(doctype="invrec", docnum="39999"), "d@x.org")
    assert caught.value.reason == "email_unsupported" and "doc_not_found" in str(caught.value)
    assert await control(sandbox, "GET", "emails") == []


async def test_the_runner_emails_again_through_icount(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """F-DOCX-8: iCount `can_email`, so an email step (an operator emailing a document again)
    goes through doc/email, not SMTP; the first email went out with the create."""
    runner = StepRunner(provider_for(http, sandbox), "acme", DocumentSettings())
    order = sample_event(71).order
    assert order is not None
    invrec = await runner.run(INVREC, StepContext("acme", order))
    record = JobRecord(
        key="acme:71:invrec", state="done", attempts=1, doctype=invrec.doctype, docnum=invrec.docnum
    )
    again = await runner.run(EMAIL_AGAIN, StepContext("acme", order, based_on=record))
    assert again.emailed and again.docnum == invrec.docnum
    assert [e["docnum"] for e in await control(sandbox, "GET", "emails")] == [invrec.docnum] * 2
