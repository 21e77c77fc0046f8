"""iDoklad's JSON, without floats: amounts written from and read into `Decimal` exactly."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any, NoReturn


def dumps(value: object) -> str:
    """JSON text with `Decimal` written as a plain number; floats are refused (TypeError)."""
    out: list[str] = []
    _dump(value, out)
    return "".join(out)


def _dump(value: object, out: list[str]) -> None:
    """Append `value`'s JSON to `out` (one join, not one per level); strings go through the C
    encoders `json.dumps` itself uses, without building an encoder per string."""
    if isinstance(value, str):
        out.append(encode_basestring(value))  # = json.dumps(value, ensure_ascii=False)
    elif value is None or isinstance(value, bool):
        out.append({None: "null", True: "true", False: "false"}[value])
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value}")
        out.append(f"{value:f}")
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):  # keys as json.dumps(str(key))
            out.append(("," if index else "") + encode_basestring_ascii(str(key)) + ":")
            _dump(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            out.append("," if index else "")
            _dump(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as iDoklad JSON")


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def loads(raw: bytes | str) -> Any:
    """Parse JSON with every non-integer number as `Decimal`. Raises ValueError."""
    return json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
