"""The real ICountClient against the iCount sandbox over real HTTP on port 0 (no mocks)."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from sandboxes.icount.app import RunningSandbox, serve_sandbox
from sandboxes.icount.control import DUPLICATE_MODES
from tests.orders import mugs_and_shipping, order_of
from tests.payments import CARD
from worker.domain.events import Customer
from worker.errors import OutcomeUnknown, Permanent, RateLimited, Retryable
from worker.providers.base import DocumentRef
from worker.providers.icount.client import ICountClient
from worker.providers.icount.wire import build_document_request, created_document
from worker.settings import DocumentSettings, ICountSettings

TOKEN = "API3E8-sandbox-token"
PASSWORD = "sandbox-pass"


async def create(client: ICountClient, body: dict[str, Any]) -> DocumentRef:
    """`doc/create` through the client, its answer read as the provider reads it."""
    return created_document(await client.create_document(body), body)


def make_icount_client(
    http: aiohttp.ClientSession,
    base_url: str,
    *,
    token: str | None = TOKEN,
    password: str = PASSWORD,
    timeout_s: float = 5.0,
) -> ICountClient:
    if token is not None:
        settings = ICountSettings(base_url=base_url, api_token=token, timeout_s=timeout_s)
    else:
        settings = ICountSettings(
            base_url=base_url, cid="demo", user="api", pass_=password, timeout_s=timeout_s
        )
    return ICountClient(http, settings)


def order_body(
    sanity: str = "ib-order-1001", doctype: str = "invrec", **docs: Any
) -> dict[str, Any]:
    order = order_of(
        mugs_and_shipping(18),
        payment=CARD,
        customer=Customer(name="Dana Levi", email="dana@example.com"),
    )
    return build_document_request(
        order,
        doctype=doctype,
        documents=DocumentSettings(**docs),
        sanity=sanity,
        issue_date=date(2024, 5, 1),
    )


async def inspect(http: aiohttp.ClientSession, sandbox: RunningSandbox, what: str) -> Any:
    async with http.get(f"{sandbox.url}/_sandbox/{what}") as response:
        assert response.status == 200
        return await response.json()


async def script(http: aiohttp.ClientSession, sandbox: RunningSandbox, **fault: Any) -> None:
    async with http.post(f"{sandbox.url}/_sandbox/faults", json=fault) as response:
        assert response.status == 200, await response.text()


async def configure(http: aiohttp.ClientSession, sandbox: RunningSandbox, **switches: Any) -> None:
    async with http.post(f"{sandbox.url}/_sandbox/config", json=switches) as response:
        assert response.status == 200, await response.text()


async def call(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, path: str, **body: Any
) -> dict[str, Any]:
    async with http.post(f"{sandbox.api_url}/{path}", json=body) as response:
        data: dict[str, Any] = await response.json()
        return data


# --- documents --------------------------------------------------------------------------


async def test_create_invrec_stores_the_order_total(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """An invoice-receipt is stored with the shop's total, paid by card, and emailed once."""
    ref = await create(make_icount_client(http, sandbox.api_url), order_body())
    assert (ref.doctype, ref.docnum, ref.total, ref.emailed) == (
        "invrec",
        "30001",
        Decimal("117.00"),
        True,
    )
    [document] = await inspect(http, sandbox, "documents")
    assert document["totalwithvat"] == "117.00"
    assert document["payments"]["cc"]["sum"] == "117.00"
    assert document["sanity_string"] == "ib-order-1001"
    assert ref.doc_url is not None and ref.doc_url == document["doc_url"]
    async with http.get(ref.doc_url) as page:
        assert "117.00" in await page.text()
    assert len(await inspect(http, sandbox, "emails")) == 1


@pytest.mark.parametrize("mode", DUPLICATE_MODES)
async def test_same_sanity_string_makes_one_document(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, mode: str
) -> None:
    """F-DOC-20: a repeat with the same sanity string, even with another body, makes no second
    document or email; `return_existing` answers the first one, `reject` refuses the repeat
    (the provider then finds the first one: test_icount_duplicates)."""
    await configure(http, sandbox, duplicate_mode=mode)
    client = make_icount_client(http, sandbox.api_url)
    first = await create(client, order_body())
    repeat = create(client, {**order_body(), "hwc": "changed"})
    if mode == "return_existing":
        assert (await repeat).docnum == first.docnum
    else:
        with pytest.raises(Permanent) as caught:
            await repeat
        assert caught.value.reason == "duplicate_sanity_string"
    assert len(await inspect(http, sandbox, "documents")) == 1
    assert len(await inspect(http, sandbox, "emails")) == 1


@pytest.mark.parametrize("mode", DUPLICATE_MODES)
async def test_concurrent_repeats_make_one_document(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, mode: str
) -> None:
    """Five overlapping calls with one sanity string yield one document and one email; the
    other four get it back (`return_existing`) or are refused (`reject`). F-DOC-20."""
    await configure(http, sandbox, duplicate_mode=mode)
    await script(http, sandbox, latency_ms=50)
    client = make_icount_client(http, sandbox.api_url)
    calls = (create(client, order_body()) for _ in range(5))
    results = await asyncio.gather(*calls, return_exceptions=True)
    made = [result for result in results if isinstance(result, DocumentRef)]
    refused = [result.reason for result in results if isinstance(result, Permanent)]
    assert {ref.docnum for ref in made} == {"30001"}
    assert (len(made), refused) == (
        (5, []) if mode == "return_existing" else (1, ["duplicate_sanity_string"] * 4)
    )
    assert len(await inspect(http, sandbox, "documents")) == 1
    assert len(await inspect(http, sandbox, "emails")) == 1


async def test_config_defaults_switches_and_reset(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """The sandbox refuses a repeated sanity string and hides it from doc/info by default
    (F-DOC-20, F-DOCX-7); /_sandbox/config switches each, refuses nonsense, and a reset
    brings the defaults back."""
    rounding = {"rounding_rule": "per_line", "rounding": "half_up"}
    assert await inspect(http, sandbox, "config") == {
        "duplicate_mode": "reject",
        "info_shows_sanity_string": False,
        **rounding,
    }
    await configure(http, sandbox, info_shows_sanity_string=True)
    await configure(http, sandbox, duplicate_mode="return_existing")
    assert await inspect(http, sandbox, "config") == {
        "duplicate_mode": "return_existing",
        "info_shows_sanity_string": True,
        **rounding,
    }
    for bad in ({"duplicate_mode": "maybe"}, {"info_shows_sanity_string": "yes"}):
        async with http.post(f"{sandbox.url}/_sandbox/config", json=bad) as response:
            assert response.status == 422
    async with http.post(f"{sandbox.url}/_sandbox/reset") as response:
        assert response.status == 200
    assert (await inspect(http, sandbox, "config"))["duplicate_mode"] == "reject"


async def test_reset_forgets_everything(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """POST /_sandbox/reset empties documents, emails, the request log and the fault plans."""
    await make_icount_client(http, sandbox.api_url).create_document(order_body())
    await script(http, sandbox, path="doc/create", plan=[503])
    async with http.post(f"{sandbox.url}/_sandbox/reset") as response:
        assert response.status == 200
    assert await inspect(http, sandbox, "documents") == []
    assert await inspect(http, sandbox, "emails") == []
    assert (await inspect(http, sandbox, "faults"))["plans"] == []
    assert (await create(make_icount_client(http, sandbox.api_url), order_body())).docnum == "30001"


async def test_rounding_rule_is_a_switch(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """`/_sandbox/config` sets the rounding rule and rounding (a bad key or value is a 422,
    a reset restores them); `doc/create` answers the VAT as `totalvat` and `vat_percent`."""
    auth = {"cid": "demo", "user": "api", "pass": PASSWORD}
    pin = {"description": "Pin", "quantity": 1, "unitprice_incvat": "0.10"}
    pins = {"doctype": "invoice", "client_name": "Dana", "vat_percent": "17", "items": [pin] * 3}
    defaults = {
        "duplicate_mode": "reject",
        "rounding_rule": "per_line",
        "rounding": "half_up",
        "info_shows_sanity_string": False,
    }
    assert await inspect(http, sandbox, "config") == defaults
    created = await call(http, sandbox, "doc/create", **pins, **auth)
    shown = (created["totalwithvat"], created["totalvat"], created["vat_percent"])
    assert shown == ("0.30", "0.03", "17")  # 3 × round(0.0145)
    config = f"{sandbox.url}/_sandbox/config"
    async with http.post(config, json={"rounding_rule": "exact_sum"}) as response:
        assert (await response.json())["rounding_rule"] == "exact_sum"
    created = await call(http, sandbox, "doc/create", **pins, **auth)
    assert (created["totalwithvat"], created["totalvat"]) == ("0.30", "0.04")  # round(0.0436)
    for bad in ({"rounding": "half_down"}, {"speed": 1}, {}):
        async with http.post(config, json=bad) as response:
            assert response.status == 422
    async with http.post(f"{sandbox.url}/_sandbox/reset"):
        pass
    assert await inspect(http, sandbox, "config") == defaults
    async with serve_sandbox(rounding_rule="per_rate", rounding="half_even") as other:
        async with http.get(f"{other.url}/_sandbox/config") as response:
            assert (await response.json())["rounding"] == "half_even"


async def test_document_info_search_url_and_cancel(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """doc/info (under doc_info, with hwc, F-DOCX-7), doc/search (results_list, F-DOCX-6),
    doc/get_doc_url and doc/cancel describe the stored document."""
    client = make_icount_client(http, sandbox.api_url)
    ref = await create(client, order_body(doctype="invoice"))
    info = await client.document_info("invoice", ref.docnum)
    assert (info["docnum"], info["totalwithvat"], len(info["items"])) == ("10001", "117.00", 2)
    assert info["hwc"] == "Order #1001 · ref ib-order-1001" and "sanity_string" not in info
    auth = {"cid": "demo", "user": "api", "pass": PASSWORD}
    raw = await call(http, sandbox, "doc/info", doctype="invoice", docnum=10001, **auth)
    assert raw["doc_info"]["docnum"] == ref.docnum
    found = await call(http, sandbox, "doc/search", client_name="dana", **auth)
    assert found["results_count"] == 1 and found["results_list"][0]["docnum"] == ref.docnum
    url = await call(http, sandbox, "doc/get_doc_url", doctype="invoice", docnum="10001", **auth)
    assert url["doc_url"] == ref.doc_url
    assert (await call(http, sandbox, "doc/cancel", doctype="invoice", docnum="10001", **auth))[
        "status"
    ]
    assert (await inspect(http, sandbox, "documents"))[0]["cancelled"] is True


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"items": []}, "missing_items"),
        ({"cc": None}, "missing_payment"),
        ({"cash": {"sum": "100.00"}, "cc": None}, "payment_mismatch"),
        ({"sanity_string": "x" * 31}, "sanity_string_too_long"),
        ({"doctype": "bill"}, "bad_doctype"),
    ],
)
async def test_validation_errors_are_permanent(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, change: dict[str, Any], reason: str
) -> None:
    """A body the sandbox refuses is Permanent with its reason, and nothing is stored."""
    body = {key: value for key, value in {**order_body(), **change}.items() if value is not None}
    with pytest.raises(Permanent) as caught:
        await make_icount_client(http, sandbox.api_url).create_document(body)
    assert caught.value.reason == reason
    assert await inspect(http, sandbox, "documents") == []


# --- auth -------------------------------------------------------------------------------


async def test_session_login_is_lazy_and_reused(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """Without a token the client logs in once and sends the sid on every call."""
    client = make_icount_client(http, sandbox.api_url, token=None)
    await client.create_document(order_body())
    await client.create_document(order_body("ib-order-1002"))
    requests = await inspect(http, sandbox, "requests")
    assert requests["counts"] == {"auth/login": 1, "doc/create": 2}
    assert [entry["auth"] for entry in requests["log"]] == ["password", "sid", "sid"]


async def test_credentials_in_the_body_and_forms(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """cid/user/pass in a JSON or a form body authenticate without a session."""
    info = await call(http, sandbox, "app/info", cid="demo", user="api", **{"pass": PASSWORD})
    assert info["status"] is True and info["cid"] == "demo"
    form = {
        "cid": "demo",
        "user": "api",
        "pass": PASSWORD,
        "doctype": "invoice",
        "client_name": "Form Buyer",
        "items[0][description]": "Thing",
        "items[0][quantity]": "2",
        "items[0][unitprice_incvat]": "10.50",
    }
    async with http.post(f"{sandbox.api_url}/doc/create", data=form) as response:
        created = await response.json()
    assert (created["status"], created["totalwithvat"]) == (True, "21.00")


@pytest.mark.parametrize(("token", "password"), [(None, "wrong"), ("API3E8-wrong", PASSWORD)])
async def test_wrong_credentials_are_permanent(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, token: str | None, password: str
) -> None:
    """A wrong password or token is Permanent auth_failed, and the secret is not in the error."""
    client = make_icount_client(http, sandbox.api_url, token=token, password=password)
    with pytest.raises(Permanent) as caught:
        await client.create_document(order_body())
    assert caught.value.reason == "auth_failed"
    assert "wrong" not in str(caught.value)


async def test_request_log_never_holds_secrets(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """Passwords, tokens and sids never appear in the sandbox's request log."""
    session_client = make_icount_client(http, sandbox.api_url, token=None)
    await session_client.create_document(order_body())
    await make_icount_client(http, sandbox.api_url).create_document(order_body("ib-2"))
    async with http.get(f"{sandbox.url}/_sandbox/requests") as response:
        text = await response.text()
    sids = list(sandbox.state.sessions)
    assert sids and all(secret not in text for secret in [PASSWORD, TOKEN, *sids])


# --- faults -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", DUPLICATE_MODES)
@pytest.mark.parametrize("fault", ["timeout-after-commit", "disconnect-after-commit"])
async def test_lost_answer_is_outcome_unknown_then_reconciles(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, fault: str, mode: str
) -> None:
    """The work is done but the answer lost: OutcomeUnknown (F-ERR-6); the retry with the same
    sanity string makes nothing new and returns the document or is refused as a duplicate
    (F-DOC-20; the provider's look-up after that refusal: test_icount_duplicates)."""
    await configure(http, sandbox, duplicate_mode=mode)
    await script(http, sandbox, path="doc/create", plan=[fault], hang_s=2)
    client = make_icount_client(http, sandbox.api_url, timeout_s=0.5)
    with pytest.raises(OutcomeUnknown):
        await client.create_document(order_body())
    if mode == "return_existing":
        assert (await create(client, order_body())).docnum == "30001"
    else:
        with pytest.raises(Permanent, match="30001"):
            await client.create_document(order_body())
    assert len(await inspect(http, sandbox, "documents")) == 1
    assert len(await inspect(http, sandbox, "emails")) == 1


async def test_latency_commits_after_the_client_gave_up(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """A client that times out during latency still gets its document made (no cancellation)."""
    await script(http, sandbox, path="doc/create", plan=[{"latency_ms": 400}])
    with pytest.raises(OutcomeUnknown):
        await make_icount_client(http, sandbox.api_url, timeout_s=0.15).create_document(
            order_body()
        )
    for _ in range(50):
        if sandbox.state.documents:
            break
        await asyncio.sleep(0.02)
    assert [d.docnum for d in sandbox.state.documents] == ["30001"]


@pytest.mark.parametrize(
    ("fault", "delay_ms"),
    [({"plan": ["too-many-requests"]}, 90_000), ({"plan": [429], "retry_after": 20}, 20_000)],
)
async def test_throttling_is_rate_limited(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, fault: dict[str, Any], delay_ms: int
) -> None:
    """A plain "Too many requests" or a 429 is RateLimited with its delay, and nothing is made."""
    await script(http, sandbox, path="doc/create", **fault)
    with pytest.raises(RateLimited) as caught:
        await make_icount_client(http, sandbox.api_url).create_document(order_body())
    assert caught.value.delay_ms == delay_ms
    assert await inspect(http, sandbox, "documents") == []


async def test_plans_match_bodies_and_global_error_rate(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """A plan with `match` hits only matching bodies; error_rate 1 fails every call with 503."""
    await script(http, sandbox, path="doc/create", plan=[503], match="ib-other")
    client = make_icount_client(http, sandbox.api_url)
    assert (await create(client, order_body())).docnum == "30001"
    with pytest.raises(Retryable):
        await client.create_document(order_body("ib-other"))
    await script(http, sandbox, error_rate=1.0, seed=1)
    with pytest.raises(Retryable):
        await client.document_info("invrec", "30001")
    async with http.delete(f"{sandbox.url}/_sandbox/faults"):
        pass
    assert (await client.document_info("invrec", "30001"))["docnum"] == "30001"


async def test_bad_fault_spec_is_422(http: aiohttp.ClientSession, sandbox: RunningSandbox) -> None:
    """An unknown plan entry is refused with a problem body."""
    async with http.post(
        f"{sandbox.url}/_sandbox/faults", json={"path": "x", "plan": ["boom"]}
    ) as r:
        assert r.status == 422
