"""Reading webhook bodies, shared by every source: JSON with exact numbers, headers in any
casing, and 422s that name the bad field without echoing its value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from handlers.errors import InvalidPayload, MalformedBody
from worker.domain.money import parse_amount

_Model = TypeVar("_Model", bound=BaseModel)


def header(headers: Mapping[str, str], *names: str) -> str | None:
    """The first of `names` present (any casing), stripped; a blank value counts as missing."""
    found = {key.lower(): value.strip() for key, value in headers.items()}
    return next((found[name.lower()] for name in names if found.get(name.lower())), None)


def load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; every non-integer number is read as a Decimal, never a float.

    Raises `MalformedBody` when it is not UTF-8 JSON or not an object."""
    try:
        document = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=Decimal)
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"body is not JSON ({exc.msg} at {exc.lineno}:{exc.colno})") from None
    except (ValueError, RecursionError):  # not UTF-8, a too long integer, nesting too deep
        raise MalformedBody("body is not UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise MalformedBody("body is not a JSON object")
    return document


def read_amount(value: object) -> Decimal:
    """A pydantic `BeforeValidator` for money: exact Decimal, and an error that echoes nothing."""
    try:
        return parse_amount(value)
    except ValueError:
        raise ValueError("not an amount") from None  # parse_amount's message echoes the value


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
