"""The real ICashClient and ICashProvider against the iCash sandbox over real HTTP on port 0."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from sandboxes.icash.app import RunningSandbox, serve_sandbox
from worker.domain.events import Customer, Line, Order
from worker.errors import OutcomeUnknown, Permanent, RateLimited, Retryable
from worker.providers.base import DocumentKind, DocumentRef, DocumentRequest
from worker.providers.icash.client import ICashClient
from worker.providers.icash.provider import ICashProvider
from worker.providers.icash.wire import NonceRejected, NonceSource, form_fields, sign
from worker.settings import DocumentSettings, ICashSettings

SECRET = "sandbox-secret"
DOCS = DocumentSettings(default_vat_percent=Decimal(20))


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandbox() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def make_client(
    http: aiohttp.ClientSession,
    base_url: str,
    *,
    secret: str = SECRET,
    timeout_s: float = 5.0,
    nonces: NonceSource | None = None,
) -> ICashClient:
    settings = ICashSettings(base_url=base_url, api_key="sandbox-key", secret_key=secret,
                             warehouse_id=1, user_id=1, timeout_s=timeout_s)  # fmt: skip
    return ICashClient(http, settings, nonces)


def make_provider(http: aiohttp.ClientSession, sandbox: RunningSandbox, **kw: Any) -> ICashProvider:
    return ICashProvider(make_client(http, sandbox.api_url, **kw), DOCS)


def order(total: str = "117.00") -> Order:
    return Order(
        order_id="1001",
        number="#1001",
        currency="BGN",
        prices_include_tax=True,
        lines=(
            Line(description="Mug", quantity=Decimal(2), unit_price=Decimal("48.50"),
                 discount=Decimal(5), tax_rate=Decimal(20)),
            Line(kind="shipping", description="Shipping", quantity=Decimal(1),
                 unit_price=Decimal(25)),
        ),
        total=Decimal(total),
        paid=True,
        customer=Customer(name="Dana Ivanova", email="dana@example.com"),
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
    )  # fmt: skip


def request(
    reference: str = "ib-order-1001",
    kind: DocumentKind = "invrec",
    based_on: DocumentRef | None = None,
    the_order: Order | None = None,
    day: date = date(2024, 5, 1),
) -> DocumentRequest:
    return DocumentRequest(kind=kind, order=the_order or order(), reference=reference,
                           email=False, documents=DOCS, issue_date=day,
                           based_on=based_on)  # fmt: skip


async def control(http: aiohttp.ClientSession, sandbox: RunningSandbox, method: str, what: str,
                  body: Any = None) -> Any:  # fmt: skip
    async with http.request(method, f"{sandbox.url}/_sandbox/{what}", json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def documents(http: aiohttp.ClientSession, sandbox: RunningSandbox) -> list[dict[str, Any]]:
    return list(await control(http, sandbox, "GET", "documents"))


async def raw_call(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, method: str, **fields: Any
) -> dict[str, Any]:
    """A hand-made form call, signed with `fields["nonce"]` unless a signature is given."""
    nonce = fields["nonce"]
    body = {"api_key": "sandbox-key", "WareHouseID": 1, "UserID": 1,
            "signature": sign(nonce, 1, "sandbox-key", SECRET), **fields}  # fmt: skip
    async with http.post(f"{sandbox.api_url}/{method}", data=form_fields(body)) as response:
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
        return answer


# --- sessions, signatures and nonces -------------------------------------------------------


async def test_login_once_then_reuse_the_session(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """The client logs in lazily, once, and sends that session on every later call."""
    provider = make_provider(http, sandbox)
    await provider.create_document(request())
    await provider.find_document("invrec", "ib-order-1001")
    requests = await control(http, sandbox, "GET", "requests")
    assert requests["counts"] == {"login": 1, "document-create": 1, "documents-list": 1}
    nonces = [int(entry["body"]["nonce"]) for entry in requests["log"]]
    assert nonces == sorted(set(nonces))


async def test_expired_sessions_log_in_again_once(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """After /_sandbox/expire-sessions, one call gets "Session expired", logs in, succeeds."""
    client = make_client(http, sandbox.api_url)
    await client.login()
    assert (await control(http, sandbox, "POST", "expire-sessions"))["expired"] == 1
    total, rows = await client.list_documents({})
    assert (total, rows) == (0, [])
    counts = (await control(http, sandbox, "GET", "requests"))["counts"]
    assert counts == {"login": 2, "documents-list": 2}


async def test_idle_sessions_time_out(http: aiohttp.ClientSession) -> None:
    """A session idle longer than session_ttl_s is refused; the client logs in again."""
    async with serve_sandbox(session_ttl_s=0.1) as box:
        client = make_client(http, box.api_url)
        await client.list_documents({})
        await asyncio.sleep(0.2)
        await client.list_documents({})
        assert box.state.request_counts["login"] == 2


async def test_wrong_secret_is_a_permanent_auth_error(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """A wrong secret fails login with Permanent authentication_error, secret not shown."""
    provider = make_provider(http, sandbox, secret="not-the-secret")
    with pytest.raises(Permanent) as caught:
        await provider.create_document(request())
    assert caught.value.reason == "authentication_error"
    assert "not-the-secret" not in str(caught.value)
    assert await documents(http, sandbox) == []


async def test_replayed_and_old_nonces_are_refused(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """The same signed request twice, or a smaller nonce, gets "Invalid nonce"."""
    first = await raw_call(http, sandbox, "login", nonce=1000)
    assert (first["status"], first["nonce"]) == (1, "1000")
    assert len(first["data"]["session_id"]) == 32
    for nonce in (1000, 999):
        again = await raw_call(http, sandbox, "login", nonce=nonce)
        assert again == {"nonce": str(nonce), "status": 0, "error_message": "Invalid nonce"}
    bad = await raw_call(http, sandbox, "login", nonce=1001, signature="a" * 64)
    assert bad["error_message"] == "Authentication Error"
    assert (await raw_call(http, sandbox, "login", nonce=1001))["status"] == 1  # not burnt
    lower = await raw_call(http, sandbox, "login", nonce=1002,
                           signature=sign(1002, 1, "sandbox-key", SECRET).lower())  # fmt: skip
    assert lower["error_message"] == "Authentication Error"


async def test_session_is_required_except_for_login(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """Without `ses`: "Missing value for ses"; with an unknown one: "Session expired"."""
    missing = await raw_call(http, sandbox, "documents-list", nonce=5)
    assert missing["error_message"] == "Missing value for ses"
    unknown = await raw_call(http, sandbox, "documents-list", nonce=6, ses="0" * 32)
    assert unknown["error_message"] == "Session expired"


async def test_a_nonce_behind_the_server_is_retried_once(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """Another process on the key ran ahead: one refusal is retried with the next nonce."""
    ahead = make_client(http, sandbox.api_url, nonces=NonceSource(lambda: 10**15))
    await ahead.login()  # the server has now seen nonce 10**9
    behind = make_client(http, sandbox.api_url, nonces=NonceSource(lambda: 10**15))
    await behind.login()  # 10**9 refused, 10**9 + 1 accepted
    stuck = make_client(http, sandbox.api_url, nonces=NonceSource(lambda: 10**12))
    with pytest.raises(NonceRejected):
        await stuck.login()
    assert sandbox.state.request_counts["login"] == 5


# --- documents -----------------------------------------------------------------------------


async def test_create_find_and_unknown(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """An invoice-receipt has the exact total; our reference finds it; another finds nothing."""
    provider = make_provider(http, sandbox)
    made = await provider.create_document(request())
    assert (made.doctype, made.docnum, made.doc_id, made.total) == (
        "INVOICE", "1000000001", "1", Decimal("117.00"))  # fmt: skip
    [doc] = await documents(http, sandbox)
    assert (doc["doctype"], doc["total"], doc["currency"], doc["status"]) == (
        "INVOICE", "117.00", "BGN", "NORMAL")  # fmt: skip
    assert doc["fields"]["DocumentPayTypeID"] == 3 and doc["fields"]["DocumentPriceBase"] == "97.50"
    assert await provider.find_document("invrec", "ib-order-1001") == made
    assert await provider.find_document("invrec", "ib-order-1002") is None
    assert await provider.find_document("refund", "ib-order-1001") is None


async def test_two_creates_make_two_documents(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """No hidden guard: the same reference twice is two documents; find returns the first."""
    provider = make_provider(http, sandbox)
    first = await provider.create_document(request())
    second = await provider.create_document(request())
    assert (first.docnum, second.docnum) == ("1000000001", "1000000002")
    refs = [d["import_ref_id"] for d in await documents(http, sandbox)]
    assert len(refs) == 2 and refs[0] == refs[1]
    assert await provider.find_document("invrec", "ib-order-1001") == first


async def test_credit_note_refers_to_the_invoice(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """A refund is a CREDIT document pointing at the invoice's DocumentID, found by kind."""
    provider = make_provider(http, sandbox)
    invoice = await provider.create_document(request())
    refund_order = order("20.00").model_copy(update={"lines": (
        Line(description="Refund", quantity=Decimal(1), unit_price=Decimal(20)),)})  # fmt: skip
    credit = await provider.create_document(request("ib-refund-1", "refund", invoice, refund_order))
    assert (credit.doctype, credit.docnum, credit.total) == ("CREDIT", "1000000002", Decimal(20))
    doc = (await documents(http, sandbox))[1]
    assert (doc["doctype"], doc["to_document_id"], doc["total"]) == ("CREDIT", 1, "20.00")
    assert doc["fields"]["DocumentToDocumentDate"] == "2024-05-01"
    assert await provider.find_document("refund", "ib-refund-1") == credit
    assert await provider.find_document("invrec", "ib-refund-1") is None


async def test_cancel_marks_deleted_and_twice_is_fine(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """Cancel keeps the document as DELETED; a second cancel is success; no credit on it."""
    provider = make_provider(http, sandbox)
    invoice = await provider.create_document(request())
    await provider.cancel_document(invoice, "order cancelled")
    await provider.cancel_document(invoice, "order cancelled")
    await provider.cancel_document(invoice.model_copy(update={"doc_id": None}), "by number")
    [doc] = await documents(http, sandbox)
    assert doc["status"] == "DELETED"
    assert await provider.find_document("invrec", "ib-order-1001") == invoice
    with pytest.raises(Permanent) as caught:
        await provider.create_document(request("ib-r", "refund", invoice))
    assert "DocumentToDocumentID" in str(caught.value)


async def test_document_pdf(http: aiohttp.ClientSession, sandbox: RunningSandbox) -> None:
    """The PDF is real PDF bytes; iCash cannot email, so email_document is refused."""
    provider = make_provider(http, sandbox)
    invoice = await provider.create_document(request())
    pdf = await provider.document_pdf(invoice)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert b"1000000001" in pdf and b"117.00" in pdf
    assert not provider.capabilities.can_email and provider.capabilities.can_cancel
    with pytest.raises(Permanent) as caught:
        await provider.email_document(invoice, "dana@example.com")
    assert caught.value.reason == "email_unsupported"
    assert await control(http, sandbox, "GET", "emails") == []


async def test_validation_errors_name_the_field(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """A bad line is refused with Permanent naming the form field, and nothing is stored."""
    client = make_client(http, sandbox.api_url)
    bad = {"DocumentDate": "2024-05-01", "DocumentCurrencyCode": "BGN",
           "DocumentContragentName": "X", "DocumentServices": [{
               "DocumentServiceDescription": "Mug", "DocumentServiceQty": "0",
               "DocumentServiceSinglePrice": "1", "DocumentServiceVatPercent": "20"}]}  # fmt: skip
    with pytest.raises(Permanent) as caught:
        await client.create_document(bad)
    assert "DocumentServices[0][DocumentServiceQty]" in str(caught.value)
    with pytest.raises(Permanent) as missing:
        await client.create_document({**bad, "DocumentContragentName": ""})
    assert missing.value.reason == "missing_value_for_documentcontragentname"
    assert await documents(http, sandbox) == []


# --- listing -------------------------------------------------------------------------------


async def test_documents_list_pages_and_filters(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """offset/count pages, sort/order, status, subtype, date window and import filters."""
    provider = make_provider(http, sandbox)
    made = [await provider.create_document(request(f"ib-{n}", day=date(2024, 5, n + 1)))
            for n in range(5)]  # fmt: skip
    await provider.cancel_document(made[1], "x")
    client = provider.client
    pages = [await client.list_documents({"offset": offset, "count": 2}) for offset in (0, 2, 4)]
    assert [total for total, _ in pages] == [5, 5, 5]
    assert [row["DocumentID"] for _, rows in pages for row in rows] == [1, 2, 3, 4, 5]
    _, rows = await client.list_documents({"sort": "DocumentDate", "order": "DESC"})
    assert [row["DocumentID"] for row in rows] == [5, 4, 3, 2, 1]
    assert "DocumentServices" not in rows[0]
    assert (await client.list_documents({"DocumentStatus": "DELETED"}))[0] == 1
    window = {"DocumentDateFrom": "2024-05-02", "DocumentDateTo": "2024-05-03"}
    assert [r["DocumentID"] for r in (await client.list_documents(window))[1]] == [2, 3]
    assert (await client.list_documents({"DocumentSubType": "CREDIT"}))[0] == 0
    assert (await client.list_documents({"DocumentType": "PROFORMA"}))[0] == 0
    assert (await client.list_documents({"DocumentNum": "1000000004"}))[1][0]["DocumentID"] == 4
    assert (await client.list_documents({"ImportSource": "other"}))[0] == 0
    default_page = (await client.list_documents({}))[1]
    assert len(default_page) == 5


@pytest.mark.parametrize(
    ("filters", "field"),
    [({"count": 101}, "count"), ({"order": "UP"}, "order"), ({"sort": "Nope"}, "sort"),
     ({"DocumentDateFrom": "01.05.2024"}, "DocumentDateFrom"),
     ({"DocumentStatus": "GONE"}, "DocumentStatus")],
)  # fmt: skip
async def test_bad_list_parameters_are_refused(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, filters: dict[str, Any], field: str
) -> None:
    """count over 100 and unknown sort/order/status/date values are "Wrong value for X"."""
    with pytest.raises(Permanent) as caught:
        await make_client(http, sandbox.api_url).list_documents(filters)
    assert f"Wrong value for {field}" in str(caught.value)


# --- faults --------------------------------------------------------------------------------


async def test_503_is_retryable_and_makes_nothing(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """An injected 503 is Retryable (not RateLimited) and creates no document."""
    await control(http, sandbox, "POST", "faults", {"path": "document-create", "plan": [503]})
    provider = make_provider(http, sandbox)
    with pytest.raises(Retryable) as caught:
        await provider.create_document(request())
    assert not isinstance(caught.value, RateLimited)
    assert await documents(http, sandbox) == []
    assert (await provider.create_document(request())).docnum == "1000000001"


@pytest.mark.parametrize("fault", ["timeout-after-commit", "disconnect-after-commit"])
async def test_lost_answer_is_outcome_unknown_then_found(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, fault: str
) -> None:
    """The document is made but the answer lost: OutcomeUnknown; find_document finds it."""
    plan = {"path": "/clientapi/v1/document-create", "plan": [fault], "hang_s": 2}
    await control(http, sandbox, "POST", "faults", plan)
    provider = make_provider(http, sandbox, timeout_s=0.5)
    with pytest.raises(OutcomeUnknown):
        await provider.create_document(request())
    found = await provider.find_document("invrec", "ib-order-1001")
    assert found is not None and found.docnum == "1000000001"
    assert len(await documents(http, sandbox)) == 1


async def test_read_timeout_on_a_read_is_retryable(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """A lost answer to a read-only call is plain Retryable."""
    plan = {"path": "documents-list", "plan": ["timeout-after-commit"], "hang_s": 2}
    await control(http, sandbox, "POST", "faults", plan)
    provider = make_provider(http, sandbox, timeout_s=0.5)
    with pytest.raises(Retryable):
        await provider.find_document("invrec", "ib-order-1001")


@pytest.mark.parametrize(
    ("fault", "delay_ms"),
    [({"plan": [429], "retry_after": 20}, 20_000)],
)
async def test_throttling_is_rate_limited(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, fault: dict[str, Any], delay_ms: int
) -> None:
    """A long 429, or one that keeps coming, is RateLimited with its delay; nothing is made."""
    await control(http, sandbox, "POST", "faults", {"path": "document-create", **fault})
    with pytest.raises(RateLimited) as caught:
        await make_provider(http, sandbox).create_document(request())
    assert caught.value.delay_ms == delay_ms
    assert await documents(http, sandbox) == []


async def test_reset_and_the_request_log_keeps_no_secrets(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """The log blanks key, signature and session; reset forgets documents and plans."""
    await make_provider(http, sandbox).create_document(request())
    async with http.get(f"{sandbox.url}/_sandbox/requests") as response:
        text = await response.text()
    sessions = list(sandbox.state.sessions)
    assert sessions and all(s not in text for s in [SECRET, "sandbox-key", *sessions])
    await control(http, sandbox, "POST", "faults", {"path": "login", "plan": [503]})
    await control(http, sandbox, "POST", "reset")
    assert await documents(http, sandbox) == []
    assert (await control(http, sandbox, "GET", "faults"))["plans"] == []


async def test_json_bodies_and_unknown_methods(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """JSON bodies work like forms; an unknown method is a status 0 answer."""
    body = {"api_key": "sandbox-key", "nonce": 7, "WareHouseID": 1, "UserID": 1,
            "signature": sign(7, 1, "sandbox-key", SECRET)}  # fmt: skip
    async with http.post(f"{sandbox.api_url}/login", json=body) as response:
        assert (await response.json())["status"] == 1
    async with http.post(f"{sandbox.api_url}/add-stuff", json={**body, "nonce": 8}) as response:
        assert (await response.json())["error_message"] == "Unknown method add-stuff"


async def test_connection_refused_is_retryable(http: aiohttp.ClientSession) -> None:
    """Nothing listening: the call was never sent, so Retryable, not OutcomeUnknown."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = ICashProvider(make_client(http, f"http://127.0.0.1:{port}/clientapi/v1"), DOCS)
    with pytest.raises(Retryable):
        await provider.create_document(request())


async def test_a_short_throttle_is_waited_out(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """ "Too many requests" (5 s by default here: 1 s asked) is waited out; one document."""
    plan = {"path": "document-create", "plan": ["too-many-requests"], "retry_after": 1}
    await control(http, sandbox, "POST", "faults", plan)
    await make_provider(http, sandbox).create_document(request())
    assert len(await documents(http, sandbox)) == 1
