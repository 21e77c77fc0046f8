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
#: the `document` structure of documents-list (seed 001)
SEED_001_FIELDS = {
    "DocumentID", "DocumentStatus", "DocumentNum", "DocumentType", "DocumentStoreID",
    "DocumentOperationID", "DocumentOperationType", "DocumentSubType", "DocumentDate",
    "DocumentFirmName", "DocumentFirmAddress", "DocumentFirmMOL", "DocumentFirmEIK",
    "DocumentContragentID", "DocumentContragentName", "DocumentContragentAddress",
    "DocumentContragentMOL", "DocumentContragentTaxNum", "DocumentContragentTaxNumVatReg",
    "DocumentToDocumentID", "DocumentToDocumentDate", "DocumentPriceBase", "DocumentDiscount",
    "DocumentTotalPrice", "DocumentTotalPriceTxt", "DocumentCurrencyCode", "DocumentPayTypeID",
    "DocumentPayDate", "DocumentBankAccountID", "DocumentBankAccountBankName",
    "DocumentBankAccountIBAN", "DocumentBankAccountBIC", "DocumentBankAccountCurrencyCode",
    "DocumentAcceptedBy", "DocumentCreatedBy", "DocumentCreateUserID", "DocumentCreateDate",
    "DocumentVatReason", "DocumentComment",
}  # fmt: skip  # the documented field list, kept as a block
#: the `service` structure of get-document (seed 003)
SEED_003_SERVICE = {
    "DocumentServiceSaleItemID", "DocumentServiceDescription", "DocumentServiceMeasureUnitID",
    "DocumentServiceMeasureUnitName", "DocumentServiceVatPercent", "DocumentServiceTaxGroupID",
    "DocumentServiceSinglePrice", "DocumentServiceQty", "DocumentServiceDiscount",
    "DocumentServiceTotalPrice", "DocumentServiceCreateUserID", "DocumentServiceCreateDate",
}  # fmt: skip  # the documented field list, kept as a block
#: the `operation` structure of get-operation (3.14)
OPERATION_FIELDS = {
    "OperationID", "OperationType", "OperationCashRegisterID", "OperationStoreID",
    "OperationNum", "OperationDate", "OperationStatus", "OperationContragentID",
    "OperationComment", "OperationPrice", "OperationCurrencyCode", "OperationPriceWithoutVat",
    "OperationTotalVat", "OperationPayedSum", "OperationFiskBonUUID", "OperationCreateUserID",
    "OperationCreateDate", "OperationCompleteUserID", "OperationCompleteDate",
    "OperationPosCompleteDate", "OperationTotalDiscount", "OperationImportType",
}  # fmt: skip  # the documented field list, kept as a block
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


# --- the sale, its money and its document --------------------------------------------------


async def test_full_sale_makes_a_net_lined_invoice(
    api: Api, http: aiohttp.ClientSession, icash_sandbox: RunningSandbox
) -> None:
    """new-operation → 2 rows → payment → print → documents-list → get-document."""
    customer = (await api.call("add-contragent", **CUSTOMER))["ContragentID"]
    made = await api.call(
        "new-operation", **SALE, ImportRefID="1001", ContragentID=customer, Comment="order #1001"
    )
    assert set(made) == {"OperationID", "OperationFiskBonUUID"}
    op_id = made["OperationID"]
    for item, qty, price in ((101, "1", "24.00"), (102, "2", "10.90")):
        row = await api.call(
            "add-operation-sale-item",
            OperationID=op_id,
            SaleItemID=item,
            Qty=qty,
            SaleItemSinglePrice=price,
        )
        assert set(row) == {"OperationSaleItemID"}
    paid = await api.call(
        "add-operation-payment", OperationID=op_id, PayTypeID=2, PaymentSum="45.80"
    )
    assert paid["result"] == "OK" and isinstance(paid["PaymentID"], str)
    temp = await api.call("get-operation", OperationID=op_id)
    assert set(temp) == OPERATION_FIELDS
    assert (temp["OperationStatus"], temp["OperationPrice"], temp["OperationCompleteDate"]) == (
        "TEMP",
        "45.80000",
        "0000-00-00 00:00:00",
    )
    assert await api.call("print-operation", OperationID=op_id, PayTypeID=2) == op_id
    done = await api.call("get-operation", OperationID=op_id)
    assert (
        done["OperationStatus"],
        done["OperationPriceWithoutVat"],
        done["OperationTotalVat"],
        done["OperationPayedSum"],
        done["OperationCurrencyCode"],
    ) == ("NORMAL", "40.00000", "5.80000", "45.80000", "EUR")
    assert done["OperationCompleteDate"] != "0000-00-00 00:00:00"
    assert done["OperationFiskBonUUID"] == made["OperationFiskBonUUID"]
    row = await api.document_of(op_id)
    assert set(row) == SEED_001_FIELDS
    assert (row["DocumentType"], row["DocumentSubType"], row["DocumentNum"]) == (
        "INVOICE",
        "NORMAL",
        1000000001,
    )
    assert (row["DocumentPriceBase"], row["DocumentTotalPrice"], row["DocumentPayTypeID"]) == (
        "40.00",
        "45.80",
        2,
    )
    assert (row["DocumentContragentName"], row["DocumentContragentTaxNumVatReg"]) == (
        "Dana Ivanova",
        "BG115825956",
    )
    assert (row["DocumentComment"], row["DocumentToDocumentDate"]) == ("order #1001", "0000-00-00")
    document = await api.call("get-document", DocumentID=row["DocumentID"])
    assert set(document) == SEED_001_FIELDS | {"DocumentServices"}
    lines = document["DocumentServices"]
    assert all(set(line) == SEED_003_SERVICE for line in lines)
    assert [
        (
            line["DocumentServiceDescription"],
            line["DocumentServiceSinglePrice"],
            line["DocumentServiceQty"],
            line["DocumentServiceTotalPrice"],
            line["DocumentServiceVatPercent"],
        )
        for line in lines
    ] == [
        ("Goods 20%", "20.000000", "1.00000", "20.00", 20),
        ("Goods 9%", "10.000000", "2.00000", "20.00", 9),
    ]
    [view] = await control(http, icash_sandbox, "GET", "documents")
    shown = [view[key] for key in ("doctype", "docnum", "total", "base", "vat", "operation_id")]
    assert shown == ["INVOICE", "1000000001", "45.80", "40.00", "5.80", op_id]


async def test_seed_003_example(api: Api) -> None:
    """One item sold at 24.00 with 20 % VAT: SinglePrice 20.000000, base 20.00, total 24.00."""
    op_id = await api.printed([(101, "1", "24.00")])
    row = await api.document_of(op_id)
    assert (row["DocumentPriceBase"], row["DocumentTotalPrice"]) == ("20.00", "24.00")
    [line] = (await api.call("get-document", DocumentID=row["DocumentID"]))["DocumentServices"]
    assert (line["DocumentServiceSinglePrice"], line["DocumentServiceTotalPrice"]) == (
        "20.000000",
        "20.00",
    )


@pytest.mark.parametrize(
    ("rule", "base", "vat"), [("per_line_vat", "7.57", "1.52"), ("per_line", "7.58", "1.51")]
)
async def test_rounding_the_vat_or_the_net_differs_on_a_tie(
    http: aiohttp.ClientSession, rule: str, base: str, vat: str
) -> None:
    """9.09 at 20 % holds VAT 1.515: rounded per line it is 1.52 (a shop's usual rule);
    with the net rounded instead (7.575 → 7.58) it is 1.51."""
    async with serve_sandbox(vat_rule=rule) as box:
        api = Api(http, box)
        row = await api.document_of(await api.printed([(101, "1", "9.09")]))
        assert (row["DocumentPriceBase"], row["DocumentTotalPrice"]) == (base, "9.09")
        [line] = (await api.call("get-document", DocumentID=row["DocumentID"]))["DocumentServices"]
        assert line["DocumentServiceTotalPrice"] == base  # the lines show what the base sums
        [view] = await control(http, box, "GET", "documents")
        assert view["vat"] == vat


@pytest.mark.parametrize(
    ("rule", "base", "vat"), [("per_line", "0.24", "0.06"), ("per_rate", "0.25", "0.05")]
)
async def test_vat_rules_differ(
    http: aiohttp.ClientSession, rule: str, base: str, vat: str
) -> None:
    """Three items of 0.10 at 20 %: per line 3 × 0.08 net; per rate 0.30 / 1.2 = 0.25."""
    async with serve_sandbox(vat_rule=rule) as box:
        api = Api(http, box)
        op_id = await api.printed([(101, "1", "0.10")] * 3)
        row = await api.document_of(op_id)
        assert (row["DocumentPriceBase"], row["DocumentTotalPrice"]) == (base, "0.30")
        [view] = await control(http, box, "GET", "documents")
        assert view["vat"] == vat
        op = await api.call("get-operation", OperationID=op_id)
        assert op["OperationTotalVat"] == f"{vat}000"


async def test_discounted_row_gross(api: Api) -> None:
    """Gross = Qty × price × (100 − discount) / 100, to the cent (3 × 9.99 less 12.5 %)."""
    op_id = await api.sale([], pay=False)
    await api.call(
        "add-operation-sale-item",
        OperationID=op_id,
        SaleItemInventoryID="G20",
        Qty="3",
        SaleItemSinglePrice="9.99",
        SaleItemDiscount="12.5",
    )
    op = await api.call("get-operation", OperationID=op_id)
    assert (op["OperationPrice"], op["OperationTotalDiscount"]) == ("26.22000", "12.50000")


async def test_print_needs_items_and_exact_payment(api: Api) -> None:
    empty = await api.sale([], pay=False)
    assert await api.refused("print-operation", OperationID=empty, PayTypeID=1) == (
        "Wrong value for OperationID: the operation has no items"
    )
    op_id = await api.sale([(101, "1", "24"), (103, "1", "5")], pay=False)
    await api.call("add-operation-payment", OperationID=op_id, PayTypeID=1, PaymentSum="20")
    assert await api.refused("print-operation", OperationID=op_id, PayTypeID=1) == (
        "Wrong value for OperationID: paid 20.00 of 29.00"
    )
    await api.call("add-operation-payment", OperationID=op_id, PayTypeID=1, PaymentSum="10")
    assert await api.refused("print-operation", OperationID=op_id, PayTypeID=1) == (
        "Wrong value for OperationID: paid 30.00 of 29.00"
    )
    extra = await api.call(
        "add-operation-sale-item",
        OperationID=op_id,
        SaleItemID=103,
        Qty="0.2",
        SaleItemSinglePrice="5",
    )
    assert await api.call("print-operation", OperationID=op_id, PayTypeID=1) == op_id
    gone = await api.refused(
        "del-operation-sale-item", OperationSaleItemID=extra["OperationSaleItemID"]
    )
    assert gone == "Wrong value for OperationSaleItemID"
    late = await api.refused("add-operation-payment", OperationID=op_id, PayTypeID=1, PaymentSum=1)
    assert late.startswith("Wrong value for OperationID")
    assert await api.refused("print-operation", OperationID=999, PayTypeID=1) == (
        "Wrong value for OperationID"
    )


async def test_del_operation_sale_item(api: Api) -> None:
    op_id = await api.sale([], pay=False)
    row = await api.call(
        "add-operation-sale-item",
        OperationID=op_id,
        SaleItemID=104,
        Qty=1,
        SaleItemSinglePrice="60",
    )
    assert await api.call("del-operation-sale-item", **row) == row
    assert (await api.call("get-operation", OperationID=op_id))["OperationPrice"] == "0.00000"
    assert (await api.refused("del-operation-sale-item", **row)).startswith("Wrong value")


@pytest.mark.parametrize("reprint", ["refuse", "idempotent"])
async def test_reprint(http: aiohttp.ClientSession, reprint: str) -> None:
    async with serve_sandbox(reprint=reprint) as box:
        api = Api(http, box)
        op_id = await api.printed([(101, "1", "24")])
        again = await api.answer("print-operation", OperationID=op_id, PayTypeID=2)
        if reprint == "refuse":
            assert again["error_message"] == (
                "Wrong value for OperationID: the operation is already finalized"
            )
        else:
            assert again["data"] == op_id
        assert len(await control(http, box, "GET", "documents")) == 1


# --- returns -------------------------------------------------------------------------------


async def test_client_return_makes_a_credit_note(
    api: Api, http: aiohttp.ClientSession, icash_sandbox: RunningSandbox
) -> None:
    """ReturnClient needs the storno fields and a printed sale's UUID; it credits its invoice."""
    temp_sale = (await api.call("new-operation", **SALE))["OperationFiskBonUUID"]
    sale_id = await api.printed([(101, "2", "24")])
    uuid = (await api.call("get-operation", OperationID=sale_id))["OperationFiskBonUUID"]
    storno = {
        "StornoType": 1,
        "FiskBonRcpNum": 17,
        "FiskDeviceNum": 12345678,
        "FiskBonDate": "06-12-26 10:15",
        "FiskBonUUID": uuid,
    }
    back = {**SALE, "OperationType": "ReturnClient"}
    for name in storno:
        missing = {**back, **storno, name: None}
        assert await api.refused("new-operation", **missing) == f"Missing value for {name}"
    for bad in (temp_sale, "ZZZZZZZZ-0001-0000001"):
        message = await api.refused("new-operation", **back, **{**storno, "FiskBonUUID": bad})
        assert message == "Wrong value for FiskBonUUID"
    bad_form = await api.refused("new-operation", **back, **{**storno, "FiskBonUUID": "x-1-2"})
    assert bad_form.startswith("Wrong value for FiskBonUUID:")
    low_device = await api.refused("new-operation", **back, **{**storno, "FiskDeviceNum": 9999999})
    assert low_device.startswith("Wrong value for FiskDeviceNum")
    bad_date = await api.refused("new-operation", **back, **{**storno, "FiskBonDate": "2026-12-06"})
    assert bad_date.startswith("Wrong value for FiskBonDate")
    made = await api.call("new-operation", **back, **storno)
    assert set(made) == {"OperationID"}
    return_id = made["OperationID"]
    await api.call(
        "add-operation-sale-item",
        OperationID=return_id,
        SaleItemID=101,
        Qty=1,
        SaleItemSinglePrice="24",
    )
    await api.call("add-operation-payment", OperationID=return_id, PayTypeID=2, PaymentSum=24)
    assert await api.call("print-operation", OperationID=return_id, PayTypeID=2) == return_id
    assert (await api.call("get-operation", OperationID=return_id))["OperationFiskBonUUID"] == ""
    invoice = await api.document_of(sale_id)
    assert (await api.call("documents-list", DocumentOperationID=return_id))["TotalRecords"] == 0
    credit = await api.document_of(return_id, DocumentSubType="CREDIT")
    assert (credit["DocumentToDocumentID"], credit["DocumentToDocumentDate"]) == (
        invoice["DocumentID"],
        invoice["DocumentDate"],
    )
    assert (credit["DocumentNum"], credit["DocumentTotalPrice"], credit["DocumentPriceBase"]) == (
        1000000002,
        "24.00",
        "20.00",
    )
    views = await control(http, icash_sandbox, "GET", "documents")
    assert [(v["doctype"], v["to_document_id"]) for v in views] == [
        ("INVOICE", 0),
        ("CREDIT", invoice["DocumentID"]),
    ]


# --- listing -------------------------------------------------------------------------------


async def test_operations_list_filters(
    api: Api, http: aiohttp.ClientSession, icash_sandbox: RunningSandbox
) -> None:
    """Default: printed (NORMAL) sales and returns; TEMP on request; ImportRefID as text."""
    first = await api.printed([(101, "1", "24")], ImportRefID="1001")
    second = await api.printed([(101, "1", "24")], ImportRefID="1002")
    temp = await api.sale([(101, "1", "24")], ImportRefID="1003")
    listed = await api.call("operations-list")
    assert [row["OperationID"] for row in listed["Data"]] == [first, second]
    assert all(set(row) == OPERATION_FIELDS for row in listed["Data"])
    temps = await api.call("operations-list", OperationStatus="TEMP")
    assert [row["OperationID"] for row in temps["Data"]] == [temp]
    both = await api.call(
        "operations-list", OperationStatus="TEMP,NORMAL", sort="OperationID", order="DESC", count=2
    )
    assert (both["TotalRecords"], [r["OperationID"] for r in both["Data"]]) == (3, [temp, second])
    by_ref = await api.call("operations-list", ImportRefID=" 1002 ", ImportSource="invoicebridge")
    assert [row["OperationID"] for row in by_ref["Data"]] == [second]
    assert (await api.call("operations-list", ImportSource="other"))["TotalRecords"] == 0
    assert (await api.call("operations-list", OperationType="ReturnClient"))["TotalRecords"] == 0
    assert (await api.call("documents-list", ImportRefID="1001"))["TotalRecords"] == 1
    await control(http, icash_sandbox, "POST", "config", {"ignore_import_filters": True})
    assert (await api.call("operations-list", ImportRefID="1002"))["TotalRecords"] == 2
    assert (await api.call("documents-list", ImportRefID="1001"))["TotalRecords"] == 2


async def test_documents_list_filters(api: Api) -> None:
    ops = [await api.printed([(101, "1", "24")]) for _ in range(3)]
    listed = await api.call("documents-list", count=2, offset=1)
    assert listed["TotalRecords"] == 3
    assert [row["DocumentOperationID"] for row in listed["Data"]] == ops[1:]
    by_num = await api.call("documents-list", DocumentNum=1000000003)
    assert [row["DocumentOperationID"] for row in by_num["Data"]] == [ops[2]]
    assert (await api.call("documents-list", DocumentType="PROFORMA"))["TotalRecords"] == 0
    assert (await api.call("documents-list", DocumentStatus="DELETED"))["TotalRecords"] == 0
    window = await api.call(
        "documents-list", DocumentDateFrom="2000-01-01", DocumentDateTo="2000-12-31"
    )
    assert window["TotalRecords"] == 0
    assert await api.refused("get-document", DocumentID=99) == "Wrong value for DocumentID"


# --- document_on_print ---------------------------------------------------------------------


async def test_delayed_documents_appear_later(http: aiohttp.ClientSession) -> None:
    async with serve_sandbox(document_on_print="delayed", document_delay_s=0.3) as box:
        api = Api(http, box)
        op_id = await api.printed([(101, "1", "24")])
        empty = await api.call("documents-list", DocumentOperationID=op_id)
        assert empty["TotalRecords"] == 0
        assert await control(http, box, "GET", "documents") == []
        await asyncio.sleep(0.4)
        assert (await api.document_of(op_id))["DocumentNum"] == 1000000001


async def test_never_makes_a_document(
    api: Api, http: aiohttp.ClientSession, icash_sandbox: RunningSandbox
) -> None:
    await control(http, icash_sandbox, "POST", "config", {"document_on_print": "never"})
    op_id = await api.printed([(101, "1", "24")])
    assert (await api.call("get-operation", OperationID=op_id))["OperationStatus"] == "NORMAL"
    assert (await api.call("documents-list"))["TotalRecords"] == 0
    assert await control(http, icash_sandbox, "GET", "documents") == []


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
