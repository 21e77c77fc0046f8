"""Reading webhook bodies, shared by every source: JSON with exact numbers, headers in any
casing, and 422s that name the bad field without echoing its value."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

import msgspec
from pydantic import BaseModel, BeforeValidator, ValidationError

from handlers.errors import InvalidPayload, MalformedBody
from handlers.inbound import header as header  # the one defensive header accessor
from worker.domain import money

_Model = TypeVar("_Model", bound=BaseModel)
#: a JSON number whose size is beyond 10^this is read as infinite: every model refuses it
#: then, by name, at once (turned into an int, `1e999999999` would be a billion digits)
_MAX_ADJUSTED = 100


def _number(text: str) -> Decimal:
    """A JSON number with a fraction or an exponent, exactly; an absurdly large one as ±inf.

    Raises `MalformedBody` for an exponent past what a Decimal holds (10^±999999999999999999)."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise MalformedBody("body is not JSON (a number's exponent is out of range)") from None
    return number if number.adjusted() <= _MAX_ADJUSTED else Decimal("Infinity").copy_sign(number)


#: msgspec's JSON reader, numbers as `_number` reads them, at about twice the speed of `json`:
#: what it reads, it reads as `json` does (tests/unit/test_jsonbody.py holds the two equal),
#: but for nesting, which it reads a few levels deeper than `json`'s recursion (both refuse
#: past about a thousand levels)
_FAST = msgspec.json.Decoder(float_hook=_number)


def load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; every non-integer number is read as a Decimal, never a float
    (beyond 10^100 as infinite, which no model takes).

    Raises `MalformedBody` when it is not UTF-8 JSON or not an object."""
    try:
        document = _FAST.decode(body)
    except (msgspec.DecodeError, RecursionError):
        # what json reads and msgspec refuses (NaN, Infinity, a lone surrogate's escape, an
        # int of 4,300 digits), or what neither reads: json then says where it fails
        document = load_slowly(body)
    if not isinstance(document, dict):
        raise MalformedBody("body is not a JSON object")
    return document


def load_slowly(body: bytes) -> Any:
    """`body` read by the standard library's `json`, numbers as `load_object` reads them: the
    reference `_FAST` is held to, and the reader of what `_FAST` refuses.

    Raises `MalformedBody` when it is not UTF-8 JSON."""
    try:
        return json.loads(body.decode("utf-8"), parse_float=_number, parse_constant=Decimal)
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"body is not JSON ({exc.msg} at {exc.lineno}:{exc.colno})") from None
    except (ValueError, RecursionError):  # not UTF-8, a too long integer, nesting too deep
        raise MalformedBody("body is not UTF-8 JSON") from None


def read_amount(value: object) -> Decimal:
    """A pydantic `BeforeValidator` for money: exact Decimal from ASCII digits, within
    `money.MAX_AMOUNT` and `MAX_PLACES` (so no source's arithmetic can overflow), and an
    error that echoes nothing."""
    return money.read_amount(value)  # its messages never hold the value


def _whole_number(value: object) -> object:
    """Text for a whole number must be ASCII digits: pydantic's lax int would read "1_0" as 10
    and " 5 " as 5. Numbers (and integral Decimals) go on to pydantic's own int check."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise ValueError("not a whole number written in ASCII digits")
    return value


#: a count (a line's quantity) as the sources read it: an int, or ASCII digit text
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


def validate(model: type[_Model], document: object, prefix: str = "") -> _Model:
    """`document` as `model`; raises `InvalidPayload` naming the bad fields."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise invalid(exc, prefix) from None


def invalid(exc: ValidationError, prefix: str = "") -> InvalidPayload:
    """A 422 naming each bad field's path; pydantic's input echo is left out."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:  # enough to fix a payload
        path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        message = "missing" if error["type"] == "missing" else error["msg"]
        problems.append(f"{path or 'body'}: {message.removeprefix('Value error, ')}")
    return InvalidPayload("; ".join(problems))
