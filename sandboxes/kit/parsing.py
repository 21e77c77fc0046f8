"""Reading an API request, alike in every sandbox: JSON or form bodies, and bearer tokens."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

_FORM = "application/x-www-form-urlencoded"


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    items = {key: _listify(item) for key, item in value.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def unflatten_form(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """`items[0][description]=x` form fields as nested JSON (digit keys become lists)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, tail = key.partition("[")
        parts = [head, *re.findall(r"\[([^\]]*)\]", "[" + tail)] if tail else [head]
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1] or str(len(node))] = value
    return {key: _listify(item) for key, item in root.items()}


def parse_body(content_type: str, raw: bytes) -> dict[str, Any] | None:
    """A request body as a dict (JSON, or a form); None when it is neither."""
    if not raw.strip():
        return {}
    if content_type == _FORM or (
        content_type != "application/json" and not raw.lstrip().startswith(b"{")
    ):
        try:
            return unflatten_form(parse_qsl(raw.decode(), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def bearer(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if there is one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
