"""iDoklad as documented (#17): v3 credit notes, Content-Type on writes, paging, filter checks.

Each test names the facts of docs/providers/idoklad.md it checks. The sandbox runs on
port 0 and answers in-process; the file runs in well under a second.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from sandboxes.idoklad.app import RunningSandbox
from tests.integration.test_idoklad_sandbox import (
    SECRET,
    control,
    idoklad_sandbox,
    inspect,
    issue,
    make_idoklad_client,
    make_order,
    make_provider,
    make_request,
)
from worker.domain.events import Customer, Line
from worker.errors import NeedsAttention
from worker.providers.idoklad.client import IDokladClient
from worker.providers.idoklad.provider import IDokladProvider
from worker.settings import DocumentSettings, IDokladSettings

__all__ = ["idoklad_sandbox"]  # the fixture, shared with test_idoklad_sandbox


async def raw(
    http: aiohttp.ClientSession,
    idoklad_sandbox: RunningSandbox,
    method: str,
    path: str,
    **options: Any,
) -> tuple[int, Any]:
    """One API call with a fresh token and only the headers given."""
    form = {
        "grant_type": "client_credentials",
        "client_id": "demo-client",
        "client_secret": SECRET,
        "scope": "idoklad_api",
    }
    async with http.post(idoklad_sandbox.token_url, data=form) as response:
        token = (await response.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}", **options.pop("headers", {})}
    async with http.request(
        method, f"{idoklad_sandbox.url}/{path}", headers=headers, **options
    ) as answer:
        return answer.status, await answer.json()


def refund_request(invoice: Any, reference: str = "ib-refund-1") -> Any:
    refund = make_order(
        "30.00", lines=(Line(description="Refund", quantity=Decimal(1), unit_price=Decimal(30)),)
    )
    return make_request("refund", reference=reference, order=refund, based_on=invoice)


# --- credit notes through v3 ----------------------------------------------------------------


async def test_refund_goes_through_v3_default_then_post(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """I-10, I-11, I-14, D-1: GET v3/CreditNotes/Default/{invoiceId}, then POST v3/CreditNotes;
    nothing is POSTed to v2/CreditNotes, which the sandbox does not serve."""
    provider = make_provider(http, idoklad_sandbox)
    invoice = await issue(provider, make_request())
    note = await provider.create_document(refund_request(invoice))
    assert (note.doctype, note.total) == ("CreditNote", Decimal("30.00"))
    calls = [
        (e["method"], e["path"]) for e in (await inspect(http, idoklad_sandbox, "requests"))["log"]
    ]
    assert ("GET", f"v3/CreditNotes/Default/{invoice.doc_id}") in calls
    assert ("POST", "v3/CreditNotes") in calls and ("POST", "CreditNotes") not in calls
    assert await provider.find_document("refund", "ib-refund-1") == note
    status, body = await raw(http, idoklad_sandbox, "POST", "v2/CreditNotes", json={})
    assert status in (404, 405) and "Message" in body


async def test_v3_refuses_a_body_without_required_fields(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """I-10, I-14: the v3 POST needs the SDK model's required fields; errors are ApiResults."""
    status, body = await raw(http, idoklad_sandbox, "POST", "v3/CreditNotes", json={"Items": [{}]})
    assert status == 400 and body["IsSuccess"] is False and body["StatusCode"] == 400
    assert "CreditedInvoiceId" in body["Message"] and "Items[0].IsTaxMovement" in body["Message"]
    status, body = await raw(http, idoklad_sandbox, "GET", "v3/CreditNotes/Default/999")
    assert status == 404 and body["Data"] is None


async def test_refund_without_a_v3_root_needs_attention(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """I-10: with a base_url not ending in /v2 there is no documented way to a credit note."""
    provider = make_provider(http, idoklad_sandbox)
    invoice = await issue(provider, make_request())
    settings = IDokladSettings(
        base_url=f"{idoklad_sandbox.url}/api",
        token_url=idoklad_sandbox.token_url,
        client_id="demo-client",
        client_secret=SECRET,
    )
    odd = IDokladProvider(IDokladClient(http, settings), DocumentSettings())
    with pytest.raises(NeedsAttention) as caught:
        await odd.create_document(refund_request(invoice))
    assert caught.value.reason == "credit_note_unsupported"
    assert len(await inspect(http, idoklad_sandbox, "documents")) == 1


# --- Content-Type on every write ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "v2/IssuedInvoices/1/FullyPay"),
        ("POST", "v2/Contacts"),
        ("PUT", "v2/IssuedInvoices/1/SendMailToPurchaser"),
        ("POST", "v3/CreditNotes"),
    ],
)
async def test_a_write_without_content_type_is_refused(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox, method: str, path: str
) -> None:
    """I-6: a PUT/POST without Content-Type is a 400 in iDoklad's error shape, with no effect."""
    status, body = await raw(
        http, idoklad_sandbox, method, path, data=b"", skip_auto_headers=["Content-Type"]
    )
    assert status == 400 and "Content-Type" in str(body)
    assert not await inspect(http, idoklad_sandbox, "documents")


async def test_bodyless_puts_carry_content_type(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """I-6: FullyPay and SendMailToPurchaser (no body) pass the sandbox's Content-Type check."""
    provider = make_provider(http, idoklad_sandbox)
    invoice = await issue(provider, make_request("invrec"))
    await provider.email_document(invoice, "jana@example.cz")
    documents = await inspect(http, idoklad_sandbox, "documents")
    assert documents[0]["paid"] and documents[0]["emailed"]


# --- paging ---------------------------------------------------------------------------------


async def test_code_lists_are_read_page_by_page(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """I-7: 249 countries come in two pages of at most 200; a country on page 2 is found."""
    client = make_idoklad_client(http, idoklad_sandbox)
    countries = await client.code_list("Countries")
    assert len(countries) == 249 and len({c["Id"] for c in countries}) == 249
    log = [
        e["query"]
        for e in (await inspect(http, idoklad_sandbox, "requests"))["log"]
        if e["path"] == "Countries"
    ]
    assert [(q["page"], q["pagesize"]) for q in log] == [("1", "200"), ("2", "200")]
    provider = make_provider(http, idoklad_sandbox)
    customer = Customer(name="Thandi Nkosi", email="thandi@example.co.za", country="ZA")
    await provider.ensure_customer(customer)
    contacts = await inspect(http, idoklad_sandbox, "contacts")
    assert [c["CountryId"] for c in contacts] == [247]


async def test_page_size_over_200_is_refused(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """I-7: `PageSize` above 200 is a 400 (names bound case-insensitively)."""
    status, body = await raw(http, idoklad_sandbox, "GET", "v2/Countries?PageSize=201")
    assert status == 400 and "pagesize" in body["ModelState"]
    status, body = await raw(http, idoklad_sandbox, "GET", "v2/Countries?PageSize=200&Page=2")
    assert status == 200 and len(body["Data"]) == 49 and body["TotalPages"] == 2


# --- duplicate guards when the service ignores a filter -------------------------------------


def _seed_invoices(idoklad_sandbox: RunningSandbox, count: int) -> None:
    """`count` unrelated invoices, so an unfiltered list spans pages."""
    company = idoklad_sandbox.state.companies["demo-client"]
    for n in range(count):
        entity_id = idoklad_sandbox.state.new_id()
        company.invoices[entity_id] = {
            "Id": entity_id,
            "OrderNumber": f"other-{n}",
            "Description": f"Order other-{n}",
        }


@pytest.mark.parametrize("ignore_filters", [False, True])
async def test_order_lookup_survives_an_ignored_filter(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox, ignore_filters: bool
) -> None:
    """I-8: with the filter honoured, one filtered page; ignored, every page is read and
    matched here, so a document behind 250 others is still found (no second invoice)."""
    _seed_invoices(idoklad_sandbox, 250)
    provider = make_provider(http, idoklad_sandbox)
    made = await issue(provider, make_request())
    await control(http, idoklad_sandbox, "config", ignore_filters=ignore_filters)
    found = await provider.find_document("invoice", "ib-order-1001-invoice-xyz")
    assert found == made
    assert await provider.find_document("invoice", "ib-order-1002-invoice-xyz") is None
    pages = [
        e["query"].get("page")
        for e in (await inspect(http, idoklad_sandbox, "requests"))["log"]
        if e["path"] == "IssuedInvoices" and e["method"] == "GET"
    ]
    assert ("2" in pages) is ignore_filters


@pytest.mark.parametrize("ignore_filters", [False, True])
async def test_contact_lookup_survives_an_ignored_filter(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox, ignore_filters: bool
) -> None:
    """I-8: contacts by Email: an ignored filter must not hand back another customer's id."""
    provider = make_provider(http, idoklad_sandbox)
    await control(http, idoklad_sandbox, "config", ignore_filters=ignore_filters)
    first = await provider.ensure_customer(Customer(name="Jana N", email="jana@example.cz"))
    second = await provider.ensure_customer(Customer(name="Petr K", email="petr@example.cz"))
    again = await provider.ensure_customer(Customer(name="Petr K", email="PETR@example.cz"))
    assert first != second and again == second
    assert len(await inspect(http, idoklad_sandbox, "contacts")) == 2


async def test_serial_number_comes_from_the_default_model(
    http: aiohttp.ClientSession, idoklad_sandbox: RunningSandbox
) -> None:
    """I-12: the DocumentSerialNumber of GET .../Default is posted back, not dropped."""
    provider = make_provider(http, idoklad_sandbox)
    await issue(provider, make_request())
    await issue(provider, replace(make_request(), reference="ib-order-2"))
    posted = [
        e["body"]
        for e in (await inspect(http, idoklad_sandbox, "requests"))["log"]
        if (e["method"], e["path"]) == ("POST", "IssuedInvoices")
    ]
    assert [body["DocumentSerialNumber"] for body in posted] == [1, 2]
