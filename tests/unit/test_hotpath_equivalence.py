"""The hot-path optimisations of BENCHMARKS.md change speed, never output: each fast path is
compared with the straightforward code it replaced."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import ValidationError

from handlers.errors import MalformedHeader
from handlers.inbound import header
from handlers.sources import woocommerce
from worker.domain.amount_bounds import WIDE_CONTEXT, refuse_large
from worker.domain.events import Line
from worker.domain.idempotency import _digest
from worker.domain.money import (
    MAX_MINOR_UNITS,
    bounded,
    exponent,
    parse_amount,
    quantum,
    read_amount,
)
from worker.domain.redaction import _redact_item, redact, redact_text, scrub
from worker.providers.idoklad.wire import PriceType, dumps, item_amounts

_TEXT = st.text(alphabet=st.sampled_from("0123456789 -=_/.:abeBEARwhsc\u0663é\n"), max_size=60)
_SECRETY = st.sampled_from(
    [
        "4111 1111 1111 1111",
        "5500-0000-0000-0004",
        "Bearer ab.c",
        "bEaReR\tx",
        "whsec_QUJD",
        "TOKEN=abc&x=1",
        "sid=9",
    ]
)


@given(st.lists(st.one_of(_TEXT, _SECRETY), max_size=5).map(" ".join))
def test_redact_text_shortcut_gives_what_every_substitution_gives(text: str) -> None:
    assert redact_text(text) == scrub(text)


_KEYS = st.one_of(st.sampled_from(["event", "TOKEN", "order_id", "path", "Password", "n"]), _TEXT)
_LOG_VALUES = st.one_of(
    _TEXT, _SECRETY, st.none(), st.integers(), st.floats(allow_nan=False), st.lists(_TEXT)
)


@given(st.dictionaries(_KEYS, _LOG_VALUES, max_size=8))
def test_redacting_a_mapping_all_at_once_gives_what_each_value_gives(
    event: dict[str, Any],
) -> None:
    """A log event whose values need nothing is returned as it is, after one check of all
    its strings; the value-by-value walk is the reference."""
    by_value = {key: _redact_item(str(key).lower(), item) for key, item in event.items()}
    assert redact(event) == by_value


def _reference_dumps(value: Any) -> str:
    """iDoklad's `dumps` as it was: a string per level, json.dumps per string."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        pairs = (f"{json.dumps(str(k))}:{_reference_dumps(v)}" for k, v in value.items())
        return "{" + ",".join(pairs) + "}"
    return "[" + ",".join(_reference_dumps(item) for item in value) + "]"


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(list(PriceType)),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.text(max_size=8),
)
_CONTAINERS = (
    st.lists,
    lambda inner: st.tuples(inner, inner),
    lambda inner: st.dictionaries(st.one_of(st.text(max_size=4), st.integers()), inner),
)
_JSON = st.recursive(
    _SCALARS, lambda inner: st.one_of(*(make(inner) for make in _CONTAINERS)), max_leaves=20
)


@given(_JSON)
def test_idoklad_dumps_is_byte_identical_to_the_old_writer(value: Any) -> None:
    assert dumps(value) == _reference_dumps(value)


@pytest.mark.parametrize("bad", [1.5, Decimal("NaN"), [Decimal("-Infinity")], {"a": object()}])
def test_idoklad_dumps_still_refuses_what_it_cannot_write_exactly(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        dumps(bad)


def test_idoklad_totals_still_refuse_unknown_price_and_vat_types() -> None:
    item = {"Amount": Decimal(1), "UnitPrice": Decimal("10.00"), "PriceType": 1}
    assert item_amounts(item, "CZK").total == Decimal("12.10")  # Basic 21 % when none is given
    with pytest.raises(ValueError, match="not a valid PriceType"):
        item_amounts({**item, "PriceType": 7}, "CZK")
    with pytest.raises(ValueError, match="not a valid VatRateType"):
        item_amounts({**item, "VatRateType": 9}, "CZK")


class _Fee:
    def __init__(self, total: str, total_tax: str) -> None:
        self.total, self.total_tax = Decimal(total), Decimal(total_tax)


def _copy_every_line(items: list[Line], fees: list[_Fee]) -> list[Line]:
    """WooCommerce `_absorb` as it was: every item line copied with its share of the credit."""
    credit = -sum((fee.total for fee in fees), Decimal(0))
    credit_tax = -sum((fee.total_tax for fee in fees), Decimal(0))
    result, net = list(items), [line.unit_price * line.quantity - line.discount for line in items]
    for n in sorted(range(len(items)), key=lambda i: -net[i]):
        line = result[n]
        take, take_tax = min(net[n], credit), min(line.tax, credit_tax)
        update = {"discount": line.discount + take, "tax": line.tax - take_tax}
        result[n] = line.model_copy(update=update)
        credit, credit_tax = credit - take, credit_tax - take_tax
    return result


def _line(price: str, quantity: int = 1, discount: str = "0", tax: str = "0.00") -> Line:
    return Line(
        description="Mug",
        quantity=Decimal(quantity),
        unit_price=Decimal(price),
        discount=Decimal(discount),
        tax=Decimal(tax),
    )


@pytest.mark.parametrize("fees", [[], [_Fee("-10.00", "-1.70")], [_Fee("-60.00", "0.00")]])
def test_woocommerce_credit_spreading_is_unchanged_to_the_exponent(fees: list[_Fee]) -> None:
    """A free line, an exhausted credit (0.00 taken) and no credit at all: each line dumps
    exactly as when every line was copied."""
    items = [_line("0.00", 3), _line("50.00", 1, "0.63", "8.50"), _line("10", 2, tax="3.40")]
    fast = woocommerce._absorb(items, fees)  # type: ignore[arg-type]
    assert [line.model_dump_json() for line in fast] == [
        line.model_dump_json() for line in _copy_every_line(items, fees)
    ]


def test_money_shortcuts_keep_values_and_exponents() -> None:
    assert quantum("ILS") == Decimal("0.01") and quantum("jpy") == Decimal(1)
    assert str(quantum("BHD")) == "0.001" and quantum("ILS") is quantum("ILS")
    amount = Decimal("12.500")
    assert parse_amount(amount) is amount and str(parse_amount("12.500")) == "12.500"
    with pytest.raises(ValueError, match="not an amount"):
        parse_amount(Decimal("NaN"))


_HEADER_NAMES = st.sampled_from(["X-Topic", "x-topic", "X-TOPIC", "Topic", "x-event-id", "Other"])
_HEADER_VALUES = st.sampled_from(["", "  ", "orders/paid", " e1 ", "\udcff", "b"])


@given(
    st.dictionaries(_HEADER_NAMES, _HEADER_VALUES, max_size=6),
    st.lists(st.sampled_from(["X-Topic", "Topic", "X-Event-Id"]), min_size=1, max_size=3),
)
def test_a_requests_headers_are_read_as_any_mapping_is(
    pairs: dict[str, str], names: list[str]
) -> None:
    """aiohttp's case-insensitive multidict is looked up directly; a plain mapping (a kept
    delivery's headers) is walked. Both give the same value, or the same refusal."""
    outcomes = []
    for headers in (pairs, CIMultiDictProxy(CIMultiDict(pairs))):
        try:
            outcomes.append(header(headers, *names))
        except MalformedHeader as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


_AMOUNT_TEXT = st.one_of(
    st.from_regex(r"-?[0-9]{1,17}(\.[0-9]{0,14})?", fullmatch=True),
    st.text(alphabet=st.sampled_from("0123456789.-+eE _\u0663"), max_size=20),
)


@given(_AMOUNT_TEXT)
def test_a_plain_amount_is_read_as_parse_and_bound_read_it(text: str) -> None:
    """`read_amount` takes an amount written with few enough digits as it is; the reference is
    `parse_amount` then `bounded`, the same value (exponent included) or the same refusal."""
    try:
        expected: Decimal | str = bounded(parse_amount(text))
    except ValueError as exc:
        expected = str(exc)
    try:
        found: Decimal | str = read_amount(text)
    except ValueError as exc:
        found = str(exc)
    assert str(found) == str(expected)


@given(
    st.decimals(min_value=-(10**16), max_value=10**16, places=3, allow_nan=False),
    st.sampled_from(["ILS", "JPY", "BHD", "EUR", "CLF"]),
)
def test_the_amount_bound_is_the_smallest_units_bound(amount: Decimal, currency: str) -> None:
    """`refuse_large` compares each amount with the bound in the currency's whole units; the
    reference scales each amount to smallest units, exactly."""
    over = abs(WIDE_CONTEXT.scaleb(amount, exponent(currency))) > MAX_MINOR_UNITS
    try:
        refuse_large(currency, [(("total",), amount)])
    except ValidationError:
        assert over
    else:
        assert not over


_ID_PART = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@given(st.lists(_ID_PART, min_size=1, max_size=4), st.integers(1, 52))
def test_ids_are_the_base32_of_the_whole_digest(parts: list[str], length: int) -> None:
    """`_digest` encodes only the blocks its characters come from; the reference encodes the
    whole SHA-256 digest (ids already in a ledger must not change)."""
    raw = hashlib.sha256("\x1f".join(parts).encode()).digest()
    whole = base64.b32encode(raw).decode().rstrip("=").lower()[:length]
    assert _digest(*parts, length=length) == whole
