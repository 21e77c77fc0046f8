"""iCount stored-card charges: the real provider and client against the sandbox on port 0."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from sandboxes.icount.app import RunningSandbox
from tests.orders import document_request, mug, order_of
from worker.domain.idempotency import sanity_string
from worker.errors import NeedsAttention, OutcomeUnknown, Permanent, Retryable
from worker.providers.base import ChargeOrder, ChargeRef, DocumentRequest
from worker.providers.icount.client import ICountClient
from worker.providers.icount.provider import ICountProvider
from worker.providers.icount.wire_charge import build_charge_request
from worker.settings import ICountSettings

GOOD, DECLINED, EXPIRED, FLAKY = (
    "4580000000000000",
    "4580000000000002",
    "4580000000000069",
    "4580000000000119",
)
CVV = "737"
AUTH = {"cid": "demo", "user": "api", "pass": "sandbox-pass"}


def provider_for(
    sandbox: RunningSandbox,
    http: aiohttp.ClientSession,
    *,
    timeout_s: float = 5.0,
    token: bool = True,
    is_test: bool = False,
) -> ICountProvider:
    auth: dict[str, Any] = {"api_token": "API3E8-sandbox-token"} if token else dict(AUTH)
    if "pass" in auth:
        auth["pass_"] = auth.pop("pass")
    settings = ICountSettings(
        base_url=sandbox.api_url, timeout_s=timeout_s, is_test=is_test, **auth
    )
    return ICountProvider(ICountClient(http, settings))


def charge_order(order_id: str = "1001", client: str = "57", **changes: Any) -> ChargeOrder:
    fields: dict[str, Any] = {
        "reference": sanity_string("acme", order_id, "charge"),
        "amount": Decimal("117.00"),
        "currency": "ILS",
        "customer_ref": client,
        "customer_name": "Dana Levi",
    }
    return ChargeOrder(**(fields | changes))


async def control(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, method: str, what: str, body: Any = None
) -> Any:
    async with http.request(method, f"{sandbox.url}/_sandbox/{what}", json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def store_card(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, number: str = GOOD, client: str = "57"
) -> str:
    answer = await control(
        http, sandbox, "POST", "cards", {"client_id": client, "card_number": number, "cvv": CVV}
    )
    return str(answer["cc_token_id"])


async def api(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, path: str, **body: Any
) -> dict[str, Any]:
    async with http.post(f"{sandbox.api_url}/{path}", json={**AUTH, **body}) as response:
        data: dict[str, Any] = await response.json()
        return data


def invrec_request(charge: ChargeRef) -> DocumentRequest:
    order = order_of([mug(1, "117.00", tax_rate=18)], paid=False)
    return document_request(order, "ib-invrec-1001", kind="invrec", charge=charge)


async def test_charge_then_invrec_records_the_confirmation_code(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """A charge makes one transaction; the invrec's cc block carries its confirmation code."""
    await store_card(http, sandbox)
    provider = provider_for(sandbox, http, token=False)
    assert provider.capabilities.can_charge
    ref = await provider.charge(charge_order())
    [made] = await control(http, sandbox, "GET", "transactions")
    assert (made["confirmation_code"], made["sum"], made["client_id"]) == (
        ref.confirmation_code,
        "117.00",
        "57",
    )
    assert len(ref.confirmation_code) == 7 and ref.amount == Decimal("117.00")
    assert (ref.card_type, ref.transaction_id) == ("VISA", made["deal_id"])
    document = await provider.create_document(invrec_request(ref))
    [stored] = await control(http, sandbox, "GET", "documents")
    assert (stored["docnum"], stored["doctype"]) == (document.docnum, "invrec")
    cc = stored["payments"]["cc"]
    assert (cc["confirmation_code"], cc["sum"], cc["card_type"]) == (
        ref.confirmation_code,
        "117.00",
        "VISA",
    )


async def test_find_charge_by_reference(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """find_charge finds the charge made for a reference; an unknown reference is None."""
    await store_card(http, sandbox)
    provider = provider_for(sandbox, http)
    ref = await provider.charge(charge_order())
    await provider.charge(charge_order("1002"))
    assert await provider.find_charge(charge_order().reference) == ref
    assert await provider.find_charge(sanity_string("acme", "9999", "charge")) is None


@pytest.mark.parametrize(("card", "reason"), [(DECLINED, "declined"), (EXPIRED, "expired_card")])
async def test_refused_card_is_permanent_and_charges_nothing(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, card: str, reason: str
) -> None:
    """A declined or expired card: Permanent with the reason, no transaction, no card data."""
    token = await store_card(http, sandbox, card)
    with pytest.raises(Permanent) as raised:
        await provider_for(sandbox, http).charge(charge_order())
    assert raised.value.reason == reason
    assert card not in str(raised.value) and token not in str(raised.value)
    assert await control(http, sandbox, "GET", "transactions") == []


async def test_processing_error_is_retryable(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """The card company did not answer: Retryable, and nothing was charged."""
    await store_card(http, sandbox, FLAKY)
    with pytest.raises(Retryable):
        await provider_for(sandbox, http).charge(charge_order())
    assert await control(http, sandbox, "GET", "transactions") == []


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_charge_answered_5xx_is_of_unknown_outcome(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, status: int
) -> None:
    """cc/bill answered with a 5xx: iCount may have charged before failing, so the outcome is
    unknown (looked up before any new attempt), never a plain retry that could bill twice
    (docs/providers/icount.md D-17). A document call's 5xx stays Retryable: it repeats under
    its sanity_string."""
    await store_card(http, sandbox)
    await control(http, sandbox, "POST", "faults", {"path": "cc/bill", "plan": [status]})
    with pytest.raises(OutcomeUnknown):
        await provider_for(sandbox, http).charge(charge_order())


async def test_no_stored_card_is_permanent(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """A customer without a stored card cannot be charged."""
    with pytest.raises(Permanent) as raised:
        await provider_for(sandbox, http).charge(charge_order(client="404"))
    assert raised.value.reason == "no_stored_card"


@pytest.mark.parametrize("fault", ["timeout-after-commit", "disconnect-after-commit"])
async def test_lost_answer_then_find_charge_finds_the_one_transaction(
    http: aiohttp.ClientSession, sandbox: RunningSandbox, fault: str
) -> None:
    """cc/bill charges, then its answer is lost: OutcomeUnknown; the search finds that charge."""
    await store_card(http, sandbox)
    await control(
        http, sandbox, "POST", "faults", {"path": "cc/bill", "plan": [fault], "hang_s": 2}
    )
    provider = provider_for(sandbox, http, timeout_s=0.5)
    with pytest.raises(OutcomeUnknown):
        await provider.charge(charge_order())
    found = await provider.find_charge(charge_order().reference)
    [made] = await control(http, sandbox, "GET", "transactions")
    assert found is not None and found.confirmation_code == made["confirmation_code"]


async def test_a_test_charge_issues_nothing_and_a_live_retry_charges_once(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """F-CC-16: with `is_test` the charge goes out as a test, even its lost answer is found
    (exactly once), and the step stops (`test_charge`) so no invoice-receipt records money
    never taken; once `is_test` is off, the search does not take the test for the real
    charge, and the retry charges once."""
    await store_card(http, sandbox)
    await control(
        http,
        sandbox,
        "POST",
        "faults",
        {"path": "cc/bill", "plan": ["timeout-after-commit"], "hang_s": 2},
    )
    trial = provider_for(sandbox, http, timeout_s=0.5, is_test=True)
    with pytest.raises(OutcomeUnknown):
        await trial.charge(charge_order())
    with pytest.raises(NeedsAttention) as stopped:
        await trial.find_charge(charge_order().reference)
    assert stopped.value.reason == "test_charge"
    live = provider_for(sandbox, http)
    assert await live.find_charge(charge_order().reference) is None
    real = await live.charge(charge_order())
    test, made = await control(http, sandbox, "GET", "transactions")
    assert (test["is_test"], made["is_test"]) == (True, False)
    assert real.confirmation_code == made["confirmation_code"]


async def test_latency_commits_after_the_client_gave_up(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """A caller gone mid-charge still leaves exactly one transaction, made at the end."""
    await store_card(http, sandbox)
    await control(
        http, sandbox, "POST", "faults", {"path": "cc/bill", "plan": [{"latency_ms": 500}]}
    )
    provider = provider_for(sandbox, http, timeout_s=0.2)
    with pytest.raises(OutcomeUnknown):
        await provider.charge(charge_order())
    assert await provider.find_charge(charge_order().reference) is None  # not yet made
    await asyncio.sleep(0.5)
    assert await provider.find_charge(charge_order().reference) is not None
    assert len(await control(http, sandbox, "GET", "transactions")) == 1


async def test_cc_bill_has_no_duplicate_guard(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """Two bills with one body are two charges: why the caller must search first."""
    token = await store_card(http, sandbox)
    client = provider_for(sandbox, http).client
    body = build_charge_request(charge_order(), token)
    first, second = await client.bill(body), await client.bill(body)
    assert first["confirmation_code"] != second["confirmation_code"]
    assert len(await control(http, sandbox, "GET", "transactions")) == 2


async def test_installments_and_validation(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """Installments are kept as sent; sums, installments and a foreign token are refused."""
    token = await store_card(http, sandbox)
    order = charge_order(amount=Decimal("100.00"), num_of_payments=3)
    ref = await provider_for(sandbox, http).charge(order)
    assert (ref.num_of_payments, ref.first_payment) == (3, Decimal("33.34"))
    [made] = await control(http, sandbox, "GET", "transactions")
    assert (made["num_of_payments"], made["first_payment"]) == (3, "33.34")
    card = {"cc_token_id": token, "client_id": "57", "currency_code": "ILS"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"sum": "0"}, "bad_amount"),
        ({"sum": "1.005"}, "bad_amount"),
        ({"sum": "10", "num_of_payments": 3, "first_payment": "9.99"}, "bad_installments"),
        ({"sum": "10", "num_of_payments": 40}, "bad_installments"),
        ({"sum": "10", "client_id": "58"}, "token_client_mismatch"),
        ({"sum": "10", "cc_token_id": "1"}, "bad_token"),
    ]
    for fields, reason in cases:
        assert (await api(http, sandbox, "cc/bill", **(card | fields)))["reason"] == reason
    assert len(await control(http, sandbox, "GET", "transactions")) == 1


async def test_card_storage_and_search_api(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """cc_storage/store and /get show a token and the last 4; cc/transactions filters."""
    stored = await api(
        http,
        sandbox,
        "cc_storage/store",
        client_name="Dana Levi",
        email="dana@example.com",
        cc_number=GOOD,
        cc_validity="2031-04",
        cc_cvv=CVV,
        cc_holder_id="012345678",
    )
    card = await api(http, sandbox, "cc_storage/get", client_id=stored["client_id"])
    assert (card["cc_token_id"], card["last4"], card["exp"]) == (
        stored["cc_token_id"],
        "0000",
        "2031-04",
    )
    assert (await api(http, sandbox, "cc_storage/get", client_id="nobody"))["reason"] == (
        "no_stored_card"
    )
    card_fields = {"cc_number": FLAKY[:-4] + "4242", "cc_validity": "0431"}
    direct = await api(http, sandbox, "cc/bill", sum=50, client_id="7", **card_fields)
    assert direct["reason"] == "card_data_refused"  # only stored cards are ever billed
    bill = await api(
        http,
        sandbox,
        "cc/bill",
        sum=50,
        cc_token_id=stored["cc_token_id"],
        client_id=stored["client_id"],
        payment_description="one-off",
    )
    assert bill["status"] is True and bill["sum"] == "50.00"
    found = await api(
        http,
        sandbox,
        "cc/transactions",
        payment_description="one",
        start_date=date.today().isoformat(),
    )
    assert found["results_count"] == 1 and found["transactions"][0]["last4"] == "0000"
    assert (await api(http, sandbox, "cc/transactions", client_id="8"))["transactions"] == []


async def test_no_card_number_cvv_or_token_in_inspection(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """/_sandbox/transactions and /_sandbox/requests hold no card number, CVV or token."""
    token = await store_card(http, sandbox)
    await provider_for(sandbox, http, token=False).charge(charge_order())
    await api(
        http,
        sandbox,
        "cc/bill",
        sum=10,
        cc_number=GOOD,
        cc_validity="2031-04",
        cc_cvv=CVV,
        client_id="57",
    )
    await api(
        http,
        sandbox,
        "cc_storage/store",
        client_id="57",
        cc_number=GOOD,
        cc_validity="2031-04",
        cc_cvv=CVV,
    )
    for what in ("transactions", "requests"):
        text = json.dumps(await control(http, sandbox, "GET", what))
        assert GOOD not in text and token not in text and f'"{CVV}"' not in text
    assert "cc_token_id" not in json.dumps(await control(http, sandbox, "GET", "transactions"))


async def test_reset_forgets_cards_and_transactions(
    http: aiohttp.ClientSession, sandbox: RunningSandbox
) -> None:
    """POST /_sandbox/reset clears stored cards and transactions too."""
    await store_card(http, sandbox)
    await provider_for(sandbox, http).charge(charge_order())
    await control(http, sandbox, "POST", "reset")
    assert await control(http, sandbox, "GET", "transactions") == []
    with pytest.raises(Permanent):
        await provider_for(sandbox, http).charge(charge_order())
