"""Reading what a request carries, defensively: headers and query parameters.

aiohttp decodes header bytes and the request target as UTF-8 with `surrogateescape`, so a
byte that is not UTF-8 arrives as a lone surrogate, and the first `.encode()` further on
(an HMAC, a Redis key, a log line) would fail as a 500. Every header and query value the
receiver and the admin API read goes through here instead, and a value that is not text is
refused with a problem naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from multidict import CIMultiDict, CIMultiDictProxy

from handlers.errors import InboundError, InvalidPayload, MalformedHeader, MalformedQuery

#: the most digits a query number may have: enough for any bound we check, and int() of a
#: 5,000-digit string is never attempted
MAX_DIGITS = 9


def is_text(value: str) -> bool:
    """Whether `value` encodes as UTF-8: no lone surrogate (an undecodable byte) in it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def header(
    headers: Mapping[str, str], *names: str, invalid: type[InboundError] = MalformedHeader
) -> str | None:
    """The first of `names` present (any casing), stripped; a blank value counts as missing.

    Raises:
        `invalid` (MalformedHeader, 400, unless the caller names a 401 for a credential):
            the value found holds bytes that are not UTF-8; the detail names the header.
    """
    for name in names:
        value = _first_filled(headers, name)
        if value is not None:
            if not is_text(value):
                raise invalid(f"the {name} header is not UTF-8 text")
            return value
    return None


def _first_filled(headers: Mapping[str, str], name: str) -> str | None:
    """The first non-blank value of header `name` (any casing), stripped. A request's
    headers (a case-insensitive multidict) are looked up directly; any other mapping is
    walked."""
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        values: Iterable[str] = headers.getall(name, ())
    else:
        lowered = name.lower()
        values = (value for key, value in headers.items() if key.lower() == lowered)
    return next((value.strip() for value in values if value.strip()), None)


def query_text(query: Mapping[str, str], name: str) -> str | None:
    """Query parameter `name`, stripped (blank is missing); raises `MalformedQuery` if it is
    not text."""
    value = query.get(name, "").strip()
    if not is_text(value):
        raise MalformedQuery(f"{name}: not UTF-8 text")
    return value or None


def query_int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """Query parameter `name` as a whole number from `low` to `high`.

    Raises:
        MalformedQuery (400): not ASCII digits (`str.isdigit` takes "²" and Arabic-Indic
            digits, `int()` a 5,000-digit string only slowly), or more than `MAX_DIGITS`.
        InvalidPayload (422): a number, but out of range.
    """
    text = query_text(query, name)
    if text is None:
        return default
    wanted = f"{name}: a whole number from {low} to {high}"
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS):
        raise MalformedQuery(wanted)
    if not low <= int(text) <= high:
        raise InvalidPayload(wanted)
    return int(text)
