"""The iCash sandbox over real HTTP on port 0: auth, strict fields, the documented methods,
the money rules, and the switches for what the docs leave open.

Calls are made by hand (`Api`, signed here), not with the worker's client: the sandbox is
checked against its own reading of the iCash pages.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from sandboxes.icash.app import RunningSandbox, create_sandbox_app, serve_sandbox

SECRET = "sandbox-secret"
KEY = "sandbox-key"
SALE = {"ImportSource": "invoicebridge", "OperationType": "Sell", "CashRegisterID": 1, "StoreID": 1}
CUSTOMER = {
    "ContragentName": "Dana Ivanova",
    "ContragentType": "CLIENT",
    "ContragentCountryCode": "BG",
    "ContragentCityName": "Sofia",
    "ContragentTaxNum": "115825956",
    "ContragentVatRegistered": 1,
    "ContragentVatNum": "BG115825956",
    "ContragentAddress": "1 Main St",
}


def sign(nonce: int, warehouse_id: int, api_key: str, secret: str) -> str:
    message = f"{nonce}{warehouse_id}{api_key}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().upper()


class Api:
    """A tiny signed iCash caller: strictly increasing nonces, one session."""

    def __init__(self, http: aiohttp.ClientSession, icash_sandbox: RunningSandbox) -> None:
        self.http, self.sandbox = http, icash_sandbox
        self.nonce = 1000
        self.ses: str | None = None

    async def raw(self, method: str, fields: dict[str, Any], **auth: Any) -> dict[str, Any]:
        """One call: `fields` plus api_key, nonce, signature and WareHouseID unless in `auth`."""
        self.nonce += 1
        nonce = auth.pop("nonce", self.nonce)
        body = {
            "api_key": KEY,
            "nonce": nonce,
            "WareHouseID": 1,
            "signature": sign(nonce, 1, KEY, SECRET),
            **auth,
            **fields,
        }
        form = {key: str(value) for key, value in body.items() if value is not None}
        async with self.http.post(f"{self.sandbox.api_url}/{method}", data=form) as response:
            assert response.status == 200
            answer: dict[str, Any] = await response.json()
        assert answer["nonce"] == str(nonce)
        return answer

    async def session(self) -> str:
        if self.ses is None:
            answer = await self.raw("login", {}, UserID=1)
            self.ses = str(answer["data"]["session_id"])
        return self.ses

    async def answer(self, method: str, **fields: Any) -> dict[str, Any]:
        return await self.raw(method, fields, ses=await self.session())

    async def call(self, method: str, **fields: Any) -> Any:
        answer = await self.answer(method, **fields)
        assert answer["status"] == 1, answer
        return answer["data"]

    async def refused(self, method: str, **fields: Any) -> str:
        answer = await self.answer(method, **fields)
        assert answer["status"] == 0, answer
        message: str = answer["error_message"]
        return message

    async def sale(self, items: list[tuple[int, str, str]], pay: bool = True, **fields: Any) -> int:
        """A TEMP sale with (SaleItemID, Qty, SaleItemSinglePrice) rows, paid in full."""
        made = await self.call("new-operation", **{**SALE, **fields})
        op_id: int = made["OperationID"]
        for item_id, qty, price in items:
            await self.call(
                "add-operation-sale-item",
                OperationID=op_id,
                SaleItemID=item_id,
                Qty=qty,
                SaleItemSinglePrice=price,
            )
        if pay:
            gross = (await self.call("get-operation", OperationID=op_id))["OperationPrice"]
            await self.call(
                "add-operation-payment",
                OperationID=op_id,
                PayTypeID=2,
                PaymentSum=Decimal(gross).quantize(Decimal("0.01")),
            )
        return op_id

    async def printed(self, items: list[tuple[int, str, str]], **fields: Any) -> int:
        op_id = await self.sale(items, **fields)
        assert await self.call("print-operation", OperationID=op_id, PayTypeID=2) == op_id
        return op_id

    async def document_of(self, op_id: int, **filters: Any) -> dict[str, Any]:
        listed = await self.call("documents-list", DocumentOperationID=op_id, **filters)
        assert listed["TotalRecords"] == 1
        row: dict[str, Any] = listed["Data"][0]
        return row


@pytest.fixture
async def icash_sandbox() -> AsyncIterator[RunningSandbox]:
    async with serve_sandbox() as running:
        yield running


@pytest.fixture
def api(http: aiohttp.ClientSession, icash_sandbox: RunningSandbox) -> Api:
    return Api(http, icash_sandbox)


async def control(
    http: aiohttp.ClientSession,
    icash_sandbox: RunningSandbox,
    method: str,
    what: str,
    body: Any = None,
    status: int = 200,
) -> Any:
    async with http.request(method, f"{icash_sandbox.url}/_sandbox/{what}", json=body) as response:
        assert response.status == status, await response.text()
        return await response.json(content_type=None)


# --- auth, sessions and nonces -------------------------------------------------------------


async def test_login_nonces_and_signatures(api: Api) -> None:
    """A replayed or smaller nonce is "Invalid nonce"; a bad signature burns no nonce."""
    first = await api.raw("login", {}, nonce=5000, UserID=1)
    assert first["status"] == 1 and len(first["data"]["session_id"]) == 32
    for nonce in (5000, 4999):
        again = await api.raw("login", {}, nonce=nonce, UserID=1)
        assert again == {"nonce": str(nonce), "status": 0, "error_message": "Invalid nonce"}
    bad = await api.raw("login", {}, nonce=5001, UserID=1, signature="A" * 64)
    assert bad["error_message"] == "Authentication Error"
    assert (await api.raw("login", {}, nonce=5001, UserID=1))["status"] == 1
    lower = sign(5002, 1, KEY, SECRET).lower()
    answer = await api.raw("login", {}, nonce=5002, UserID=1, signature=lower)
    assert answer["error_message"] == "Authentication Error"
    wrong_user = await api.raw("login", {}, nonce=5003, UserID=2)
    assert wrong_user["error_message"] == "Wrong value for UserID"


async def test_sessions_are_required_and_expire(
    api: Api, http: aiohttp.ClientSession, icash_sandbox: RunningSandbox
) -> None:
    """No `ses`: "Missing value for ses"; unknown or expired: "Session expired"."""
    assert (await api.raw("get-pay-types", {}))["error_message"] == "Missing value for ses"
    unknown = await api.raw("get-pay-types", {}, ses="0" * 32)
    assert unknown["error_message"] == "Session expired"
    assert len(await api.call("get-pay-types")) == 4
    assert (await control(http, icash_sandbox, "POST", "expire-sessions"))["expired"] == 1
    assert await api.refused("get-pay-types") == "Session expired"


async def test_idle_sessions_time_out(http: aiohttp.ClientSession) -> None:
    async with serve_sandbox(session_ttl_s=0.1) as box:
        api = Api(http, box)
        await api.call("get-pay-types")
        await asyncio.sleep(0.2)
        assert await api.refused("get-pay-types") == "Session expired"


# --- strict requests -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["document-create", "document-cancel", "document-pdf", "x"])
async def test_unknown_methods_are_refused(api: Api, method: str) -> None:
    assert await api.refused(method) == f"Unknown method {method}"


async def test_unknown_fields_are_refused(api: Api) -> None:
    """Only documented fields (and the auth ones, anywhere) are accepted."""
    message = await api.refused("get-pay-types", DocumentType="INVOICE")
    assert message == "Wrong value for DocumentType: not a field of get-pay-types"
    message = await api.refused("new-operation", **SALE, DocumentServices="x")
    assert message == "Wrong value for DocumentServices: not a field of new-operation"
    assert len(await api.call("get-cash-registers", UserID=1)) == 1


@pytest.mark.parametrize(
    ("method", "fields", "missing"),
    [
        ("new-operation", {**SALE, "ImportSource": ""}, "ImportSource"),
        (
            "new-operation",
            {"ImportSource": "x", "CashRegisterID": 1, "StoreID": 1},
            "OperationType",
        ),
        ("new-operation", {**SALE, "StoreID": None}, "StoreID"),
        ("add-operation-sale-item", {"SaleItemID": 101, "Qty": 1}, "SaleItemSinglePrice"),
        ("add-operation-sale-item", {"Qty": 1, "SaleItemSinglePrice": 1}, "SaleItemID"),
        ("add-operation-payment", {"OperationID": 1, "PayTypeID": 1}, "PaymentSum"),
        ("print-operation", {"OperationID": 1}, "PayTypeID"),
        ("del-operation-sale-item", {}, "OperationSaleItemID"),
        ("get-operation", {}, "OperationID"),
        ("get-document", {}, "DocumentID"),
        ("add-contragent", {**CUSTOMER, "ContragentCityName": ""}, "ContragentCityName"),
        (
            "add-contragent",
            {**CUSTOMER, "ContragentVatRegistered": None},
            "ContragentVatRegistered",
        ),
    ],
)
async def test_missing_required_fields(
    api: Api, method: str, fields: dict[str, Any], missing: str
) -> None:
    if method == "add-operation-sale-item":
        fields = {**fields, "OperationID": await api.sale([], pay=False)}
    assert await api.refused(method, **fields) == f"Missing value for {missing}"


@pytest.mark.parametrize(
    ("method", "fields", "field"),
    [
        ("add-operation-sale-item", {"Qty": "1.123456"}, "Qty"),
        ("add-operation-sale-item", {"Qty": "0"}, "Qty"),
        ("add-operation-sale-item", {"Qty": "100000"}, "Qty"),
        ("add-operation-sale-item", {"SaleItemSinglePrice": "-1"}, "SaleItemSinglePrice"),
        ("add-operation-sale-item", {"SaleItemDiscount": "100"}, "SaleItemDiscount"),
        ("add-operation-sale-item", {"SaleItemDiscount": "1.234"}, "SaleItemDiscount"),
        ("add-operation-sale-item", {"SaleItemID": "999"}, "SaleItemID"),
        ("add-operation-sale-item", {"SaleItemID": "abc"}, "SaleItemID"),
        ("add-operation-payment", {"PaymentSum": "1.001"}, "PaymentSum"),
        ("add-operation-payment", {"PaymentSum": "0"}, "PaymentSum"),
        ("add-operation-payment", {"PayTypeID": "9"}, "PayTypeID"),
        ("new-operation", {"OperationType": "Delivery"}, "OperationType"),
        ("new-operation", {"OperationType": "sell"}, "OperationType"),
        ("new-operation", {"CashRegisterID": 2}, "CashRegisterID"),
        ("new-operation", {"StoreID": 2}, "StoreID"),
        ("new-operation", {"ContragentID": 7}, "ContragentID"),
        ("new-operation", {"ImportRefID": "x" * 31}, "ImportRefID"),
        ("new-operation", {"StornoType": 0}, "StornoType"),
        ("add-contragent", {"ContragentCountryCode": "BGR"}, "ContragentCountryCode"),
        ("add-contragent", {"ContragentName": "x" * 101}, "ContragentName"),
        ("add-contragent", {"ContragentType": "BOTH"}, "ContragentType"),
        ("operations-list", {"count": 101}, "count"),
        ("operations-list", {"OperationStatus": "TEMP,OPEN"}, "OperationStatus"),
        ("operations-list", {"sort": "Nope"}, "sort"),
        ("documents-list", {"DocumentDateFrom": "01.05.2024"}, "DocumentDateFrom"),
        ("documents-list", {"order": "UP"}, "order"),
        ("documents-list", {"sort": "DocumentServices"}, "sort"),
        ("get-contragents", {"sort": "ContragentPhone"}, "sort"),
        ("new-operation", {"OperationElectronicReceipt": "MAYBE"}, "OperationElectronicReceipt"),
    ],
)
async def test_wrong_values_are_refused(
    api: Api, method: str, fields: dict[str, Any], field: str
) -> None:
    base: dict[str, Any] = {
        "new-operation": SALE,
        "add-contragent": CUSTOMER,
        "operations-list": {},
        "documents-list": {},
        "get-contragents": {},
    }.get(method, {})
    if method == "add-operation-sale-item":
        base = {
            "OperationID": await api.sale([], pay=False),
            "SaleItemID": 101,
            "Qty": 1,
            "SaleItemSinglePrice": "24",
        }
    if method == "add-operation-payment":
        base = {"OperationID": await api.sale([], pay=False), "PayTypeID": 1, "PaymentSum": 1}
    if method == "operations-list":
        await api.printed([(101, "1", "24")])
    message = await api.refused(method, **{**base, **fields})
    assert message.startswith(f"Wrong value for {field}"), message


# --- reference lists and customers ---------------------------------------------------------


async def test_reference_lists(api: Api) -> None:
    assert await api.call("get-pay-types") == [
        {"id": 1, "value": "Cash"},
        {"id": 2, "value": "Credit card"},
        {"id": 3, "value": "Check"},
        {"id": 4, "value": "Bank transfer"},
    ]
    assert await api.call("get-cash-registers") == [
        {"id": 1, "value": "Web shop", "type": "VIRTUAL", "storeID": 1}
    ]
    items = await api.call("get-sale-items")
    assert items["TotalRecords"] == 4
    assert items["Data"][0] == {
        "SaleItemID": 101,
        "SaleItemInventoryID": "G20",
        "SaleItemName": "Goods 20%",
        "SaleItemCashRegisterName": "Goods 20%",
        "SaleItemType": "PRODUCT",
        "SaleItemPrimaryMeasureUnitID": 1,
        "SaleItemTaxGroupID": 2,
        "SaleItemSellPrice": "24.000000",
    }
    goods = await api.call("get-sale-items", SaleItemName="GOODS", sort="SaleItemID", order="DESC")
    assert [row["SaleItemID"] for row in goods["Data"]] == [103, 102, 101]
    by_inventory = await api.call("get-sale-items", SaleItemInventoryID="S20")
    assert [row["SaleItemTaxGroupID"] for row in by_inventory["Data"]] == [2]


async def test_contragents_add_get_and_edit(api: Api) -> None:
    """No duplicate guard; the name filter is a case-insensitive substring; edit keeps the id."""
    first = (await api.call("add-contragent", **CUSTOMER))["ContragentID"]
    second = (await api.call("add-contragent", **CUSTOMER))["ContragentID"]
    assert second == first + 1
    found = await api.call("get-contragents", ContragentName="ivanova")
    assert found["TotalRecords"] == 2
    assert found["Data"][0] == {
        "ContragentID": first,
        "ContragentName": "Dana Ivanova",
        "ContragentType": "CLIENT",
        "ContragentTaxNum": "115825956",
        "ContragentVatRegistered": 1,
        "ContragentVatNum": "BG115825956",
        "ContragentMOL": "",
        "ContragentActive": 1,
        "ContragentEmail": "",
        "ContragentCountryCode": "BG",
        "ContragentCityName": "Sofia",
        "ContragentAddress": "1 Main St",
    }
    edited = {**CUSTOMER, "EditContragentID": second, "ContragentName": "Other Ltd"}
    assert (await api.call("add-contragent", **edited))["ContragentID"] == second
    one = await api.call("get-contragents", ContragentID=second)
    assert one["Data"][0]["ContragentName"] == "Other Ltd"
    assert (await api.call("get-contragents", count=1, offset=1))["Data"][0]["ContragentID"] == 2
    missing = await api.refused("add-contragent", **{**CUSTOMER, "EditContragentID": 99})
    assert missing == "Wrong value for EditContragentID"


# --- control -------------------------------------------------------------------------------


async def test_config_switches_are_validated_and_reset(
    http: aiohttp.ClientSession, icash_sandbox: RunningSandbox
) -> None:
    defaults = await control(http, icash_sandbox, "GET", "config")
    assert defaults == {
        "vat_rule": "per_line_vat",
        "document_on_print": "immediate",
        "document_delay_s": 2.0,
        "reprint": "refuse",
        "ignore_import_filters": False,
    }
    bad_changes: list[dict[str, Any]] = [
        {"vat_rule": "per_invoice"},
        {"colour": "red"},
        {"document_delay_s": "2"},
        {"ignore_import_filters": "yes"},
        {"reprint": "refuse", "document_delay_s": -1},
    ]
    for bad in bad_changes:
        problem = await control(http, icash_sandbox, "POST", "config", bad, status=400)
        assert problem["status"] == 400
    assert await control(http, icash_sandbox, "GET", "config") == defaults
    changed = await control(
        http, icash_sandbox, "POST", "config", {"vat_rule": "per_rate", "document_delay_s": 1}
    )
    assert (changed["vat_rule"], changed["document_delay_s"], changed["reprint"]) == (
        "per_rate",
        1.0,
        "refuse",
    )
    await control(http, icash_sandbox, "POST", "reset")
    assert await control(http, icash_sandbox, "GET", "config") == defaults
    with pytest.raises(ValueError, match="vat_rule"):
        create_sandbox_app(vat_rule="nope")


@pytest.mark.parametrize("fault", ["disconnect-after-commit", "timeout-after-commit"])
async def test_a_lost_answer_still_adds_the_row(
    api: Api, http: aiohttp.ClientSession, icash_sandbox: RunningSandbox, fault: str
) -> None:
    op_id = await api.sale([], pay=False)
    plan = {"path": "/clientapi/v1/add-operation-sale-item", "plan": [fault], "hang_s": 1}
    await control(http, icash_sandbox, "POST", "faults", plan)
    with pytest.raises((aiohttp.ClientError, TimeoutError)):
        async with asyncio.timeout(0.3):
            await api.answer(
                "add-operation-sale-item",
                OperationID=op_id,
                SaleItemID=101,
                Qty=1,
                SaleItemSinglePrice="24",
            )
    [operation] = await control(http, icash_sandbox, "GET", "operations")
    assert (operation["status"], operation["gross"]) == ("TEMP", "24.00")
    assert [row["sale_item_id"] for row in operation["rows"]] == [101]


async def test_injected_status_does_nothing(
    api: Api, http: aiohttp.ClientSession, icash_sandbox: RunningSandbox
) -> None:
    await control(http, icash_sandbox, "POST", "faults", {"path": "new-operation", "plan": [503]})
    await api.session()
    async with http.post(f"{icash_sandbox.api_url}/new-operation", data={}) as response:
        assert response.status == 503
    assert await control(http, icash_sandbox, "GET", "operations") == []


async def test_request_log_blanks_secrets_and_reset_forgets(
    api: Api, http: aiohttp.ClientSession, icash_sandbox: RunningSandbox
) -> None:
    await api.printed([(101, "1", "24")], ImportRefID="1001")
    async with http.get(f"{icash_sandbox.url}/_sandbox/requests") as response:
        text = await response.text()
        log = await response.json()
    assert api.ses and all(secret not in text for secret in (SECRET, KEY, api.ses))
    assert log["counts"]["print-operation"] == 1
    assert any(entry["body"].get("ImportRefID") == "1001" for entry in log["log"])
    assert await control(http, icash_sandbox, "GET", "emails") == []
    health = await control(http, icash_sandbox, "GET", "health")
    assert (health["status"], health["documents"], health["operations"]) == ("ok", 1, 1)
    await control(http, icash_sandbox, "POST", "reset")
    assert await control(http, icash_sandbox, "GET", "operations") == []
    assert await control(http, icash_sandbox, "GET", "documents") == []


async def test_json_bodies_work_like_forms(
    http: aiohttp.ClientSession, icash_sandbox: RunningSandbox
) -> None:
    body = {
        "api_key": KEY,
        "nonce": 7,
        "WareHouseID": 1,
        "UserID": 1,
        "signature": sign(7, 1, KEY, SECRET),
    }
    async with http.post(f"{icash_sandbox.api_url}/login", json=body) as response:
        answer = await response.json()
    assert (answer["status"], answer["nonce"]) == (1, "7")
