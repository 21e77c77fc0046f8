"""The real IDokladClient / IDokladProvider against the iDoklad sandbox over real HTTP on port 0."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from sandboxes.idoklad.app import RunningSandbox, serve_sandbox
from tests.orders import mugs_and_shipping, order_of
from worker.domain.events import Customer, Line, Order
from worker.errors import OutcomeUnknown, Permanent, RateLimited, Retryable
from worker.providers.base import DocumentKind, DocumentRef, DocumentRequest
from worker.providers.idoklad.client import IDokladClient
from worker.providers.idoklad.provider import IDokladProvider
from worker.providers.idoklad.wire import build_filter
from worker.providers.pacer import pacer_for
from worker.settings import DocumentSettings, IDokladSettings

SECRET = "sandbox-secret"
DOCS = DocumentSettings(default_vat_percent=Decimal(21))


@pytest.fixture
async def idoklad_sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandbox() as running:
        yield running


def make_idoklad_client(
    http: aiohttp.ClientSession,
    idoklad_sandbox: RunningSandbox,
    *,
    secret: str = SECRET,
    timeout_s: float = 5.0,
    clock: Any = None,
) -> IDokladClient:
    settings = IDokladSettings(
        base_url=idoklad_sandbox.api_url,
        token_url=idoklad_sandbox.token_url,
        client_id="demo-client",
        client_secret=secret,
        timeout_s=timeout_s,
    )
    return IDokladClient(http, settings) if clock is None else IDokladClient(http, settings, clock)


def make_provider(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox, **options: Any
) -> IDokladProvider:
    return IDokladProvider(make_idoklad_client(http, idoklad_sandbox, **options), DOCS)


def make_order(total: str = "117.00", **changes: Any) -> Order:
    customer = Customer(name="Jana Nováková", email="jana@example.cz", country="CZ")
    fields = {
        "currency": "CZK",
        "customer": customer,
        "created_at": datetime(2026, 5, 1, tzinfo=UTC),
    }
    return order_of(mugs_and_shipping(21), total, **{**fields, **changes})


def make_request(
    kind: DocumentKind = "invoice", reference: str = "ib-order-1001-invoice-xyz", **changes: Any
) -> DocumentRequest:
    request = DocumentRequest(
        kind=kind,
        order=make_order(),
        reference=reference,
        email=False,
        documents=DOCS,
        issue_date=date(2026, 5, 1),
    )
    return replace(request, **changes)


async def issue(provider: IDokladProvider, request: DocumentRequest) -> DocumentRef:
    """As the step runner does: the customer first, then the document."""
    customer_id = await provider.ensure_customer(request.order.customer)
    return await provider.create_document(replace(request, customer_id=customer_id))


async def inspect(http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox, what: str) -> Any:
    async with http.get(f"{idoklad_sandbox.url}/_sandbox/{what}") as response:
        assert response.status == 200
        return await response.json()


async def control(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox, what: str, **body: Any
) -> Any:
    async with http.post(f"{idoklad_sandbox.url}/_sandbox/{what}", json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


# --- tokens -------------------------------------------------------------------------------


async def test_token_is_fetched_once_and_cached(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """Many API calls share one client-credentials token."""
    client = make_idoklad_client(http, idoklad_sandbox)
    for _ in range(3):
        await client.code_list("Currencies")
    counts = (await inspect(http, idoklad_sandbox, "requests"))["counts"]
    assert counts == {"connect/token": 1, "Currencies": 3}


async def test_token_is_refreshed_before_it_expires(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """60 s before `expires_in` runs out the client fetches a new token without a 401."""
    now = [1000.0]
    client = make_idoklad_client(http, idoklad_sandbox, clock=lambda: now[0])
    await client.code_list("Currencies")
    now[0] += 3600 - 61
    await client.code_list("Currencies")
    now[0] += 2
    await client.code_list("Currencies")
    counts = (await inspect(http, idoklad_sandbox, "requests"))["counts"]
    assert counts == {"connect/token": 2, "Currencies": 3}


async def test_wrong_secret_is_permanent_and_not_echoed(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """invalid_client is Permanent auth_failed; neither secret appears in the error or log."""
    with pytest.raises(Permanent) as caught:
        await make_idoklad_client(http, idoklad_sandbox, secret="wrong-secret-value").code_list(
            "Currencies"
        )
    assert caught.value.reason == "auth_failed" and "invalid_client" in str(caught.value)
    assert "wrong-secret-value" not in str(caught.value)
    await make_idoklad_client(http, idoklad_sandbox).code_list("Currencies")
    async with http.get(f"{idoklad_sandbox.url}/_sandbox/requests") as response:
        log = await response.text()
    tokens = list(idoklad_sandbox.state.tokens)
    assert tokens and all(s not in log for s in ["wrong-secret-value", SECRET, *tokens])


async def test_token_endpoint_errors(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """The token endpoint answers OAuth2 error codes as 400 JSON."""
    base = {
        "grant_type": "client_credentials",
        "client_id": "demo-client",
        "client_secret": SECRET,
        "scope": "idoklad_api",
    }
    for change, error in [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"client_id": "nobody"}, "invalid_client"),
        ({"scope": "other"}, "invalid_scope"),
    ]:
        async with http.post(idoklad_sandbox.token_url, data={**base, **change}) as response:
            assert (response.status, await response.json()) == (400, {"error": error})
    async with http.get(f"{idoklad_sandbox.api_url}/Currencies") as response:
        assert response.status == 401


async def test_a_second_401_is_permanent(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """A 401 that survives one token refresh is Permanent auth_failed."""
    await control(http, idoklad_sandbox, "faults", path="Countries", plan=[401, 401])
    with pytest.raises(Permanent) as caught:
        await make_idoklad_client(http, idoklad_sandbox).code_list("Countries")
    assert caught.value.reason == "auth_failed"
    assert (await inspect(http, idoklad_sandbox, "requests"))["counts"]["connect/token"] == 2


# --- documents ----------------------------------------------------------------------------


async def test_create_invoice_with_exact_total(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """An invoice with a discount totals the order's 117.00 exactly; it is neither paid nor sent."""
    ref = await issue(make_provider(http, idoklad_sandbox), make_request())
    assert (ref.doctype, ref.docnum, ref.total, ref.emailed) == (
        "IssuedInvoice",
        "20260001",
        Decimal("117.00"),
        False,
    )
    [document] = await inspect(http, idoklad_sandbox, "documents")
    assert (document["total"], document["currency"], document["paid"]) == ("117.00", "CZK", False)
    assert document["id"] == int(str(ref.doc_id)) and document["emailed"] is False
    assert [c["Email"] for c in await inspect(http, idoklad_sandbox, "contacts")] == [
        "jana@example.cz"
    ]


async def test_invrec_is_paid_and_receipt_pays_the_invoice(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """invrec is an invoice marked paid; a receipt pays the invoice it is based on, no new one."""
    provider = make_provider(http, idoklad_sandbox)
    await issue(provider, make_request("invrec", reference="ib-invrec-ref"))
    invoice = await issue(provider, make_request("invoice", reference="ib-invoice-ref"))
    receipt = await issue(
        provider, make_request("receipt", reference="ib-receipt-ref", based_on=invoice)
    )
    assert receipt.doc_id == invoice.doc_id
    assert [d["paid"] for d in await inspect(http, idoklad_sandbox, "documents")] == [True, True]


async def test_find_by_reference(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """find_document finds the document made for a reference; an unknown one is None."""
    provider = make_provider(http, idoklad_sandbox)
    made = await issue(provider, make_request())
    await issue(provider, make_request(reference="ib-some-other-reference"))
    assert await provider.find_document("invoice", "ib-order-1001-invoice-xyz") == made
    assert await provider.find_document("invoice", "ib-never-made") is None
    assert await provider.find_document("refund", "ib-order-1001-invoice-xyz") is None


async def test_find_falls_back_to_description(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """When OrderNumber cannot be filtered (400), the reference in Description finds it."""
    provider = make_provider(http, idoklad_sandbox)
    made = await issue(provider, make_request())
    await control(http, idoklad_sandbox, "config", order_number_filter=False)
    assert await provider.find_document("invoice", "ib-order-1001-invoice-xyz") == made
    assert await provider.find_document("invoice", "ib-order-1001") is None
    log = (await inspect(http, idoklad_sandbox, "requests"))["log"]
    lookups = [e for e in log if e["path"] == "IssuedInvoices" and e["method"] == "GET"]
    assert [e["query"]["filter"] for e in lookups][-2:] == [
        "OrderNumber~eq~ib-order-1001",
        "Description~ct~[ib-order-1001]",
    ]


async def test_two_creates_make_two_documents(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """The sandbox has no hidden duplicate guard: looking up first is the client's job."""
    provider = make_provider(http, idoklad_sandbox)
    first, second = await issue(provider, make_request()), await issue(provider, make_request())
    assert (first.docnum, second.docnum) == ("20260001", "20260002")
    assert len(await inspect(http, idoklad_sandbox, "documents")) == 2


async def test_credit_note_references_the_invoice(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """A refund is a credit note naming the invoice; it is found by its own reference."""
    provider = make_provider(http, idoklad_sandbox)
    invoice = await issue(provider, make_request())
    refund = make_order(
        "30.00", lines=(Line(description="Refund", quantity=Decimal(1), unit_price=Decimal(30)),)
    )
    request = make_request("refund", reference="ib-refund-1", order=refund, based_on=invoice)
    note = await issue(provider, request)
    assert (note.doctype, note.docnum, note.total) == ("CreditNote", "D20260001", Decimal("30.00"))
    documents = await inspect(http, idoklad_sandbox, "documents")
    assert documents[1]["credited_invoice_id"] == int(str(invoice.doc_id))
    assert await provider.find_document("refund", "ib-refund-1") == note
    too_much = replace(
        request, reference="ib-refund-2", order=make_order("100.00", lines=make_order().lines[:1])
    )
    with pytest.raises(Permanent) as caught:
        await issue(provider, replace(too_much, order=replace_total(too_much.order)))
    assert caught.value.reason == "invalid_model" and "CreditNoteItems" in str(caught.value)


def replace_total(order: Order) -> Order:
    return order.model_copy(update={"total": order.lines_total()})


async def test_email_is_recorded_once_per_call(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """Each email call sends one email to the purchaser and marks the document sent."""
    provider = make_provider(http, idoklad_sandbox)
    invoice = await issue(provider, make_request())
    await provider.email_document(invoice, "jana@example.cz")
    assert (await provider.find_document("invoice", "ib-order-1001-invoice-xyz")).emailed  # type: ignore[union-attr]
    await provider.email_document(invoice, "jana@example.cz")
    note = await issue(provider, make_request("refund", reference="ib-r", based_on=invoice))
    await provider.email_document(note, "jana@example.cz")
    emails = await inspect(http, idoklad_sandbox, "emails")
    assert [(e["doctype"], e["docnum"], e["to"]) for e in emails] == [
        ("IssuedInvoice", "20260001", "jana@example.cz"),
        ("IssuedInvoice", "20260001", "jana@example.cz"),
        ("CreditNote", "D20260001", "jana@example.cz"),
    ]


async def test_pdf_is_a_pdf(http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox) -> None:
    """GetPdf decodes to a PDF whose cross-reference table points at its objects."""
    provider = make_provider(http, idoklad_sandbox)
    invoice = await issue(provider, make_request())
    pdf = await provider.document_pdf(invoice)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF") and b"117.00" in pdf
    xref = int(re.findall(rb"startxref\n(\d+)", pdf)[-1])
    offsets = [int(o) for o in re.findall(rb"(\d{10}) 00000 n", pdf[xref:])]
    assert all(pdf[o:].startswith(b"%d 0 obj" % (n + 1)) for n, o in enumerate(offsets))


async def test_cancel_is_unsupported(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    provider = make_provider(http, idoklad_sandbox)
    assert provider.capabilities.can_cancel is False
    with pytest.raises(Permanent) as caught:
        await provider.cancel_document(DocumentRef(doctype="IssuedInvoice", docnum="1"), "x")
    assert caught.value.reason == "cancel_unsupported"


# --- faults and errors --------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["timeout-after-commit", "disconnect-after-commit"])
async def test_lost_answer_is_outcome_unknown_then_found(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox, fault: str
) -> None:
    """The invoice is made but the answer lost: OutcomeUnknown, then the lookup finds it."""
    await control(
        http, idoklad_sandbox, "faults", path="/v2/IssuedInvoices", plan=[fault], hang_s=2
    )
    provider = make_provider(http, idoklad_sandbox, timeout_s=0.5)
    with pytest.raises(OutcomeUnknown):
        await issue(provider, make_request())
    found = await provider.find_document("invoice", "ib-order-1001-invoice-xyz")
    assert found is not None and found.total == Decimal("117.00")
    assert len(await inspect(http, idoklad_sandbox, "documents")) == 1


async def test_lost_fully_pay_is_completed_by_the_lookup(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """If FullyPay's answer is lost, reconciling an invrec pays the invoice it finds."""
    await control(http, idoklad_sandbox, "faults", path="IssuedInvoices/2/FullyPay", plan=[503])
    provider = make_provider(http, idoklad_sandbox)
    with pytest.raises(Retryable):
        await issue(provider, make_request("invrec"))
    assert [d["paid"] for d in await inspect(http, idoklad_sandbox, "documents")] == [False]
    assert await provider.find_document("invrec", "ib-order-1001-invoice-xyz") is not None
    assert [d["paid"] for d in await inspect(http, idoklad_sandbox, "documents")] == [True]


async def test_rate_limit_is_429_with_retry_after(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """Over the configured rate a call is 429 with Retry-After 1: the client waits it out
    and the call goes through once, without an error reaching the job."""
    client = make_idoklad_client(http, idoklad_sandbox)
    await control(http, idoklad_sandbox, "config", rate_limit_per_s=1)
    await client.code_list("Currencies")
    started = time.monotonic()
    await client.create("Contacts", {"CompanyName": "X", "CountryId": 1})
    assert time.monotonic() - started >= 0.5
    assert len(await inspect(http, idoklad_sandbox, "contacts")) == 1
    await control(http, idoklad_sandbox, "config", rate_limit_per_s=None)


@pytest.mark.parametrize(
    ("name", "error", "reason"),
    [
        ("RateLimitExceeded", RateLimited, None),
        ("PaymentRequired", Permanent, "subscription_required"),
        ("DowngradeNeeded", Permanent, "downgrade_required"),
    ],
)
async def test_test_endpoints(
    http: aiohttp.ClientSession,
    idoklad_sandbox: RunningSandbox,
    name: str,
    error: type[Exception],
    reason: str | None,
) -> None:
    with pytest.raises(error) as caught:
        await make_idoklad_client(http, idoklad_sandbox).call("GET", f"Test/{name}")
    if reason is None:
        assert caught.value.delay_ms == 60_000  # type: ignore[attr-defined]
    else:
        assert caught.value.reason == reason  # type: ignore[attr-defined]


async def test_scripted_429_carries_its_retry_after(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """A fault plan's 429 sends `retry_after`; a long one is left to the queue (RateLimited
    with that delay), and the next call goes through."""
    await control(
        http, idoklad_sandbox, "faults", path="GET Currencies", plan=[429], retry_after=30
    )
    client = make_idoklad_client(http, idoklad_sandbox)
    with pytest.raises(RateLimited) as caught:
        await client.code_list("Currencies")
    assert caught.value.delay_ms == 30_000
    pacer_for(idoklad_sandbox.api_url, "demo-client").not_before = 0  # skip the 30 s wait
    assert len(await client.code_list("Currencies")) == 10


async def test_validation_error_names_the_field(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """A 400 is Permanent invalid_model naming the field; nothing is stored."""
    client = make_idoklad_client(http, idoklad_sandbox)
    template = await client.default("IssuedInvoices")
    body = {
        **template,
        "PurchaserId": 999,
        "Description": "x",
        "IssuedInvoiceItems": [{"Name": "", "Amount": 1, "UnitPrice": 1}],
    }
    with pytest.raises(Permanent) as caught:
        await client.create("IssuedInvoices", body)
    message = str(caught.value)
    assert caught.value.reason == "invalid_model"
    assert "PurchaserId" in message and "IssuedInvoiceItems[0].Name" in message
    assert await inspect(http, idoklad_sandbox, "documents") == []


# --- lists --------------------------------------------------------------------------------


async def test_paging_filters_and_sort(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """page/pagesize, eq, ct, gte on dates, or, and sort behave; bad queries are 400."""
    provider, client = (
        make_provider(http, idoklad_sandbox),
        make_idoklad_client(http, idoklad_sandbox),
    )
    for n, day in enumerate([date(2026, 1, 10), date(2026, 3, 1), date(2026, 5, 1)]):
        await issue(provider, make_request(reference=f"ib-ref-{n}", issue_date=day))
    page = await client.list_page("IssuedInvoices", pagesize=2, page=2)
    assert (len(page.items), page.total_items, page.total_pages) == (1, 3, 2)
    since = build_filter(("DateOfIssue", "gte", "2026-03-01"))
    found = await client.list_page("IssuedInvoices", filter=since, sort="DateOfIssue~desc")
    assert [d["DateOfIssue"] for d in found.items] == ["2026-05-01", "2026-03-01"]
    either = build_filter(("OrderNumber", "eq", "ib-ref-0"), ("Description", "ct", "IB-REF-2"))
    found = await client.list_page("IssuedInvoices", filter=either, filtertype="or")
    assert [d["OrderNumber"] for d in found.items] == ["ib-ref-0", "ib-ref-2"]
    assert (await client.list_page("IssuedInvoices", filter="TotalWithVat~lt~100")).items == []
    queries: list[dict[str, Any]] = [
        {"pagesize": 201},
        {"filter": "Nope~eq~1"},
        {"filter": "Id~eq~abc"},
        {"sort": "Id~sideways"},
    ]
    for query in queries:
        with pytest.raises(Permanent) as caught:
            await client.list_page("IssuedInvoices", **query)
        assert caught.value.reason == "invalid_model"


async def test_reset_forgets_everything(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """POST /_sandbox/reset empties documents, emails, contacts, faults and numbering."""
    provider = make_provider(http, idoklad_sandbox)
    await issue(provider, make_request())
    await control(http, idoklad_sandbox, "faults", path="IssuedInvoices", plan=[503])
    await control(http, idoklad_sandbox, "reset")
    assert await inspect(http, idoklad_sandbox, "documents") == []
    assert (await inspect(http, idoklad_sandbox, "faults"))["plans"] == []
    assert (await issue(make_provider(http, idoklad_sandbox), make_request())).docnum == "20260001"
