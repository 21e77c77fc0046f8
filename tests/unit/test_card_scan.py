"""The card scanner (tests/card_scan.py): it finds card numbers however they are grouped, and
leaves alone our own long numbers (timestamps, stream ids, shop ids) and masked forms."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.card_scan import SCHEMES, find_card_numbers, is_card_number, mask_cards
from tests.card_scan_plugin import CardScan
from worker.domain.redaction import _luhn_ok as luhn_ok


def luhn_complete(payload: str) -> str:
    """`payload` with the one check digit that makes it pass Luhn."""
    return next(payload + d for d in "0123456789" if luhn_ok(payload + d))


#: published test card numbers (Stripe's docs), one or more per scheme
TEST_CARDS = {
    "4111111111111111": "Visa",
    "4000056655665556": "Visa",
    "4222222222222": "Visa",
    "5555555555554444": "Mastercard",
    "2223003122003222": "Mastercard",
    "378282246310005": "American Express",
    "6011111111111117": "Discover",
    "3566002020360505": "JCB",
    "36227206271667": "Diners Club",
    "3056930009020004": "Diners Club",
    "6200000000000005": "UnionPay",
    "6759649826438453": "Maestro",
    "2200000000000004": "Mir",
}


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "card: 4111 1111 1111 1111, exp 12/30",
        '{"note": "pay with 4111-1111-1111-1111 please"}',
        "qty 2 4111 1111 1111 1111",  # the card after an unrelated digit group
        "3782 822463 10005",  # Amex's own grouping
    ],
)
def test_a_card_number_is_found_however_it_is_grouped(text: str) -> None:
    """Given a card number spaced, dashed, plain or amid text, then exactly it is found."""
    (finding,) = find_card_numbers(text)
    assert finding.last4 in {"1111", "0005"}
    assert "".join(c for c in text[finding.start : finding.end] if c.isdigit()) in {
        "4111111111111111",
        "378282246310005",
    }


@pytest.mark.parametrize(("number", "scheme"), TEST_CARDS.items())
def test_every_scheme_is_known(number: str, scheme: str) -> None:
    """Each published test card is found, in text and in bytes, as its own scheme."""
    assert luhn_ok(number)
    for data in (f"x {number} y", f"x {number} y".encode()):
        (finding,) = find_card_numbers(data)
        assert (finding.scheme, finding.last4) == (scheme, number[-4:])


def test_the_excerpt_shows_only_the_last_four() -> None:
    """The excerpt masks every card number in it, the one found and its neighbours."""
    text = "note: 4111 1111 1111 1111 and 378282246310005 end"
    findings = find_card_numbers(text)
    assert [f.last4 for f in findings] == ["1111", "0005"]
    for finding in findings:
        assert "4111" not in finding.excerpt and "37828224631" not in finding.excerpt
        assert find_card_numbers(finding.excerpt) == []
    assert mask_cards(text) == "note: •••• •••• •••• 1111 and •••••••••••0005 end"


def test_unicode_digits_are_digits() -> None:
    """Arabic-Indic digits spell a card number as well as ASCII ones do."""
    arabic = "".join(chr(0x0660 + int(d)) for d in "4111111111111111")
    assert [f.scheme for f in find_card_numbers(f"card {arabic}")] == ["Visa"]


def our_own_numbers() -> list[str]:
    """Luhn-valid long numbers the suite writes itself, none of them a card."""
    now_ms = luhn_complete(str(int(time.time() * 1000))[:-1])
    return [
        now_ms,  # a millisecond timestamp
        f"{now_ms}-0",  # a Redis stream id
        f"{float(now_ms)!r}",  # a sorted-set score
        luhn_complete(str(int(time.time() * 1_000_000))[:-1]),  # microseconds
        luhn_complete("551234567890"),  # a 13-digit Shopify-like order id (no 13-digit 55 card)
        luhn_complete("27017779718051"),  # a 15-digit Shopify customer id
        luhn_complete("820982911946154"),  # a Shopify GraphQL id (no scheme starts with 8)
        luhn_complete("91234567890123456"),  # MII 9 (national use)
    ]


@pytest.mark.parametrize("number", our_own_numbers())
def test_our_own_long_numbers_are_not_card_numbers(number: str) -> None:
    """Long numbers of ours that happen to pass Luhn fail the scheme check."""
    assert luhn_ok(number.partition("-")[0].partition(".")[0])
    assert find_card_numbers(f"id={number}") == []


@pytest.mark.parametrize(
    "text",
    [
        "•••• 1111",
        "**** **** **** 1111",
        "card ending 1111",
        "[card]",
        "411111******1111",  # first six and last four
        "4111111111111112",  # fails Luhn
        "41111111111111111111",  # 20 digits
        "x94111111111111111",  # glued to a further digit: not a number of its own
        "evt_4111111111111111",  # glued to a word: an id (see the module's docstring)
        "ab4111111111111111cd",  # inside a hex id
        "41111111-1111-1111-a111-111111111111",  # a UUID whose first groups read as a Visa
        "4111  1111  1111  1111",  # double spaces: not one run, by the net's definition
        "10000000000000000000000000",  # an amount of 10^25
        "1e999999999",
    ],
)
def test_masked_forms_and_non_cards_are_not_found(text: str) -> None:
    """Masked forms, Luhn failures and runs of the wrong length are left alone."""
    assert find_card_numbers(text) == []


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number in some scheme's range and length."""
    _, low, high, lengths = draw(st.sampled_from(SCHEMES))
    prefix = str(draw(st.integers(low, high)))
    length = draw(st.sampled_from(lengths))
    body = draw(
        st.text("0123456789", min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1)
    )
    return luhn_complete(prefix + body)


@st.composite
def grouped(draw: st.DrawFn, number: str) -> str:
    """`number` split into groups by single spaces or dashes, or not at all."""
    out = number[0]
    for digit in number[1:]:
        out += draw(st.sampled_from(["", "", "", " ", "-"])) + digit
    return out


text_around = st.text(st.characters(exclude_categories=["Nd"]), max_size=20)


@given(number=card_numbers(), data=st.data(), before=text_around, after=text_around)
def test_any_card_number_in_any_text_is_found_and_masking_hides_it(
    number: str, data: st.DataObject, before: str, after: str
) -> None:
    """A card number of any scheme, however grouped and wherever in text, is found once with
    its last four, and after `mask_cards` nothing is found."""
    text = f"{before} {data.draw(grouped(number))} {after}"
    found = find_card_numbers(text)
    assert [f.last4 for f in found] == [number[-4:]]
    assert is_card_number(number)
    assert find_card_numbers(mask_cards(text)) == []


def test_the_plugin_scans_each_phase_of_a_report_once() -> None:
    """A report's sections repeat earlier phases; only its own phase's are scanned."""
    plugin = CardScan()
    report = SimpleNamespace(
        nodeid="t::x",
        when="call",
        sections=[
            ("Captured stdout setup", "4111 1111 1111 1111"),
            ("Captured log call", "ok\nsent 5555-5555-5555-4444\n"),
        ],
    )
    with plugin.diverted() as caught:
        plugin.pytest_runtest_logreport(report)  # type: ignore[arg-type]
    assert len(caught) == 1 and "t::x [Captured log call] line 2" in caught[0]
    assert "4444" in caught[0] and "5555-5555-5555-4444" not in caught[0]
    assert plugin.findings == []
