"""Find card numbers in text: the suite's net for "no card data at rest, in logs or sent on".

A *card number* here is a run of 13-19 digits, optionally grouped by single spaces or dashes,
that passes the Luhn check (`worker.domain.redaction`'s own, imported, not copied) AND whose
leading digits and length match an issuer range of a card scheme in `SCHEMES`.

Why the scheme check. Luhn alone lets one random digit run in ten through, and the suite
writes many long runs of its own: millisecond timestamps (``1765000000000``), Redis stream
ids (``1765000000000-0``), sorted-set scores, long shop order and customer ids. Flagging
them would make the net cry wolf until someone switched it off. Every real card number
starts with an issuer range of a scheme and has that scheme's length, so asking for both
costs no real card number and rules out most of our own numbers:

- epoch timestamps in ms, µs or ns start with ``1`` (until 2033), and no scheme below does;
  the one that could, UATP (airline cards, MII 1, 15 digits), is left out for that reason;
- MII 7, 8 and 9 (petroleum, healthcare, national) are not payment cards, so ids starting
  with them are never flagged;
- a 13-digit id is flagged only if it starts with ``4`` (Visa's old 13-digit cards) or a
  Maestro range, and passes Luhn.

What is left is honest: an identifier that starts like a card, has a card's length and passes
Luhn cannot be told from a card number. If one of our own ids is ever flagged, change the id
the test uses, never this table.

Where a card number may sit. Runs are split into digit groups at single separators; the
candidates are every window of whole groups with 13-19 digits, so ``qty 2 4111 1111 1111
1111`` finds the card after the ``2``. Digits glued to further digits (no separator) are one
group: a card's digits inside a longer digit string are not a card number. Digits are any
Unicode decimal digits (``\\d``); bytes are read as UTF-8, bad bytes replaced.

Two more rules keep random identifiers out, at a small cost in reach:

- a card number stands apart from words: the character before and after it is not a
  letter, digit or underscore. Hex ids (uuid4().hex, SHA-256 digests, ``evt_…``) then
  never give one, however their digits fall; a card typed glued to a word
  (``card4111111111111111``) is not found either (the product's masker still masks it);
- a UUID (8-4-4-4-12 hex digits, dashed: dramatiq's message ids) is an identifier, never
  searched: with all-decimal groups its first three would read as 16 digits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from worker.domain.redaction import _luhn_ok as luhn_ok

#: (scheme, lowest prefix, highest prefix, lengths): issuer ranges, prefixes compared as
#: numbers over the prefix's own number of leading digits
SCHEMES: tuple[tuple[str, int, int, tuple[int, ...]], ...] = (
    ("Visa", 4, 4, (13, 16, 19)),
    ("Mastercard", 51, 55, (16,)),
    ("Mastercard", 2221, 2720, (16,)),
    ("Mir", 2200, 2204, (16, 17, 18, 19)),
    ("American Express", 34, 34, (15,)),
    ("American Express", 37, 37, (15,)),
    ("Diners Club", 300, 305, (14, 15, 16, 17, 18, 19)),
    ("Diners Club", 3095, 3095, (14, 15, 16, 17, 18, 19)),
    ("Diners Club", 36, 36, (14, 15, 16, 17, 18, 19)),
    ("Diners Club", 38, 39, (14, 15, 16, 17, 18, 19)),
    ("JCB", 3528, 3589, (16, 17, 18, 19)),
    ("Discover", 6011, 6011, (16, 17, 18, 19)),
    ("Discover", 644, 649, (16, 17, 18, 19)),
    ("Discover", 65, 65, (16, 17, 18, 19)),
    ("UnionPay", 62, 62, (16, 17, 18, 19)),
    ("Maestro", 5018, 5018, (13, 14, 15, 16, 17, 18, 19)),
    ("Maestro", 5020, 5020, (13, 14, 15, 16, 17, 18, 19)),
    ("Maestro", 5038, 5038, (13, 14, 15, 16, 17, 18, 19)),
    ("Maestro", 5893, 5893, (13, 14, 15, 16, 17, 18, 19)),
    ("Maestro", 6304, 6304, (13, 14, 15, 16, 17, 18, 19)),
    ("Maestro", 6759, 6759, (13, 14, 15, 16, 17, 18, 19)),
    ("Maestro", 6761, 6763, (13, 14, 15, 16, 17, 18, 19)),
)
MIN_DIGITS, MAX_DIGITS = 13, 19
#: what stands for a masked digit in excerpts (not a digit, so a masked number is not found)
MASK = "•"
#: characters of context either side of a finding in its excerpt
CONTEXT = 24

#: digit groups joined by single spaces or dashes
_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_GROUP = re.compile(r"\d+")
_UUID = re.compile(
    r"(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f-])"
)
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class CardFinding:
    """A card number at `start:end` of the scanned text; `excerpt` shows it masked."""

    scheme: str
    start: int
    end: int
    last4: str
    excerpt: str


def card_scheme(digits: str) -> str | None:
    """The scheme whose issuer range and length `digits` (ASCII) match, else None."""
    for name, low, high, lengths in SCHEMES:
        width = len(str(low))
        if len(digits) in lengths and low <= int(digits[:width]) <= high:
            return name
    return None


def is_card_number(digits: str) -> bool:
    """Luhn-valid and shaped like a card of some scheme (`digits`: decimal digits only)."""
    plain = _ascii(digits)
    return (
        MIN_DIGITS <= len(plain) <= MAX_DIGITS
        and card_scheme(plain) is not None
        and (luhn_ok(plain))
    )


def _ascii(digits: str) -> str:
    if digits.isascii():
        return digits
    return "".join(str(unicodedata.decimal(char)) for char in digits)


def _spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, scheme) of every card number in `text`, left to right, not overlapping;
    of the windows starting at one group, the longest that is a card number."""
    searched = _UUID.sub(lambda uuid: "u" * len(uuid.group()), text)  # offsets kept
    found: list[tuple[int, int, str]] = []
    for run in _RUN.finditer(searched):
        offset = run.start()
        groups = [
            (g.start() + offset, g.end() + offset, g.group()) for g in _GROUP.finditer(run.group())
        ]
        if sum(len(g[2]) for g in groups) < MIN_DIGITS:
            continue
        taken = -1
        for first, (start, _, _) in enumerate(groups):
            if start < taken or _glued(searched, start - 1):
                continue
            if (end := _longest_card(searched, groups[first:])) is not None:
                found.append((start, *end))
                taken = end[0]
    return found


def _glued(text: str, index: int) -> bool:
    """Whether text[index] is a word character (a letter, digit or underscore)."""
    return 0 <= index < len(text) and _WORD.match(text[index]) is not None


def _longest_card(text: str, groups: list[tuple[int, int, str]]) -> tuple[int, str] | None:
    """(end, scheme) of the longest card number made of the first of `groups` and those after
    (and not glued to a word after it)."""
    best, digits = None, ""
    for _, end, group in groups:
        digits += _ascii(group)
        if len(digits) > MAX_DIGITS:
            break
        scheme = card_scheme(digits) if len(digits) >= MIN_DIGITS else None
        if scheme is not None and not _glued(text, end) and luhn_ok(digits):
            best = (end, scheme)
    return best


def _as_text(data: str | bytes) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def mask_cards(data: str | bytes) -> str:
    """`data` as text with every card number's digits but its last four replaced by MASK."""
    text = _as_text(data)
    return _masked(text, _spans(text))


def _masked(text: str, spans: list[tuple[int, int, str]]) -> str:
    chars = list(text)
    for start, end, _ in spans:
        digit_positions = [i for i in range(start, end) if chars[i].isdigit()]
        for i in digit_positions[:-4]:
            chars[i] = MASK
    return "".join(chars)


def find_card_numbers(data: str | bytes) -> list[CardFinding]:
    """Every card number in `data`, each with an excerpt in which all of them are masked."""
    text = _as_text(data)
    spans = _spans(text)
    if not spans:
        return []
    masked = _masked(text, spans)
    findings = []
    for start, end, scheme in spans:
        excerpt = masked[max(0, start - CONTEXT) : end + CONTEXT]
        last4 = "".join(char for char in text[start:end] if char.isdigit())[-4:]
        findings.append(CardFinding(scheme, start, end, last4, repr(excerpt)))
    return findings
