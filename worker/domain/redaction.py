"""Redaction of secrets and card data before anything is logged, stored or raised.

Two nets: keys that name a secret have their whole value replaced, and any text
is scrubbed of card-number-like digit runs, bearer tokens and webhook secrets.
`mask_card_numbers` is the one card-number mask: the log scrubber uses it, and so does
every free-text field of the canonical models (worker/domain/text.py), before anything
is recorded.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Mapping
from itertools import accumulate
from typing import Any

REDACTED = "[redacted]"

#: keys whose values are never shown, compared case-insensitively
SECRET_KEYS = frozenset({
    "pass", "password", "secret", "secrets", "sid", "api_token", "token", "access_token",
    "authorization", "signature", "client_secret", "api_key", "secret_key",
    "cc_number", "card_number", "cc_cvv", "cvv", "cc_token_id", "token_id",
    "holder_id", "cc_holder_id", "cc_validity",
    "x-shopify-hmac-sha256", "x-wc-webhook-signature", "stripe-signature", "webhook-signature",
})  # fmt: skip  # a table: credentials, then card data, then signature headers, by row

#: keys that hold our own identifiers (shop order ids can be long digit runs); never scrubbed
IDENTIFIER_KEYS = frozenset({"order_id", "event_id", "delivery_id", "key", "docnum"})

#: what may stand between two digits of one written card number: a space (also no-break,
#: narrow and figure spaces) or a dash (hyphen-minus, Unicode hyphens and dashes, minus sign);
#: up to `_MAX_GAP` of them, so "4111 - 1111" counts
CARD_SEPARATORS = " -\u00a0\u2007\u202f\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_MAX_GAP = 3
#: a card number has 13 to 19 digits (ISO/IEC 7812); only Luhn-valid runs are cards
CARD_DIGITS = (13, 19)
#: maximal runs of digits (any script: str patterns match Unicode digits) and separators
_PAN = re.compile(rf"\d+(?:[{re.escape(CARD_SEPARATORS)}]{{1,{_MAX_GAP}}}\d+)*")
_GROUP = re.compile(r"\d+")
_DROP_SEPARATORS = str.maketrans(dict.fromkeys(CARD_SEPARATORS))

_PATTERNS = (
    (re.compile(r"(?i)bearer\s+[\w.~+/=-]+"), "Bearer " + REDACTED),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_" + REDACTED),
    (re.compile(r"(?i)\b(pass|password|sid|cvv|token)=[^&\s]+"), r"\1=" + REDACTED),
)


def _luhn_ok(digits: str) -> bool:
    """The Luhn check of one digit string (`_luhn_sums` makes it for every stretch at once)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def card_mask(digits: str) -> str:
    """How a masked card number reads: its last four only, e.g. ``[card …1111]``.

    Shorter than any card number it replaces (13+ digits), and its four digits stand
    between non-digits, so a masked text never grows and is never masked again."""
    last_four = "".join(str(int(char)) for char in digits[-4:])  # any script's digits → ASCII
    return f"[card …{last_four}]"


#: a digit's share of a Luhn sum when it is doubled (9 + 9 = 18 counts 1 + 8)
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _luhn_sums(digits: str) -> tuple[list[int], list[int]]:
    """Prefix sums of Luhn shares, so that a stretch's Luhn sum costs O(1) however hostile
    the text. A stretch ``digits[a:b]`` counts its last digit as it is and doubles every
    second one before it: its sum is ``table[b] - table[a]`` with ``table = sums[b % 2]``."""
    values = [int(char) for char in digits]  # any script's decimal digits
    even_plain = [v if i % 2 == 0 else _DOUBLED[v] for i, v in enumerate(values)]
    odd_plain = [_DOUBLED[v] if i % 2 == 0 else v for i, v in enumerate(values)]
    return list(accumulate(odd_plain, initial=0)), list(accumulate(even_plain, initial=0))


def _card_end(ends: list[int], first: int, group: int, sums: tuple[list[int], ...]) -> int | None:
    """The last group of the longest Luhn-valid 13-19 digit stretch starting at digit `first`
    (the start of group `group`), or None. `ends[g]` counts the digits up to group g's end."""
    low, high = CARD_DIGITS
    shortest = bisect_left(ends, first + low, group)
    for end in range(bisect_right(ends, first + high, shortest) - 1, shortest - 1, -1):
        table = sums[ends[end] % 2]
        if (table[ends[end]] - table[first]) % 10 == 0:
            return end
    return None


def _mask_run(match: re.Match[str]) -> str:
    """One maximal run of digit groups: every Luhn-valid 13-19 digit stretch of whole groups,
    leftmost first and longest at its start, becomes `card_mask`; the rest is kept."""
    run = match.group()
    digits = run.translate(_DROP_SEPARATORS)
    if len(digits) < CARD_DIGITS[0]:
        return run
    spans = [group.span() for group in _GROUP.finditer(run)]
    ends = list(accumulate(end - start for start, end in spans))
    sums = _luhn_sums(digits)
    pieces, kept, group = [], 0, 0
    while group < len(spans):
        first = ends[group] - (spans[group][1] - spans[group][0])  # digits before the group
        last = _card_end(ends, first, group, sums)
        if last is None:
            group += 1
            continue
        pieces += [run[kept : spans[group][0]], card_mask(digits[first : ends[last]])]
        kept, group = spans[last][1], last + 1
    return "".join(pieces) + run[kept:] if pieces else run


def mask_card_numbers(text: str) -> str:
    """`text` with every card number masked to its last four (`card_mask`).

    A card number is a Luhn-valid run of 13-19 digits, written with or without
    `CARD_SEPARATORS` between them, that no other digit touches. Idempotent, and the
    result never holds such a run and is never longer than `text`.
    """
    if _PAN_DIGITS.search(text) is None:
        return text  # fewer than 13 digits in a row, separators aside: nothing to mask
    return _PAN.sub(_mask_run, text)


def holds_card_number(text: str) -> bool:
    """Whether `text` holds a card number as `mask_card_numbers` finds them (it masks a text
    only when it holds one)."""
    return mask_card_numbers(text) != text


#: what every pattern above needs somewhere in the text: 13 digits with nothing but
#: separators between them (a PAN), or "bearer", "whsec_" or "=" (the rest);
#: case-insensitive over-approximations. One regex, no copy of the text without separators.
_PAN_DIGITS = re.compile(rf"\d(?:[{re.escape(CARD_SEPARATORS)}]*\d){{12}}")
_OTHER_MARKS = re.compile(r"(?i)bearer|whsec_|=")


def _may_hold_secret(text: str) -> bool:
    """False when no pattern can match, so `redact_text` returns the text as is: the four
    substitutions cost 2-4 µs a string, and every log line scrubs each of its values."""
    return _PAN_DIGITS.search(text) is not None or _OTHER_MARKS.search(text) is not None


def redact_text(text: str) -> str:
    """Scrub card numbers (Luhn-valid digit runs), bearer tokens and secrets out of free text."""
    return scrub(text) if _may_hold_secret(text) else text


def redact_secrets(text: str, secrets: Collection[str]) -> str:
    """`redact_text` of `text` once each of the caller's own `secrets` (its API key, password
    or token; empty ones skipped) is replaced by REDACTED: for a provider's error text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return redact_text(text)


def scrub(text: str) -> str:
    """`redact_text` without the shortcut: every pattern substituted (tests compare the two)."""
    text = _PAN.sub(_mask_run, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_item(key: str, item: Any) -> Any:
    if key in SECRET_KEYS:
        return REDACTED
    if key in IDENTIFIER_KEYS and isinstance(item, str):
        return item
    return redact(item)


def _nothing_to_redact(mapping: Mapping[Any, Any]) -> bool:
    """True when `redact` would return `mapping` as it is: no key names a secret, every value
    is a string or a plain scalar, and no string can hold what `redact_text` scrubs. The
    strings are checked together, joined by a line break, which no pattern spans (a log
    line's ten values: one check of 2 µs instead of ten)."""
    texts: list[str] = []
    for key, item in mapping.items():
        if str(key).lower() in SECRET_KEYS:
            return False
        if isinstance(item, str):
            texts.append(item)
        elif item is not None and not isinstance(item, int | float):
            return False  # a nested value: the full walk
    return not _may_hold_secret("\n".join(texts))


def redact(value: Any) -> Any:
    """Return a copy of `value` with secret keys blanked and every string scrubbed."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        if _nothing_to_redact(value):
            return dict(value)
        return {key: _redact_item(str(key).lower(), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
