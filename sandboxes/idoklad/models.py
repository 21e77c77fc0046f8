"""What the iDoklad sandbox accepts and stores: contacts, issued invoices and credit notes.

A refused body is `ApiError(400)`, answered as ASP.NET Web API does:
`{"Message": "The request is invalid.", "ModelState": {"Field": ["error", ...]}}`,
every field's errors at once (item fields as `IssuedInvoiceItems[0].Name`).
Totals come from `wire.item_amounts`, the rule the client builds with; money is
kept as `Decimal` and answered as JSON numbers. Unknown fields are ignored.

Sandbox-defined where providers.md is silent: invoices need `PurchaserId` (an
existing contact), `CurrencyId` (from `Currencies`), `DateOfIssue`,
`DateOfTaxing`, `DateOfMaturity` (not before the issue), `Description` and
at least one item; `OrderNumber` ≤ 20, `VariableSymbol` ≤ 10 digits. A credit note
names the invoice as `CreditNoteForDocumentId` (v2 SDK; `CreditedInvoiceId` is
accepted too) and its items as `CreditNoteItems` with positive amounts (the
amount credited); purchaser and currency default to the invoice's, the currency
must be the invoice's, dates other than `DateOfIssue` default to it, and all
credit notes of an invoice together may not exceed its total.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sandboxes.idoklad.countries import COUNTRY_NAMES
from worker.domain.money import parse_amount
from worker.providers.idoklad.wire import (
    VAT_RATES,
    Amounts,
    PriceType,
    VatRateType,
    document_amounts,
    item_amounts,
    item_rate,
)

#: `GET Currencies` (sandbox ids; the real ones are read from the API, never assumed)
CURRENCIES: list[dict[str, Any]] = [
    {"Id": i, "Code": code, "Name": name}
    for i, (code, name) in enumerate(
        [
            ("CZK", "Czech koruna"),
            ("EUR", "Euro"),
            ("USD", "US dollar"),
            ("GBP", "Pound sterling"),
            ("PLN", "Polish zloty"),
            ("HUF", "Hungarian forint"),
            ("CHF", "Swiss franc"),
            ("ILS", "Israeli new shekel"),
            ("BGN", "Bulgarian lev"),
            ("JPY", "Japanese yen"),
        ],
        1,
    )
]
#: `GET Countries`: 249 entries, more than the 200 a page can hold (seed 004, Pagination)
COUNTRIES: list[dict[str, Any]] = [
    {"Id": i, "Code": code, "Name": name} for i, (code, name) in enumerate(COUNTRY_NAMES, 1)
]
#: `GET VatRates`: the rates `wire.VAT_RATES` applies when an item names none
VAT_RATE_LIST: list[dict[str, Any]] = [
    {"Id": n, "CountryId": 1, "Name": kind.name.title(), "RateType": int(kind), "Rate": rate}
    for n, (kind, rate) in enumerate(VAT_RATES.items(), 1)
]
CURRENCY_CODES = {int(c["Id"]): str(c["Code"]) for c in CURRENCIES}
COUNTRY_IDS = frozenset(int(c["Id"]) for c in COUNTRIES)
_CONTACT_TEXT = {
    "CompanyName": 200,
    "Email": 254,
    "Firstname": 50,
    "Surname": 50,
    "Street": 100,
    "City": 100,
    "PostalCode": 11,
    "Phone": 40,
    "IdentificationNumber": 20,
    "VatIdentificationNumber": 20,
}


class ApiError(Exception):
    """An iDoklad error answer: HTTP status, `Message` and (400) `ModelState`."""

    def __init__(
        self,
        status: int,
        message: str,
        model_state: dict[str, list[str]] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.model_state = status, message, model_state
        self.retry_after = retry_after  #: seconds, sent as `Retry-After` (429)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Message": self.message}
        if self.model_state:
            body["ModelState"] = self.model_state
        return body


class Checker:
    """Collects a body's field errors, then raises them together."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.errors: dict[str, list[str]] = {}

    def fail(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def done(self) -> None:
        if self.errors:
            raise ApiError(400, "The request is invalid.", self.errors)

    def text(self, field: str, limit: int, *, required: bool = False, where: str = "") -> str:
        value, name = self.body.get(field), f"{where}{field}"
        if value is None or value == "":
            if required:
                self.fail(name, f"The {field} field is required.")
            return ""
        if not isinstance(value, str):
            self.fail(name, f"The {field} field must be text.")
            return ""
        if len(value) > limit:
            self.fail(name, f"The field {field} must be a string with a maximum length of {limit}.")
        return value

    def integer(self, field: str, value: Any = None, *, where: str = "") -> int | None:
        value = self.body.get(field) if value is None else value
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{where}{field}", f"The {field} field is required and must be an integer.")
            return None
        return value

    def number(self, field: str, *, where: str = "") -> Decimal | None:
        value = self.body.get(field)
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            self.fail(f"{where}{field}", f"The {field} field is required and must be a number.")
            return None
        return parse_amount(value)

    def day(self, field: str, default: str | None = None) -> str:
        value = self.body.get(field) or default
        try:
            return date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            self.fail(field, f"The {field} field is required and must be a date.")
            return ""


def contact_default() -> dict[str, Any]:
    """`GET Contacts/Default`."""
    return {**dict.fromkeys(_CONTACT_TEXT, ""), "CountryId": 1, "DefaultInvoiceMaturity": 14}


def new_contact(body: Mapping[str, Any], contact_id: int) -> dict[str, Any]:
    """A contact from a `POST Contacts` body. Raises ApiError (400)."""
    check = Checker(body)
    fields = {f: check.text(f, n, required=f == "CompanyName") for f, n in _CONTACT_TEXT.items()}
    if fields["Email"] and "@" not in fields["Email"]:
        check.fail("Email", "The Email field is not a valid e-mail address.")
    country = check.integer("CountryId")
    if country is not None and country not in COUNTRY_IDS:
        check.fail("CountryId", f"Country {country} does not exist.")
    check.done()
    return {"Id": contact_id, **fields, "CountryId": country}


def _item(check: Checker, where: str, number: int) -> dict[str, Any] | None:
    name = check.text("Name", 200, required=True, where=where)
    amount, price = check.number("Amount", where=where), check.number("UnitPrice", where=where)
    price_type = check.integer("PriceType", check.body.get("PriceType", 0), where=where)
    rate_type = check.integer("VatRateType", check.body.get("VatRateType", 1), where=where)
    if price_type is not None and price_type not in {int(p) for p in PriceType}:
        check.fail(f"{where}PriceType", f"{price_type} is not a PriceType.")
    if rate_type is not None and rate_type not in {int(t) for t in VatRateType}:
        check.fail(f"{where}VatRateType", f"{rate_type} is not a VatRateType.")
    rate = check.number("VatRate", where=where) if check.body.get("VatRate") is not None else None
    if rate is not None and not 0 <= rate <= 100:
        check.fail(f"{where}VatRate", "The VatRate must be between 0 and 100.")
    unit = check.text("Unit", 20, where=where)
    if None in (amount, price, price_type, rate_type):
        return None
    return {
        "Id": number,
        "Name": name,
        "Amount": amount,
        "UnitPrice": price,
        "PriceType": price_type,
        "VatRateType": rate_type,
        "VatRate": rate,
        "Unit": unit,
    }


def _items(parent: Checker, key: str) -> list[dict[str, Any]]:
    raw = parent.body.get(key)
    if not isinstance(raw, list) or not raw:
        parent.fail(key, f"The {key} field is required (at least one item).")
        return []
    items = []
    for index, entry in enumerate(raw):
        check = Checker(entry if isinstance(entry, Mapping) else {})
        item = _item(check, f"{key}[{index}].", index + 1)
        for field, messages in check.errors.items():
            parent.errors.setdefault(field, []).extend(messages)
        if item is not None and not check.errors:
            items.append(item)
    return items


def priced(items: list[dict[str, Any]], currency: str) -> tuple[list[dict[str, Any]], Amounts]:
    """Items with their totals and effective rate, plus the document's `Amounts`."""
    out = []
    for item in items:
        money = item_amounts(item, currency)
        out.append(
            {
                **item,
                "VatRate": item_rate(item) if item["PriceType"] != 2 else Decimal(0),
                "PriceTotalWithoutVat": money.base,
                "VatTotal": money.vat,
                "PriceTotalWithVat": money.total,
            }
        )
    return out, document_amounts(items, currency)


def check_document(
    body: Mapping[str, Any], items_key: str, *, issue_default: bool = False
) -> tuple[Checker, dict[str, Any], list[dict[str, Any]]]:
    """The fields every issued document shares, checked but not yet raised."""
    check = Checker(body)
    issued = check.day("DateOfIssue")
    fallback = issued if issue_default else None
    fields: dict[str, Any] = {
        "DateOfIssue": issued,
        "DateOfTaxing": check.day("DateOfTaxing", fallback),
        "DateOfMaturity": check.day("DateOfMaturity", fallback),
        "Description": check.text("Description", 500, required=not issue_default),
        "OrderNumber": check.text("OrderNumber", 20),
        "VariableSymbol": check.text("VariableSymbol", 10),
        "Note": check.text("Note", 2000),
    }
    if fields["VariableSymbol"] and not fields["VariableSymbol"].isdigit():
        check.fail("VariableSymbol", "The VariableSymbol may hold digits only.")
    if issued and fields["DateOfMaturity"] and fields["DateOfMaturity"] < issued:
        check.fail("DateOfMaturity", "The DateOfMaturity cannot be before the DateOfIssue.")
    return check, fields, _items(check, items_key)


def currency_code(check: Checker, currency_id: int | None) -> str:
    """The ISO code of `CurrencyId`, failing the check when it is unknown."""
    if currency_id is not None and currency_id not in CURRENCY_CODES:
        check.fail("CurrencyId", f"Currency {currency_id} does not exist.")
    return CURRENCY_CODES.get(currency_id or 0, "CZK")
