"""The iCash sandbox over real HTTP on port 0, its sales: the sale, its money and its document;
returns; listing; document_on_print. Helpers and fixtures are test_icash_sandbox's.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from sandboxes.icash.app import RunningSandbox, serve_sandbox
from tests.integration.test_icash_sandbox import (
    CUSTOMER,
    SALE,
    Api,
    api,
    control,
    icash_sandbox,
)

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

__all__ = ["api", "icash_sandbox"]  # the fixtures, shared with test_icash_sandbox


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
