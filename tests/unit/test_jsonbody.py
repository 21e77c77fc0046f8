"""`load_object` reads with msgspec and falls back to the standard library's `json` for what
msgspec refuses: it must read every body exactly as `json` alone did (`load_slowly`), value
for value and type for type, and refuse every body `json` refuses with the same detail."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.errors import MalformedBody
from handlers.sources.jsonbody import load_object, load_slowly
from invoicebridge.loadgen.payloads import order_lines, shopify_delivery
from tests.orders import leaves


def _outcome(read: Any, body: bytes) -> str:
    """What reading `body` gives, written out with every type (`repr`: 1 and Decimal("1"), or
    Decimal("1.0") and Decimal("1.00"), compare equal but read differently)."""
    try:
        return repr(read(body))
    except MalformedBody as exc:
        return f"refused: {exc.detail}"


def _as_object(body: bytes) -> Any:
    found = load_slowly(body)
    if not isinstance(found, dict):
        raise MalformedBody("body is not a JSON object")
    return found


def _same(body: bytes) -> None:
    assert _outcome(load_object, body) == _outcome(_as_object, body)


_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 3, max_value=2**64 + 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, st.text())
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(), inner)),
    max_leaves=20,
)


@given(_VALUES, st.booleans(), st.sampled_from([None, 1]))
def test_every_json_text_reads_as_json_reads_it(value: Any, ascii_only: bool, indent: Any) -> None:
    """Whatever a JSON encoder writes (NaN and Infinity included, which `json` writes and
    msgspec refuses; lone surrogates, written as escapes): objects and other values alike."""
    for document in (value, {"v": value}):
        text = json.dumps(document, ensure_ascii=ascii_only, indent=indent)
        _same(text.encode("utf-8", "surrogatepass"))


@given(st.binary(max_size=40), st.integers(min_value=0, max_value=60))
def test_a_damaged_body_is_refused_or_read_as_json_reads_it(noise: bytes, at: int) -> None:
    body = json.dumps({"id": 820982911946154508, "total": "59.90", "n": [1.5, "é"]}).encode()
    _same(body[:at] + noise + body[at:])


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": NaN, "b": -Infinity}',
        b'{"a": "\\ud800"}',
        b'{"a": 1' + b"0" * 5000 + b"}",  # past int's digit limit: both refuse
        b'{"a": 1.' + b"0" * 5000 + b"}",
        b'{"a": 1e400, "b": -0.0, "c": -0}',
        b'{"a": 18446744073709551616, "b": -9223372036854775809}',
        b'{"a": 1, "a": 2}',
        b"\xef\xbb\xbf{}",
        b'{"a": "\xed\xa0\x80"}',  # a surrogate in UTF-8: not UTF-8
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":\x0c1}',
        b"[1, 2]",
        b"",
        b'{"a": 1e1000000000000000000, "b": 1e-99999999999999999999}',  # past Decimal's range
    ],
)
def test_the_cases_msgspec_and_json_part_on(body: bytes) -> None:
    _same(body)


def test_an_exponent_past_decimals_range_is_refused_by_name() -> None:
    with pytest.raises(MalformedBody, match="exponent is out of range"):
        load_object(b'{"total": 1e1000000000000000000}')


def test_a_platform_order_reads_the_same_and_its_amounts_stay_exact() -> None:
    body = shopify_delivery(7, order_lines(7, 50), "acme", "secret").body
    _same(body)
    assert not any(isinstance(leaf, float) for leaf in leaves(load_object(body)))


def test_fractions_are_decimals_not_floats() -> None:
    document = load_object(b'{"price": 0.1, "big": 1e400, "n": 3}')
    assert document["price"] == Decimal("0.1") and isinstance(document["price"], Decimal)
    assert document["big"].is_infinite() and type(document["n"]) is int
