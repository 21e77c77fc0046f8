"""Free text in the canonical models: card numbers masked to their last four, NFC, no control
or bidi characters, no lone surrogates, capped, stream-safe; identifiers cleaned, and masked,
refused or kept by their use (#15)."""

from __future__ import annotations

import json
import time
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.orders import icount_body
from worker.domain.events import Customer, Line, Order, Refund
from worker.domain.redaction import CARD_SEPARATORS, mask_card_numbers, redact_text
from worker.domain.text import NOTE_MAX, clean_identifier, clean_text

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VISA = "4111111111111111"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _luhn(digits: str) -> bool:
    total = 0
    for place, char in enumerate(reversed(digits)):
        value = int(char) * (1 + place % 2)
        total += value // 10 + value % 10
    return total % 10 == 0


def card_runs(text: str) -> list[str]:
    """Every Luhn-valid run of 13-19 digits in `text` (1-3 separators allowed between two
    digits, no digit touching either end), found by walking the text: an independent
    definition of what `mask_card_numbers` must leave none of."""
    found = []
    for start, char in enumerate(text):
        if not char.isdecimal() or (start and text[start - 1].isdecimal()):
            continue
        digits, at = "", start
        while at < len(text) and len(digits) <= 19:
            digits += text[at]
            at += 1
            if at == len(text) or not text[at].isdecimal():
                if 13 <= len(digits) <= 19 and _luhn(digits):
                    found.append(digits)
                gap = at
                while gap < len(text) and gap - at < 3 and text[gap] in CARD_SEPARATORS:
                    gap += 1
                if gap == at or gap == len(text) or not text[gap].isdecimal():
                    break
                at = gap
    return found


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number of 13-19 digits."""
    body = draw(st.text(alphabet="0123456789", min_size=12, max_size=18))
    return next(body + check for check in "0123456789" if _luhn(body + check))


@st.composite
def written(draw: st.DrawFn, number: str) -> str:
    """`number` as a person might type it: groups split by 1-3 spaces or dashes, or none."""
    out = number[0]
    for digit in number[1:]:
        gap = draw(st.sampled_from(["", "", "", " ", "-", " - ", "\u00a0", "\u2013"]))
        out += gap + digit
    return out


#: filler that never touches a card: no digits, no separators at its ends
_WORDS = st.text(alphabet=st.sampled_from("abc xyZ.,:;!?()\nשלוםé\u0301ü"), max_size=12).map(
    lambda words: f"|{words}|"
)
#: anything at all, hostile characters made likely
_ANY = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(["\ud800", "\udfff", "\x00", "\x85", "\r", "\n", "\t", "\u2028", *BIDI]),
        st.sampled_from(list("0123456789 -")),
    ),
    max_size=40,
)


@st.composite
def texts_with_cards(draw: st.DrawFn, filler: st.SearchStrategy[str]) -> tuple[str, list[str]]:
    numbers = draw(st.lists(card_numbers(), min_size=1, max_size=4))
    parts = [draw(filler)]
    for number in numbers:
        parts += [draw(written(number)), draw(filler)]
    return "".join(parts), numbers


def _plain_ok(text: str, multiline: bool) -> bool:
    """NFC, encodable, and no control, bidi or surrogate character (but \\n and \\t if allowed)."""
    allowed = "\n\t" if multiline else ""
    return (
        unicodedata.is_normalized("NFC", text)
        and not any(c in BIDI for c in text)
        and all(c in allowed or unicodedata.category(c) not in ("Cc", "Cs") for c in text)
        and text.encode("utf-8") is not None
    )


@PROPERTY
@given(texts_with_cards(_WORDS), st.booleans())
def test_every_card_number_is_masked_to_its_last_four(
    case: tuple[str, list[str]], multiline: bool
) -> None:
    """Luhn-valid numbers written any way, among words: none survives, each keeps its last
    four in the mask, and cleaning again changes nothing."""
    text, numbers = case
    cleaned = clean_text(text, 10_000, multiline=multiline)
    assert card_runs(cleaned) == []
    for number in numbers:
        assert f"[card …{number[-4:]}]" in cleaned
    assert clean_text(cleaned, 10_000, multiline=multiline) == cleaned


@PROPERTY
@given(st.text(alphabet=st.sampled_from("0123456789 -abc.é\u0301\u00a0"), max_size=80))
def test_text_without_card_numbers_is_only_normalised(text: str) -> None:
    """No Luhn-valid run: the text comes back NFC and stripped, digits and all."""
    expected = unicodedata.normalize("NFC", text).strip()
    if card_runs(expected):
        expected = mask_card_numbers(expected)
    assert clean_text(text, 10_000) == expected
    if not card_runs(unicodedata.normalize("NFC", text)):
        assert clean_text(text, 10_000) == unicodedata.normalize("NFC", text).strip()


@PROPERTY
@given(texts_with_cards(_ANY), st.integers(1, 120), st.booleans())
def test_hostile_text_is_clean_capped_and_idempotent(
    case: tuple[str, list[str]], limit: int, multiline: bool
) -> None:
    """Whatever comes in (lone surrogates, NUL, bidi overrides, combining marks, cards cut by
    the cap): at most `limit` characters, NFC, encodable, no card run; cleaning is idempotent."""
    text, _ = case
    cleaned = clean_text(text, limit, multiline=multiline)
    assert len(cleaned) <= limit
    assert _plain_ok(cleaned, multiline)
    assert card_runs(cleaned) == []
    assert clean_text(cleaned, limit, multiline=multiline) == cleaned


@PROPERTY
@given(_ANY)
def test_identifiers_are_cleaned_but_never_masked(text: str) -> None:
    """An id keeps its digits (a shop's order id can look like a card) but loses what cannot
    be stored or shown safely; cleaning is idempotent."""
    cleaned = clean_identifier(text + VISA)
    assert cleaned.endswith(VISA) and _plain_ok(cleaned, multiline=False)
    assert clean_identifier(cleaned) == cleaned


def test_the_log_scrubber_masks_the_same_way() -> None:
    """One mask for logs and stored text; a run the old greedy pattern let through is caught."""
    assert redact_text(f"card {VISA} 5") == "card [card …1111] 5"
    assert mask_card_numbers("4111 1111 1111 1111 5") == "[card …1111] 5"
    assert mask_card_numbers("٤١١١١١١١١١١١١١١١") == "[card …1111]"  # Arabic-Indic digits
    assert mask_card_numbers("order 820982911946154507") == "order 820982911946154507"


def test_hostile_digit_runs_are_masked_in_linear_time() -> None:
    """100 KB of single-digit groups (seven candidate stretches each) takes a fraction of a
    second: a stretch's Luhn sum is O(1) from prefix sums."""
    started = time.perf_counter()
    assert mask_card_numbers("1 " * 50_000) == "1 " * 50_000
    assert time.perf_counter() - started < 2


# --- the models ----------------------------------------------------------------------------


def _order(**changes: object) -> Order:
    fields: dict[str, object] = {
        "order_id": "4111111111111111",
        "number": "#1001",
        "currency": "ILS",
        "prices_include_tax": True,
        "total": "117.00",
        "paid": True,
        "payment": {"gateway": "shopify_payments", "kind": "card", "transaction_id": "AUTH-1"},
        "created_at": datetime(2024, 5, 1, tzinfo=UTC),
        "customer": {"name": "Dana Levi", "phone": "+972 50 123 4567"},
        "lines": [
            {
                "description": f"Gift card for {VISA}",
                "quantity": "1",
                "unit_price": "117.00",
                "tax_rate": "17",
            }
        ],
        "note": "pay with 4111-1111-1111-1111\nthanks \u202eevil\x00\ud800",
    }
    return Order.model_validate(fields | changes)


def test_every_free_text_field_is_masked_and_cleaned_as_the_order_is_built() -> None:
    """Names, notes, addresses, descriptions, reasons: masked, cleaned; ids are kept."""
    order = _order(
        customer={
            "name": f"Dana {VISA}",
            "company": f"Acme {VISA}",
            "address": f"Street 1\n{VISA}",
            "city": VISA,
            "phone": VISA,
            "email": f"{VISA}@example.com",
            "vat_id": VISA,
            "postcode": VISA,
            "country": VISA,
        }
    )
    dumped = order.model_dump_json()
    assert card_runs(dumped.replace(order.order_id, "")) == []
    assert order.order_id == VISA  # an identifier: never masked
    assert order.note == "pay with [card …1111]\nthanks evil\ufffd"
    assert order.customer.address == "Street 1\n[card …1111]"
    refund = Refund(refund_id="r1", amount=Decimal(1), currency="ils", reason=f"refund {VISA}")
    assert refund.reason == "refund [card …1111]" and refund.currency == "ILS"


def test_card_numbers_in_identifiers_are_masked_refused_or_kept_by_their_use() -> None:
    """Shown only (the order number, a SKU): masked. Billed through (a charge's customer
    reference): refused, naming the field. Keys (order, refund and delivery ids): kept."""
    line = {"description": "x", "quantity": "1", "unit_price": "117.00", "sku": f"SKU-{VISA}"}
    order = _order(number=f"#{VISA}", lines=[line])
    assert (order.number, order.lines[0].sku) == ("#[card …1111]", "SKU-[card …1111]")
    assert order.order_id == VISA
    with pytest.raises(ValidationError) as caught:
        _order(paid=False, charge={"customer_ref": "4111 1111 1111 1111"})
    assert [error["loc"] for error in caught.value.errors()] == [("charge", "customer_ref")]
    assert _order(paid=False, charge={"customer_ref": "4111111111111112"}).charge is not None
    refund = Refund(refund_id=VISA, amount=Decimal(1), currency="ILS")
    assert refund.refund_id == VISA


def test_caps_hold_and_a_cut_ends_in_an_ellipsis() -> None:
    """A long name and note are cut to their caps; 200 KB of either, and an over-long
    identifier, are refused, naming the field."""
    order = _order(customer={"name": "x" * 2_000}, note="y" * 20_000)
    assert len(order.customer.name) == 200 and order.customer.name.endswith("…")
    assert order.note is not None and len(order.note) == NOTE_MAX
    with pytest.raises(ValidationError, match=r"customer\.name\n.*longer than 2000 characters"):
        _order(customer={"name": "x" * 200_000})
    with pytest.raises(ValidationError, match=r"note\n.*longer than 20000 characters"):
        _order(note="y" * 200_000)
    with pytest.raises(ValidationError, match="order_id"):
        _order(order_id="1" * 256)


@pytest.mark.parametrize("name", ["", "   ", "\u202e\x00", "\t\n"])
def test_an_empty_customer_name_is_refused(name: str) -> None:
    """A name that is empty once cleaned names the field."""
    with pytest.raises(ValidationError) as caught:
        Customer(name=name)
    assert caught.value.errors()[0]["loc"] == ("name",)


def test_an_icount_request_carries_no_card_number() -> None:
    """The doc/create body built from an order with card numbers in its line's description,
    the buyer's name and address holds none of them, only their masks."""
    buyer = {"name": f"Dana {VISA}", "address": "Street 1, 5500 0000 0000 0004", "email": "d@x.io"}
    order = _order(order_id="1001", customer=buyer)
    body = icount_body(order)
    sent = json.dumps(body, default=str, ensure_ascii=False)
    assert card_runs(sent) == []
    assert body["client_name"] == "Dana [card …1111]"
    assert body["client_address"] == "Street 1, [card …0004]"
    assert "[card …1111]" in body["items"][0]["description"]  # type: ignore[index]


def test_a_line_at_the_bounds_keeps_decimal_exact() -> None:
    """The largest line the bounds allow, with a price and quantity of many places: price ×
    quantity needs all of Decimal's 28 digits, and the total is its exact value rounded once;
    one more place of price would need 29 and is refused at the line's quantity."""
    quantity = Decimal("999999.999999")
    line = Line(description="x", quantity=quantity, unit_price=Decimal("9999999.999999999"))
    assert line.gross(True) == Decimal("9999999999989.999000000000001")  # 28 digits, exact
    order = _order(lines=[line], total="9999999999990.00", currency="ILS")
    assert order.lines_total() == Decimal("9999999999990.00")
    wider = Line(description="x", quantity=quantity, unit_price=Decimal("9999999.9999999999"))
    with pytest.raises(ValidationError, match=r"lines\.0\.quantity\n.*28 significant digits"):
        _order(lines=[wider], total="9999999999990.00", currency="ILS")


# --- stream-safe text: NFC in linear time ---------------------------------------------------


def _longest_non_starter_run(text: str) -> int:
    """The longest run of non-starters in the canonical decomposition of `text`."""
    longest = run = 0
    for char in unicodedata.normalize("NFD", text):
        run = run + 1 if unicodedata.combining(char) else 0
        longest = max(longest, run)
    return longest


def _worst_case_megabyte() -> str:
    """About 1 MB of UTF-8 that CPython's NFC sorts in quadratic time: runs of combining
    marks whose classes fall (230 before 220, 1 and 202), after a starter, one long run
    first, then many long runs, the two-mark characters among them."""
    falling = "\u0301\u0316\u0334\u0327"  # classes 230, 220, 1, 202: the sort moves each
    one_run = "a" + "\u0301" * 60_000 + "\u0316" * 60_000
    runs = ("ǘ" + "\u0301" * 500 + "\u0316" * 500 + "\u0344\u0f73" * 50 + falling * 50) * 280
    text = one_run + runs
    size = len(text.encode())
    assert 0.9e6 <= size <= 1.2e6, size
    return text


def test_a_megabyte_of_combining_marks_is_cleaned_in_linear_time() -> None:
    """Runs of non-starters are cut to 30 (UAX #15's stream-safe bound) before NFC, so the
    worst case of CPython's insertion sort costs well under a second (about 20 ms; before the
    bound, this text took 34 s)."""
    text = _worst_case_megabyte()
    started = time.perf_counter()
    identifier = clean_identifier(text)
    note = clean_text(text, NOTE_MAX, multiline=True)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"{elapsed:.2f} s"
    assert unicodedata.is_normalized("NFC", identifier)
    assert _longest_non_starter_run(identifier) == 30 and len(note) <= NOTE_MAX
    assert clean_identifier(identifier) == identifier


def test_every_non_starter_is_known() -> None:
    """The class of non-starters `text` cuts runs of is built from planes 0 and 1: no other
    code point has a combining class (this Python's Unicode database)."""
    beyond = [p for p in range(0x20000, 0x110000) if unicodedata.combining(chr(p))]
    assert beyond == []


_MARKS = st.text(
    alphabet=st.sampled_from(["a", "ǘ", "\u0301", "\u0316", "\u0334", "\u0344", "\u0f73", "x"]),
    max_size=200,
)


@PROPERTY
@given(st.lists(st.tuples(_MARKS, st.integers(0, 80)), max_size=5))
def test_runs_of_non_starters_are_cut_to_thirty(parts: list[tuple[str, int]]) -> None:
    """No run of more than 30 non-starters (decomposed, the starter's own included) is left;
    text without one is only normalised; cleaning is idempotent."""
    text = "".join(part + "\u0316\u0301" * repeat for part, repeat in parts)
    cleaned = clean_identifier(text)
    assert _longest_non_starter_run(cleaned) <= 30
    assert unicodedata.is_normalized("NFC", cleaned)
    assert clean_identifier(cleaned) == cleaned
    if _longest_non_starter_run(text) <= 30:
        assert cleaned == unicodedata.normalize("NFC", text).strip()
