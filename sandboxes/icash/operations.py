"""Operations (3.13-3.20): create, fill with rows and payments, print, read and list.

An operation starts TEMP; rows and payments go only onto a TEMP operation of the firm.
`print-operation` needs at least one row and payments summing exactly to the gross total;
it makes the operation NORMAL and (switch `document_on_print`) an INVOICE document.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandboxes.icash.documents import make_document
from sandboxes.icash.fields import (
    DATETIME,
    PAGING,
    Spec,
    decimal,
    enum,
    integer,
    iso_date,
    opt,
    page,
    pattern,
    req,
    set_of,
    text,
    timestamp,
    wrong,
)
from sandboxes.icash.methods import find_sale_item
from sandboxes.icash.models import (
    NO_DATETIME,
    Operation,
    Payment,
    Refusal,
    Row,
    SandboxAccount,
    fixed,
    now_text,
)
from sandboxes.icash.state import Call, Method

FISK_BON_UUID = r"[a-zA-Z0-9]{8}-[a-zA-Z0-9]{4}-\d{7}"
#: new-operation fields a ReturnClient needs and a Sell must not send
STORNO = ("StornoType", "FiskBonRcpNum", "FiskDeviceNum", "FiskBonDate", "FiskBonUUID")
STATUSES = ("TEMP", "NORMAL", "EDITED", "DELETED", "FOR_DOWNLOAD", "DOWNLOADED", "POS_OPEN")

NEW_OPERATION: dict[str, Spec] = {
    "ImportSource": req(text(30)),
    "ImportRefID": opt(text(30), ""),
    "OperationType": req(enum("Sell", "ReturnClient", "Delivery")),
    "OperationElectronicReceipt": opt(enum("YES", "NO"), "NO"),
    "CashRegisterID": req(integer()),
    "StoreID": req(integer()),
    "ContragentID": opt(integer()),
    "Comment": opt(text(255), ""),
    "StornoType": opt(enum("0", "1", "2")),
    "FiskBonRcpNum": opt(integer()),
    "FiskDeviceNum": opt(integer(10_000_000)),
    "FiskBonDate": opt(timestamp("%d-%m-%y %H:%M", "DD-MM-YY HH:mm")),
    "FiskBonUUID": opt(pattern(FISK_BON_UUID, "expected XXXXXXXX-XXXX-NNNNNNN")),
    "OperationCustomStates": opt(text(20), ""),
}


def _storno(call: Call, kind: str) -> dict[str, Any]:
    values = call.values
    if kind == "Sell":
        for name in STORNO:
            if values[name] is not None:
                raise wrong(name, "only for ReturnClient")
        return {}
    for name in STORNO:
        if values[name] is None:
            raise Refusal(f"Missing value for {name}")
    sale = sale_by_uuid(call, values["FiskBonUUID"])
    if sale is None:
        raise wrong("FiskBonUUID")
    return {name: values[name] for name in STORNO}


def sale_by_uuid(call: Call, uuid: str) -> Operation | None:
    """The firm's printed sale with this FiskBonUUID (УНП)."""
    for op in call.state.owned_operations(call.account):
        if op.type == "Sell" and op.status == "NORMAL" and op.fisk_uuid == uuid:
            return op
    return None


def new_operation(call: Call) -> dict[str, Any]:
    state, account, values = call.state, call.account, call.values
    kind = values["OperationType"]
    if kind == "Delivery":
        raise wrong("OperationType", "not supported by this sandbox")
    register = next((r for r in account.registers if r.id == values["CashRegisterID"]), None)
    if register is None:
        raise wrong("CashRegisterID")
    if values["StoreID"] != register.store_id:
        raise wrong("StoreID", "not the cash register's store")
    if values["ContragentID"] is not None:
        state.contragent(account, values["ContragentID"], "ContragentID")
    storno = _storno(call, kind)
    num = state.next_id(f"operation-num:{account.api_key}")
    op = Operation(
        owner=account.api_key,
        id=state.next_id("operation"),
        type=kind,
        register_id=register.id,
        store_id=register.store_id,
        num=num,
        import_source=values["ImportSource"],
        import_ref=values["ImportRefID"],
        contragent_id=values["ContragentID"] or 0,
        comment=values["Comment"],
        electronic=values["OperationElectronicReceipt"],
        custom_states=values["OperationCustomStates"],
        storno=storno,
    )
    if kind == "Sell":
        op.fisk_uuid = f"SB{account.warehouse_id % 10**6:06d}-{register.id % 10**4:04d}-{num:07d}"
    state.operations.append(op)
    if kind == "Sell":
        return {"OperationID": op.id, "OperationFiskBonUUID": op.fisk_uuid}
    return {"OperationID": op.id}


def _temp(call: Call, operation_id: int) -> Operation:
    op = call.state.operation(call.account, operation_id)
    if op.status != "TEMP":
        raise wrong("OperationID", "the operation is already finalized")
    return op


ADD_ROW: dict[str, Spec] = {
    "OperationID": req(integer()),
    "SaleItemID": opt(integer()),
    "SaleItemInventoryID": opt(text(20)),
    "Qty": req(decimal(10, 5, Decimal(0), low_open=True)),
    "SaleItemSinglePrice": req(decimal(10, 5, Decimal(0))),
    "SaleItemDiscount": opt(decimal(4, 2, Decimal(0)), Decimal(0)),
}


def add_row(call: Call) -> dict[str, Any]:
    values = call.values
    op = _temp(call, values["OperationID"])
    item = find_sale_item(call, values["SaleItemID"], values["SaleItemInventoryID"])
    row = Row(
        call.state.next_id("row"),
        item,
        values["Qty"],
        values["SaleItemSinglePrice"],
        values["SaleItemDiscount"],
    )
    op.rows.append(row)
    return {"OperationSaleItemID": row.id}


def del_row(call: Call) -> dict[str, Any]:
    row_id = call.values["OperationSaleItemID"]
    for op in call.state.owned_operations(call.account):
        for row in op.rows:
            if row.id == row_id and op.status == "TEMP":
                op.rows.remove(row)
                return {"OperationSaleItemID": row_id}
    raise wrong("OperationSaleItemID")


def _pay_type(account: SandboxAccount, pay_type_id: int) -> int:
    if pay_type_id not in {pay_id for pay_id, _ in account.pay_types}:
        raise wrong("PayTypeID")
    return pay_type_id


ADD_PAYMENT: dict[str, Spec] = {
    "OperationID": req(integer()),
    "PayTypeID": req(integer()),
    "PaymentSum": req(decimal(10, 2, Decimal(0), low_open=True)),
}


def add_payment(call: Call) -> dict[str, Any]:
    values = call.values
    op = _temp(call, values["OperationID"])
    pay_type = _pay_type(call.account, values["PayTypeID"])
    payment = Payment(call.state.next_id("payment"), pay_type, values["PaymentSum"])
    op.payments.append(payment)
    return {"result": "OK", "PaymentID": str(payment.id)}


PRINT: dict[str, Spec] = {"OperationID": req(integer()), "PayTypeID": req(integer())}


def print_operation(call: Call) -> int:
    values, switches = call.values, call.switches
    op = call.state.operation(call.account, values["OperationID"])
    pay_type = _pay_type(call.account, values["PayTypeID"])
    if op.status == "NORMAL" and switches.reprint == "idempotent":
        return op.id
    op = _temp(call, op.id)
    if not op.rows:
        raise wrong("OperationID", "the operation has no items")
    if op.paid != op.gross:
        raise wrong("OperationID", f"paid {fixed(op.paid, 2)} of {fixed(op.gross, 2)}")
    op.frozen_base = op.base(switches.vat_rule)
    op.status, op.completed, op.complete_user = "NORMAL", now_text(), call.account.user_id
    sale = sale_by_uuid(call, op.storno["FiskBonUUID"]) if op.type == "ReturnClient" else None
    make_document(call.state, call.account, op, pay_type, sale)
    return op.id


def operation_fields(op: Operation, account: SandboxAccount, vat_rule: str) -> dict[str, Any]:
    """An operation as 3.14 documents it (nothing more)."""
    gross, base = op.gross, op.base(vat_rule)
    listed = sum((row.qty * row.price for row in op.rows), Decimal(0))
    taken = sum((row.qty * row.price * row.discount for row in op.rows), Decimal(0))
    discount = taken / listed if listed else Decimal(0)  # the rows' weighted discount %
    completed = op.completed != NO_DATETIME
    return {
        "OperationID": op.id,
        "OperationType": op.type,
        "OperationCashRegisterID": op.register_id,
        "OperationStoreID": op.store_id,
        "OperationNum": op.num,
        "OperationDate": op.date,
        "OperationStatus": op.status,
        "OperationContragentID": op.contragent_id,
        "OperationComment": op.comment,
        "OperationPrice": fixed(gross, 5),
        "OperationCurrencyCode": account.currency,
        "OperationPriceWithoutVat": fixed(base, 5),
        "OperationTotalVat": fixed(gross - base, 5),
        "OperationPayedSum": fixed(op.paid, 5),
        "OperationFiskBonUUID": op.fisk_uuid,
        "OperationCreateUserID": account.user_id,
        "OperationCreateDate": op.created,
        "OperationCompleteUserID": op.complete_user,
        "OperationCompleteDate": op.completed,
        "OperationPosCompleteDate": op.completed if completed else NO_DATETIME,
        "OperationTotalDiscount": fixed(discount, 5),
        "OperationImportType": "API",
    }


#: the `operation` fields of 3.14, as answered
OPERATION_ROW = (
    "OperationID",
    "OperationType",
    "OperationCashRegisterID",
    "OperationStoreID",
    "OperationNum",
    "OperationDate",
    "OperationStatus",
    "OperationContragentID",
    "OperationComment",
    "OperationPrice",
    "OperationCurrencyCode",
    "OperationPriceWithoutVat",
    "OperationTotalVat",
    "OperationPayedSum",
    "OperationFiskBonUUID",
    "OperationCreateUserID",
    "OperationCreateDate",
    "OperationCompleteUserID",
    "OperationCompleteDate",
    "OperationPosCompleteDate",
    "OperationTotalDiscount",
    "OperationImportType",
)


def get_operation(call: Call) -> dict[str, Any]:
    op = call.state.operation(call.account, call.values["OperationID"])
    return operation_fields(op, call.account, call.switches.vat_rule)


LIST: dict[str, Spec] = {
    "OperationID": opt(integer()),
    "OperationStoreID": opt(integer()),
    "OperationType": opt(set_of("Sell", "ReturnClient"), frozenset({"Sell", "ReturnClient"})),
    "OperationContragentID": opt(integer()),
    "OperationStatus": opt(set_of(*STATUSES), frozenset({"NORMAL"})),
    "ImportSource": opt(text(30)),
    "ImportRefID": opt(text(30)),
    "OperationDateFrom": opt(iso_date),
    "OperationDateTo": opt(iso_date),
    "OperationCreateDateFrom": opt(DATETIME),
    "OperationCreateDateTo": opt(DATETIME),
    "OperationCompleteDateFrom": opt(DATETIME),
    "OperationCompleteDateTo": opt(DATETIME),
    "OperationCreateUserID": opt(integer()),
    "OperationCompleteUserID": opt(integer()),
    **PAGING,
}
#: list filter → the answer field it must equal
_EQUAL = (
    "OperationID",
    "OperationStoreID",
    "OperationContragentID",
    "OperationCreateUserID",
    "OperationCompleteUserID",
)
#: list filter prefix → the answer field its From/To window applies to
_WINDOWS = {
    "OperationDate": "OperationDate",
    "OperationCreateDate": "OperationCreateDate",
    "OperationCompleteDate": "OperationCompleteDate",
}


def _listed(call: Call, op: Operation, row: dict[str, Any]) -> bool:
    values = call.values
    if any(values[name] is not None and row[name] != values[name] for name in _EQUAL):
        return False
    if op.type not in values["OperationType"] or op.status not in values["OperationStatus"]:
        return False
    for prefix, key in _WINDOWS.items():
        low, high = values[prefix + "From"], values[prefix + "To"]
        if (low is not None and row[key] < low) or (
            high is not None and row[key][: len(high)] > high
        ):
            return False
    return call.imported_as(op.import_source, op.import_ref)


def operations_list(call: Call) -> dict[str, Any]:
    rule = call.switches.vat_rule
    rows = []
    for op in call.state.owned_operations(call.account):
        row = operation_fields(op, call.account, rule)
        if _listed(call, op, row):
            rows.append(row)
    return page(rows, call.values, OPERATION_ROW)


OPERATION_METHODS: dict[str, Method] = {
    "new-operation": Method(NEW_OPERATION, new_operation),
    "add-operation-sale-item": Method(ADD_ROW, add_row),
    "del-operation-sale-item": Method({"OperationSaleItemID": req(integer())}, del_row),
    "add-operation-payment": Method(ADD_PAYMENT, add_payment),
    "print-operation": Method(PRINT, print_operation),
    "get-operation": Method({"OperationID": req(integer())}, get_operation),
    "operations-list": Method(LIST, operations_list),
}
