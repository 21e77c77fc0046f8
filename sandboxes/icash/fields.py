"""What a method accepts: each documented field with its type, checked before any work.

A method's schema maps field → `Spec`. `check_fields` refuses, in this order, a field the
method does not document ("Wrong value for X: not a field of <method>"; the auth fields
are allowed everywhere), a missing required one ("Missing value for X"), then a value of
the wrong type, length or precision ("Wrong value for X: why"). An empty value counts as
absent. List methods share `PAGING` (sort, order, offset, count ≤ 100).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandboxes.icash.models import Refusal

#: sent with every call (signature, session), allowed on every method
AUTH_FIELDS = frozenset({"api_key", "nonce", "signature", "WareHouseID", "UserID", "ses"})
Parse = Callable[[str, str], Any]  #: (field name, stripped text) → value, or a Refusal


@dataclass(frozen=True)
class Spec:
    parse: Parse
    required: bool = False
    default: Any = None


def req(parse: Parse) -> Spec:
    return Spec(parse, required=True)


def opt(parse: Parse, default: Any = None) -> Spec:
    return Spec(parse, default=default)


def wrong(name: str, why: str = "") -> Refusal:
    return Refusal(f"Wrong value for {name}: {why}" if why else f"Wrong value for {name}")


def text(limit: int) -> Parse:
    def parse(name: str, value: str) -> str:
        if len(value) > limit:
            raise wrong(name, f"at most {limit} characters")
        return value

    return parse


def integer(low: int = 0, high: int | None = None) -> Parse:
    def parse(name: str, value: str) -> int:
        if not (value.isascii() and value.isdigit()):
            raise wrong(name, "not an integer")
        number = int(value)
        if number < low or (high is not None and number > high):
            limit = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise wrong(name, limit)
        return number

    return parse


def enum(*choices: str) -> Parse:
    def parse(name: str, value: str) -> str:
        if value not in choices:
            raise wrong(name, f"one of {', '.join(choices)}")
        return value

    return parse


def set_of(*choices: str) -> Parse:
    """SET(...): comma-separated values, each one of `choices`."""

    def parse(name: str, value: str) -> frozenset[str]:
        items = [item.strip() for item in value.split(",")]
        if not all(item in choices for item in items):
            raise wrong(name, f"comma-separated values of {', '.join(choices)}")
        return frozenset(items)

    return parse


def decimal(
    precision: int, scale: int, low: Decimal, *, low_open: bool = False, high: Decimal | None = None
) -> Parse:
    """DECIMAL(precision, scale): at most `scale` decimals and `precision - scale` digits before
    the point; at least `low` (more than it when `low_open`), at most `high`."""
    ceiling = Decimal(10) ** (precision - scale)

    def parse(name: str, value: str) -> Decimal:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise wrong(name, "not a decimal number") from None
        if not number.is_finite() or "e" in value.lower():
            raise wrong(name, "not a decimal number")
        if number != number.quantize(Decimal(1).scaleb(-scale)):
            raise wrong(name, f"at most {scale} decimal places")
        if abs(number) >= ceiling:
            raise wrong(name, f"DECIMAL({precision},{scale}) holds less than {ceiling}")
        if number < low or (low_open and number == low):
            raise wrong(name, f"must be {'more than' if low_open else 'at least'} {low}")
        if high is not None and number > high:
            raise wrong(name, f"at most {high}")
        return number

    return parse


def pattern(regex: str, hint: str) -> Parse:
    compiled = re.compile(regex)

    def parse(name: str, value: str) -> str:
        if not compiled.fullmatch(value):
            raise wrong(name, hint)
        return value

    return parse


def timestamp(form: str, hint: str) -> Parse:
    """A date or time written as `form` (strptime), kept as text."""

    def parse(name: str, value: str) -> str:
        try:
            datetime.strptime(value, form)
        except ValueError:
            raise wrong(name, f"expected {hint}") from None
        return value

    return parse


def iso_date(name: str, value: str) -> str:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise wrong(name, "expected YYYY-MM-DD")


DATETIME = timestamp("%Y-%m-%d %H:%M:%S", "YYYY-MM-DD HH:mm:ss")
#: shared by every list method
PAGING: dict[str, Spec] = {
    "sort": opt(text(64)),
    "order": opt(enum("ASC", "DESC"), "ASC"),
    "offset": opt(integer(), 0),
    "count": opt(integer(1, 100), 10),
}


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def check_fields(
    method: str, schema: Mapping[str, Spec], body: Mapping[str, Any]
) -> dict[str, Any]:
    """The body's documented fields, parsed, with defaults for the absent optional ones.

    Raises:
        Refusal: an undocumented field, a missing required one, or a bad value.
    """
    for key in body:
        if key not in schema and key not in AUTH_FIELDS:
            raise wrong(key, f"not a field of {method}")
    for name, spec in schema.items():
        if spec.required and not _present(body.get(name)):
            raise Refusal(f"Missing value for {name}")
    values: dict[str, Any] = {}
    for name, spec in schema.items():
        raw = body.get(name)
        if not _present(raw):
            values[name] = spec.default
        elif isinstance(raw, Mapping | list | bool):
            raise wrong(name, "not a single value")
        else:
            values[name] = spec.parse(name, str(raw).strip())
    return values


def page(
    rows: Sequence[dict[str, Any]], values: Mapping[str, Any], sortable: Collection[str]
) -> dict[str, Any]:
    """`{TotalRecords, Data}`: `rows` sorted by `sort` (one of `sortable`, the answer's
    fields) and `order`, then `offset`/`count`."""
    ordered = list(rows)
    sort = values.get("sort")
    if sort:
        if sort not in sortable:
            raise wrong("sort", "not a field of the answer")
        ordered.sort(key=lambda row: _sort_key(row.get(sort)))
    if values.get("order") == "DESC":
        ordered.reverse()
    offset, count = values["offset"], values["count"]
    return {"TotalRecords": len(ordered), "Data": ordered[offset : offset + count]}


def _sort_key(value: object) -> tuple[int, Any]:
    if isinstance(value, int | Decimal):
        return (0, Decimal(value))
    text_value = "" if value is None else str(value)
    if re.fullmatch(r"-?\d+(\.\d+)?", text_value):
        return (0, Decimal(text_value))
    return (1, text_value)
