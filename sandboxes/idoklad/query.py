"""List queries for the iDoklad sandbox: `filter`, `filtertype`, `sort`, `page`, `pagesize`.

`filter=Prop~op~value|Prop~op~value` (ops lt lte gt gte eq !eq ct !ct; the value is
everything after the second `~`, so it may hold `~` but not `|`), joined by
`filtertype` and|or (default and). Values are compared by the property's type:
integers and decimals numerically, dates (`YYYY-MM-DD`, a longer ISO text is cut
to its date) as dates, booleans as true/false, text case-insensitively (`ct` =
contains). A missing (null) value matches only `!eq` and `!ct`. An unknown
property, operator, direction or a value of the wrong type is a 400 with
`ModelState`. `sort=Prop~asc|Prop~desc` (default `Id~asc`; nulls first).
`page` ≥ 1, `pagesize` 1..200 (default 20); a page past the end is empty.
`TotalPages` = ceil(TotalItems / pagesize), so 0 when nothing matches.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from sandboxes.idoklad.models import ApiError

FieldType = Literal["int", "decimal", "date", "bool", "text"]

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 20

_DOCUMENT_FIELDS: dict[str, FieldType] = {
    "Id": "int",
    "DocumentNumber": "text",
    "DocumentSerialNumber": "int",
    "Description": "text",
    "DateOfIssue": "date",
    "DateOfMaturity": "date",
    "DateOfPayment": "date",
    "DateOfTaxing": "date",
    "DateLastChange": "date",
    "PurchaserId": "int",
    "PaymentStatus": "int",
    "IsPaid": "bool",
    "CurrencyId": "int",
    "OrderNumber": "text",
    "VariableSymbol": "text",
    "TotalWithVat": "decimal",
    "TotalWithoutVat": "decimal",
    "IsSentToPurchaser": "bool",
    "Exported": "int",
}
#: the filterable / sortable properties of each list resource
FIELDS: dict[str, dict[str, FieldType]] = {
    "IssuedInvoices": _DOCUMENT_FIELDS,
    "CreditNotes": {**_DOCUMENT_FIELDS, "CreditNoteForDocumentId": "int"},
    "Contacts": {
        "Id": "int",
        "CompanyName": "text",
        "Email": "text",
        "Firstname": "text",
        "Surname": "text",
        "City": "text",
        "PostalCode": "text",
        "CountryId": "int",
        "IdentificationNumber": "text",
        "VatIdentificationNumber": "text",
    },
    "Currencies": {"Id": "int", "Code": "text", "Name": "text"},
    "Countries": {"Id": "int", "Code": "text", "Name": "text"},
    "VatRates": {"Id": "int", "CountryId": "int", "RateType": "int", "Rate": "decimal"},
}

_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, "The request is invalid.", {field: [message]})


def _coerce(kind: FieldType, value: Any) -> Any:
    """A stored or filter value in comparable form; ValueError when it does not fit."""
    if value is None:
        return None
    if kind == "int":
        return int(str(value))
    if kind == "decimal":
        return Decimal(str(value))
    if kind == "date":
        return date.fromisoformat(str(value)[:10])
    if kind == "bool":
        text = str(value).lower()
        if text not in ("true", "false"):
            raise ValueError(value)
        return text == "true"
    return str(value).lower()


def _matches(op: str, stored: Any, wanted: Any) -> bool:
    if stored is None:
        return op in ("!eq", "!ct")
    if op in ("eq", "!eq"):
        return bool(stored == wanted) == (op == "eq")
    if op in ("ct", "!ct"):
        return (str(wanted) in str(stored)) == (op == "ct")
    return _ORDERED[op](stored, wanted)


Condition = tuple[str, FieldType, str, Any]


def parse_filter(text: str, fields: Mapping[str, FieldType]) -> list[Condition]:
    """The conditions of a `filter` parameter. Raises ApiError (400)."""
    conditions = []
    for part in text.split("|"):
        prop, op, value = [*part.split("~", 2), "", ""][:3]
        if prop not in fields:
            raise _bad("filter", f"The property '{prop}' cannot be filtered.")
        if op not in ("eq", "!eq", "ct", "!ct", *_ORDERED):
            raise _bad("filter", f"Unknown filter operator '{op}'.")
        kind = fields[prop]
        try:
            wanted = _coerce(kind, value)
        except (ValueError, InvalidOperation):
            raise _bad("filter", f"'{value}' is not a valid {kind} for {prop}.") from None
        conditions.append((prop, kind, op, wanted))
    return conditions


def _keep(entity: Mapping[str, Any], conditions: Sequence[Condition], any_of: bool) -> bool:
    if not conditions:
        return True
    results = (
        _matches(op, _coerce(kind, entity.get(prop)), wanted)
        for prop, kind, op, wanted in conditions
    )
    return any(results) if any_of else all(results)


def _sorted(entities: list[dict[str, Any]], text: str, fields: Mapping[str, FieldType]) -> None:
    keys = []
    for part in text.split("|"):
        prop, _, direction = part.partition("~")
        if prop not in fields or direction.lower() not in ("asc", "desc", ""):
            raise _bad("sort", f"Cannot sort by '{part}'.")
        keys.append((prop, direction.lower() == "desc"))
    for prop, descending in reversed(keys):  # stable sorts, last key first
        kind = fields[prop]

        def key(entity: dict[str, Any], prop: str = prop, kind: FieldType = kind) -> Any:
            value = _coerce(kind, entity.get(prop))
            return (value is not None, value if value is not None else 0)

        entities.sort(key=key, reverse=descending)


def _int_param(query: Mapping[str, str], name: str, default: int, high: int | None) -> int:
    try:
        value = int(query.get(name, default))
    except ValueError:
        raise _bad(name, f"{name} must be an integer.") from None
    if value < 1 or (high is not None and value > high):
        raise _bad(name, f"{name} must be between 1 and {high or 'any'}.")
    return value


def select(
    entities: Collection[dict[str, Any]],
    query: Mapping[str, str],
    fields: Mapping[str, FieldType],
) -> dict[str, Any]:
    """The list envelope `{Data, TotalItems, TotalPages}` for `query`. Raises ApiError (400)."""
    page = _int_param(query, "page", 1, None)
    size = _int_param(query, "pagesize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    filtertype = query.get("filtertype", "and").lower()
    if filtertype not in ("and", "or"):
        raise _bad("filtertype", "filtertype must be 'and' or 'or'.")
    conditions = parse_filter(query["filter"], fields) if query.get("filter") else []
    found = [dict(e) for e in entities if _keep(e, conditions, filtertype == "or")]
    _sorted(found, query.get("sort") or "Id~asc", fields)
    pages = -(-len(found) // size)
    return {
        "Data": found[(page - 1) * size : page * size],
        "TotalItems": len(found),
        "TotalPages": pages,
    }
