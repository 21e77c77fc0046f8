"""`login` and the reference methods: pay types, cash registers, sale items, contragents.

Schemas follow the pages 3.01, 3.02, 3.06, 3.08, 3.09 and 3.12; answers hold only the
documented fields.
"""

from __future__ import annotations

from typing import Any

from sandboxes.icash.fields import (
    PAGING,
    Spec,
    enum,
    integer,
    opt,
    page,
    pattern,
    req,
    text,
    wrong,
)
from sandboxes.icash.models import DEFAULT_SALE_ITEMS, Contragent, Refusal, SaleItem
from sandboxes.icash.state import Call, Method

#: 0 | 1 flags
FLAG = enum("0", "1")


def login(call: Call) -> dict[str, Any]:
    return {"session_id": call.state.open_session(call.account, call.body)}


def get_pay_types(call: Call) -> list[dict[str, Any]]:
    return [{"id": pay_id, "value": name} for pay_id, name in call.account.pay_types]


def get_cash_registers(call: Call) -> list[dict[str, Any]]:
    return [register.row() for register in call.account.registers]


# --- sale items (3.12) ----------------------------------------------------------------

SALE_ITEMS_SCHEMA: dict[str, Spec] = {
    "StoreID": opt(integer()),
    "SaleItemID": opt(integer()),
    "SaleItemInventoryID": opt(text(20)),
    "SaleItemBarcode": opt(text(20)),
    "SaleItemName": opt(text(100)),
    "SaleItemType": opt(enum("PRODUCT", "SERVICE")),
    "SaleItemCashRegisterName": opt(text(100)),
    "SaleItemStatus": opt(enum("Normal", "Deleted")),
    **PAGING,
}


#: the `saleitem` fields the sandbox answers with
SALE_ITEM_ROW = tuple(DEFAULT_SALE_ITEMS[0].row())


def _item_matches(item: SaleItem, values: dict[str, Any]) -> bool:
    name = values["SaleItemName"]
    register_name = values["SaleItemCashRegisterName"]
    checks = (
        values["SaleItemID"] in (None, item.id),
        values["SaleItemInventoryID"] in (None, item.inventory_id),
        values["SaleItemBarcode"] is None,  # the sandbox's items have no barcodes
        name is None or name.lower() in item.name.lower(),
        register_name is None or register_name.lower() in item.name.lower(),
        values["SaleItemType"] in (None, item.type),
        values["SaleItemStatus"] in (None, "Normal"),
    )
    return all(checks)


def get_sale_items(call: Call) -> dict[str, Any]:
    items = [item.row() for item in call.account.sale_items if _item_matches(item, call.values)]
    return page(items, call.values, SALE_ITEM_ROW)


def find_sale_item(call: Call, item_id: int | None, inventory_id: str | None) -> SaleItem:
    """The firm's item named by SaleItemID or SaleItemInventoryID (both: they must agree)."""
    if item_id is None and inventory_id is None:
        raise Refusal("Missing value for SaleItemID")
    for item in call.account.sale_items:
        if item_id in (None, item.id) and inventory_id in (None, item.inventory_id):
            return item
    raise wrong("SaleItemID" if item_id is not None else "SaleItemInventoryID")


# --- contragents (3.08, 3.09) ---------------------------------------------------------

CONTRAGENT_SCHEMA: dict[str, Spec] = {
    "EditContragentID": opt(integer(1)),
    "ContragentName": req(text(100)),
    "ContragentType": req(enum("CLIENT", "SUPPLIER")),
    "ContragentBarcode": opt(text(20)),
    "ContragentCountryCode": req(pattern(r"[A-Z]{2}", "an ISO 3166-1 alpha-2 code such as BG")),
    "ContragentCityName": req(text(70)),
    "ContragentAddress": opt(text(100), ""),
    "ContragentTaxNum": req(text(15)),
    "ContragentVatRegistered": req(FLAG),
    "ContragentVatNum": opt(text(15), ""),
    "ContragentMOL": opt(text(60), ""),
    "ContragentAllowPartPays": opt(FLAG, "0"),
    "ContragentForbidSupplies": opt(FLAG, "0"),
    "ContragentForbidSales": opt(FLAG, "0"),
    "ContragentMobile": opt(text(20), ""),
    "ContragentPhone": opt(text(20), ""),
    "ContragentFax": opt(text(20), ""),
    "ContragentEmail": opt(text(75), ""),
    "ContragentWebSite": opt(text(100), ""),
    "ContragentAlbaniaTaxNumType": opt(enum("NUIS", "ID", "PASS", "TAX", "SOC")),
}
#: the `contragent` structure of 3.09, in order
CONTRAGENT_ROW = (
    "ContragentID",
    "ContragentName",
    "ContragentType",
    "ContragentTaxNum",
    "ContragentVatRegistered",
    "ContragentVatNum",
    "ContragentMOL",
    "ContragentActive",
    "ContragentEmail",
    "ContragentCountryCode",
    "ContragentCityName",
    "ContragentAddress",
)
_INTEGER_FLAGS = (
    "ContragentVatRegistered",
    "ContragentAllowPartPays",
    "ContragentForbidSupplies",
    "ContragentForbidSales",
)


def add_contragent(call: Call) -> dict[str, Any]:
    """Add a customer (no duplicate guard: the same data twice is two customers), or edit one."""
    values = dict(call.values)
    edit_id = values.pop("EditContragentID")
    values.pop("ContragentAlbaniaTaxNumType")
    for flag in _INTEGER_FLAGS:
        values[flag] = int(values[flag])
    if edit_id is not None:
        contragent = call.state.contragent(call.account, edit_id, "EditContragentID")
        contragent.fields.update(values)
        return {"ContragentID": contragent.id}
    contragent_id = call.state.next_id("contragent")
    fields = {"ContragentID": contragent_id, **values, "ContragentActive": 1}
    call.state.contragents.append(Contragent(call.account.api_key, fields))
    return {"ContragentID": contragent_id}


CONTRAGENTS_SCHEMA: dict[str, Spec] = {
    "ContragentID": opt(integer()),
    "ContragentName": opt(text(100)),
    "ContragentType": opt(enum("CLIENT", "SUPPLIER")),
    "ContragentBarcode": opt(text(20)),
    "ContragentTaxNum": opt(text(15)),
    "ContragentActive": opt(FLAG),
    **PAGING,
}


def contragent_row(contragent: Contragent) -> dict[str, Any]:
    return {key: contragent.fields[key] for key in CONTRAGENT_ROW}


def _contragent_matches(contragent: Contragent, values: dict[str, Any]) -> bool:
    fields, name = contragent.fields, values["ContragentName"]
    active = values["ContragentActive"]
    checks = (
        values["ContragentID"] in (None, fields["ContragentID"]),
        name is None or name.lower() in fields["ContragentName"].lower(),
        values["ContragentType"] in (None, fields["ContragentType"]),
        values["ContragentBarcode"] in (None, fields["ContragentBarcode"]),
        values["ContragentTaxNum"] in (None, fields["ContragentTaxNum"]),
        active is None or int(active) == fields["ContragentActive"],
    )
    return all(checks)


def get_contragents(call: Call) -> dict[str, Any]:
    rows = [
        contragent_row(contragent)
        for contragent in call.state.contragents
        if contragent.owner == call.account.api_key and _contragent_matches(contragent, call.values)
    ]
    return page(rows, call.values, CONTRAGENT_ROW)


REFERENCE_METHODS: dict[str, Method] = {
    "login": Method({}, login, needs_session=False),
    "get-pay-types": Method({}, get_pay_types),
    "get-cash-registers": Method({}, get_cash_registers),
    "get-sale-items": Method(SALE_ITEMS_SCHEMA, get_sale_items),
    "add-contragent": Method(CONTRAGENT_SCHEMA, add_contragent),
    "get-contragents": Method(CONTRAGENTS_SCHEMA, get_contragents),
}
