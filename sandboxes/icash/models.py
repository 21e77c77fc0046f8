"""The iCash sandbox's data: accounts with their reference lists, operations, documents,
the behaviour switches, and the money arithmetic (Decimal only, ROUND_HALF_UP).

These are the sandbox's own reading of the iCash client API v1 pages; nothing here comes
from the worker's client.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

#: tax group → VAT percent (3.03-3.05 are missing from the docs: the sandbox's choice)
TAX_GROUP_RATES: dict[int, Decimal] = {1: Decimal(0), 2: Decimal(20), 3: Decimal(20), 4: Decimal(9)}
NO_DATE = "0000-00-00"
NO_DATETIME = "0000-00-00 00:00:00"

VAT_RULES = ("per_line_vat", "per_line", "per_rate")
DOCUMENT_ON_PRINT = ("immediate", "delayed", "never")
REPRINT = ("refuse", "idempotent")


class Refusal(Exception):
    """iCash's `status: 0` with an English `error_message` (HTTP 200)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def today_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def quantize(value: Decimal, places: int) -> Decimal:
    """`value` rounded half up to `places` decimals."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def fixed(value: Decimal, places: int) -> str:
    """A decimal string with exactly `places` decimals ("24.00")."""
    return f"{quantize(value, places):f}"


def row_gross(qty: Decimal, price: Decimal, discount: Decimal) -> Decimal:
    """A sale item row's gross: Qty × SaleItemSinglePrice (with VAT) less the discount %."""
    return quantize(qty * price * (100 - discount) / 100, 2)


def net_of(gross: Decimal, rate: Decimal) -> Decimal:
    """The net part of a gross amount at `rate` %, to the cent."""
    return quantize(gross * 100 / (100 + rate), 2)


def line_net(gross: Decimal, rate: Decimal, vat_rule: str) -> Decimal:
    """A row's net as its document line shows it: its VAT rounded and the rest
    (`per_line_vat`), else its net rounded."""
    if vat_rule == "per_line_vat":
        return gross - quantize(gross * rate / (100 + rate), 2)
    return net_of(gross, rate)


def base_of(rows: list[tuple[Decimal, Decimal]], vat_rule: str) -> Decimal:
    """The tax base of (gross, rate) rows: each row's VAT rounded (`per_line_vat`), each
    row's net rounded (`per_line`), or the net of each rate's summed gross (`per_rate`)."""
    if vat_rule in ("per_line_vat", "per_line"):
        return sum((line_net(gross, rate, vat_rule) for gross, rate in rows), Decimal(0))
    by_rate: dict[Decimal, Decimal] = {}
    for gross, rate in rows:
        by_rate[rate] = by_rate.get(rate, Decimal(0)) + gross
    return sum((net_of(gross, rate) for rate, gross in by_rate.items()), Decimal(0))


@dataclass(frozen=True)
class Switches:
    """Behaviour the iCash docs leave open; `GET|POST /_sandbox/config`, CLI flags."""

    vat_rule: str = "per_line_vat"
    document_on_print: str = "immediate"
    document_delay_s: float = 2.0
    reprint: str = "refuse"
    ignore_import_filters: bool = False

    def updated(self, changes: dict[str, Any]) -> Switches:
        """A copy with `changes` applied. Raises `ValueError` naming a bad switch or value."""
        choices = {
            "vat_rule": VAT_RULES,
            "document_on_print": DOCUMENT_ON_PRINT,
            "reprint": REPRINT,
        }
        for name, value in changes.items():
            if name in choices:
                if value not in choices[name]:
                    raise ValueError(f"{name} must be one of {', '.join(choices[name])}")
            elif name == "document_delay_s":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError("document_delay_s must be a number of seconds")
                if not 0 <= value <= 3600:
                    raise ValueError("document_delay_s must be between 0 and 3600")
            elif name == "ignore_import_filters":
                if not isinstance(value, bool):
                    raise ValueError("ignore_import_filters must be true or false")
            else:
                raise ValueError(f"unknown switch {name!r}")
        if "document_delay_s" in changes:
            changes = {**changes, "document_delay_s": float(changes["document_delay_s"])}
        return replace(self, **changes)

    def as_json(self) -> dict[str, Any]:
        return {
            "vat_rule": self.vat_rule,
            "document_on_print": self.document_on_print,
            "document_delay_s": self.document_delay_s,
            "reprint": self.reprint,
            "ignore_import_filters": self.ignore_import_filters,
        }


@dataclass(frozen=True)
class SaleItem:
    """One catalogue item (3.12 `saleitem`)."""

    id: int
    inventory_id: str
    name: str
    tax_group: int
    price: Decimal  #: SaleItemSellPrice, with VAT
    type: str = "PRODUCT"

    @property
    def rate(self) -> Decimal:
        return TAX_GROUP_RATES[self.tax_group]

    def row(self) -> dict[str, Any]:
        return {
            "SaleItemID": self.id,
            "SaleItemInventoryID": self.inventory_id,
            "SaleItemName": self.name,
            "SaleItemCashRegisterName": self.name,
            "SaleItemType": self.type,
            "SaleItemPrimaryMeasureUnitID": 1,
            "SaleItemTaxGroupID": self.tax_group,
            "SaleItemSellPrice": fixed(self.price, 6),
        }


@dataclass(frozen=True)
class CashRegister:
    id: int
    name: str
    type: str  #: VIRTUAL | HARDWARE
    store_id: int

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "value": self.name, "type": self.type, "storeID": self.store_id}


DEFAULT_PAY_TYPES = ((1, "Cash"), (2, "Credit card"), (3, "Check"), (4, "Bank transfer"))
DEFAULT_REGISTERS = (CashRegister(1, "Web shop", "VIRTUAL", 1),)
DEFAULT_SALE_ITEMS = (
    SaleItem(101, "G20", "Goods 20%", 2, Decimal(24)),
    SaleItem(102, "G9", "Goods 9%", 4, Decimal("10.90")),
    SaleItem(103, "EX0", "Exempt goods", 1, Decimal(5)),
    SaleItem(104, "S20", "Services 20%", 2, Decimal(60), "SERVICE"),
)


@dataclass(frozen=True)
class SandboxAccount:
    """One iCash firm with one warehouse, one API user and its reference lists."""

    api_key: str = "sandbox-key"
    secret: str = field(default="sandbox-secret", repr=False)
    warehouse_id: int = 1
    user_id: int = 1
    user_name: str = "API User"
    currency: str = "EUR"
    firm_name: str = "Sandbox EOOD"
    firm_address: str = "1 Vitosha Blvd, Sofia"
    firm_mol: str = "Ivan Petrov"
    firm_eik: str = "200000001"
    pay_types: tuple[tuple[int, str], ...] = DEFAULT_PAY_TYPES
    registers: tuple[CashRegister, ...] = DEFAULT_REGISTERS
    sale_items: tuple[SaleItem, ...] = DEFAULT_SALE_ITEMS


@dataclass
class Row:
    """A sale item row of an operation (`add-operation-sale-item`)."""

    id: int
    item: SaleItem
    qty: Decimal
    price: Decimal
    discount: Decimal

    @property
    def gross(self) -> Decimal:
        return row_gross(self.qty, self.price, self.discount)


@dataclass
class Payment:
    id: int
    pay_type_id: int
    amount: Decimal


@dataclass
class Operation:
    """A sale or a client return, TEMP until `print-operation` makes it NORMAL."""

    owner: str
    id: int
    type: str
    register_id: int
    store_id: int
    num: int
    import_source: str
    import_ref: str
    contragent_id: int = 0
    comment: str = ""
    electronic: str = "NO"
    custom_states: str = ""
    fisk_uuid: str = ""
    storno: dict[str, Any] = field(default_factory=dict)  #: the return's FiskBon* fields
    status: str = "TEMP"
    date: str = field(default_factory=today_text)
    created: str = field(default_factory=now_text)
    completed: str = NO_DATETIME
    complete_user: int = 0
    rows: list[Row] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    frozen_base: Decimal | None = None  #: the tax base fixed at print

    @property
    def gross(self) -> Decimal:
        return sum((row.gross for row in self.rows), Decimal(0))

    @property
    def paid(self) -> Decimal:
        return sum((payment.amount for payment in self.payments), Decimal(0))

    def base(self, vat_rule: str) -> Decimal:
        if self.frozen_base is not None:
            return self.frozen_base
        return base_of([(row.gross, row.item.rate) for row in self.rows], vat_rule)


@dataclass
class Contragent:
    owner: str
    fields: dict[str, Any]

    @property
    def id(self) -> int:
        value: int = self.fields["ContragentID"]
        return value


@dataclass
class Document:
    """A stored document: iCash fields (with `DocumentServices`), plus what only filters see."""

    owner: str
    fields: dict[str, Any]
    import_source: str = ""
    import_ref: str = ""
    visible_at: float = 0.0  #: the state clock's time from which the document exists

    @property
    def id(self) -> int:
        value: int = self.fields["DocumentID"]
        return value

    def row(self) -> dict[str, Any]:
        """As `documents-list` shows it: without the lines."""
        return {key: value for key, value in self.fields.items() if key != "DocumentServices"}
