"""Text as the canonical models keep it: clean, bounded, and without card numbers.

Every free-text field of worker/domain/events.py (names, descriptions, notes, addresses,
a refund's reason, a phone number: anything a buyer or a merchant types) is cleaned as
the model is built, so every source and every consumer (ledger, logs, admin API, the
providers) gets the same text (`clean_text`):

1. a lone surrogate (JSON "\\ud800", which cannot be encoded) becomes U+FFFD; NUL and
   every other control character goes, and so do the bidi embedding, override and isolate
   characters (U+202A-U+202E, U+2066-U+2069) that make text read other than it is stored;
   a line break or a tab becomes one space, except in multi-line fields (notes, addresses),
   which keep "\\n" (CR LF, CR, NEL, U+2028/9 become "\\n") and "\\t";
2. the text is made stream-safe (`_stream_safe`: no more than 30 non-starters in a row, the
   excess dropped, in the spirit of UAX #15), then normalised to NFC;
3. card numbers are masked to their last four (`redaction.mask_card_numbers`);
4. text longer than the field's cap is cut, ending in "…" (before and after the cut,
   so no card number survives it): a long product name or note still makes its document;
   text longer than `REFUSE_FACTOR` times the cap is no shop's data, and is refused;
5. surrounding whitespace goes; a required field left empty is refused.

Identifiers (order ids, numbers, refund ids, SKUs, customer references, delivery ids) get
steps 1, 2 and 5 (`clean_identifier`) and are never cut: one longer than its cap is
refused, as two cut ids could become one. Card numbers in them:

- an order's number and a line's SKU are only shown (documents, e-mails, the admin API),
  never keys: card numbers in them are masked as in free text (`DisplayIdentifier`);
- a charge's customer reference (the provider's client id the card is billed through) is
  refused when it holds one (`CardFreeIdentifier`): a masked one would bill someone else;
- the order id, refund id and delivery id key the ledger, the steps and the dedupe, and a
  shop's ids are long digit runs (1 in 10 of them Luhn-valid): they are kept as sent.
The caps and where they come from: docs/limits.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from worker.domain.redaction import holds_card_number, mask_card_numbers

#: a person's or company's name, a city (iDoklad CompanyName ≤ 200; iCash ContragentName 100)
NAME_MAX = 200
#: an e-mail address (RFC 5321's 254; iDoklad Email ≤ 254)
EMAIL_MAX = 254
#: a line's description (ours; iDoklad Name ≤ 200 and iCash 255 are clipped by their mappings)
DESCRIPTION_MAX = 500
#: an order's note (ours; no provider receives it)
NOTE_MAX = 2000
#: a street address, multi-line (ours; iDoklad Street ≤ 100 is clipped by its mapping)
ADDRESS_MAX = 500
#: a refund's reason (ours)
REASON_MAX = 500
#: a phone number, postcode, country, VAT id (ours; iDoklad Phone 40, PostalCode 11, DIČ 20)
SHORT_MAX = 64
#: an order id, order number, refund id, SKU, customer reference, topic, tenant (ours)
ID_MAX = 255
#: a delivery's dedupe key: a shop domain, topic and event id put together (ours)
DELIVERY_ID_MAX = 1024

_ELLIPSIS = "…"
#: text longer than this many times its field's cap is refused (a 200 KB name), not cut
REFUSE_FACTOR = 10
#: the widest a written card number can be (19 digits, 3 separators between each two) and
#: more than it shrinks by when masked (to 12 characters): masking text never shortens it
#: by a factor of `_SCAN_FACTOR` or more
_CARD_SPAN, _SCAN_FACTOR = 19 + 18 * 3, 7
#: characters never kept: C0 and C1 controls and DEL (line breaks and tabs are handled
#: apart), bidi embeddings, overrides and isolates, and lone surrogates (to U+FFFD)
_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SURROGATES = re.compile("[\ud800-\udfff]")
_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_TABS_AND_BREAKS = re.compile("\r\n|[\t\r\n\x85\u2028\u2029]")

#: UAX #15's stream-safe bound: at most this many non-starters (characters of canonical
#: combining class > 0, counted in the canonical decomposition) in a row. CPython's NFC puts a
#: run of them in order by insertion sort, quadratic in its length ("a" + 20,000 U+0301 +
#: 20,000 U+0316 took 3 s, a 1 MB body minutes); bounded runs keep it linear.
MAX_NON_STARTERS = 30
#: characters whose canonical decomposition weighs 2 non-starters (U+0344 and three Tibetan
#: vowel signs of class 0 that decompose into two marks); every other non-starter weighs 1
_HEAVY = "\u0344\u0f73\u0f75\u0f81"
_HEAVY_CHAR = re.compile(f"[{_HEAVY}]")
#: a starter's canonical decomposition ends in at most this many non-starters (ǘ = u ̈ ́)
_MOST_TRAILING = 3


def _non_starter_class() -> str:
    """A regex class of every character whose decomposition is all non-starters: those of
    combining class > 0 (planes 0 and 1 hold them all: tests/unit/test_card_text.py checks
    every code point) and `_HEAVY`."""
    points = [point for point in range(0x20000) if unicodedata.combining(chr(point))]
    ranges, start = [], points[0]
    for previous, point in zip(points, [*points[1:], -1], strict=True):
        if point != previous + 1:
            ranges.append(chr(start) if start == previous else f"{chr(start)}-{chr(previous)}")
            start = point
    return "[" + "".join(ranges) + _HEAVY + "]"


def _runs_of(least: int) -> re.Pattern[str]:
    return re.compile(f"{_NON_STARTERS}{{{least},}}")


_NON_STARTERS = _non_starter_class()
#: runs that may weigh more than `MAX_NON_STARTERS`, with what precedes them: of characters
#: weighing 1 (the common case), or with `_HEAVY` characters somewhere in the text
_LONG_RUN = _runs_of(MAX_NON_STARTERS - _MOST_TRAILING + 1)
_LONG_HEAVY_RUN = _runs_of((MAX_NON_STARTERS - _MOST_TRAILING) // 2 + 1)


@lru_cache(maxsize=1024)
def _trailing_non_starters(char: str) -> int:
    """How many non-starters the canonical decomposition of `char` ends in (0 to 3)."""
    decomposed = unicodedata.normalize("NFD", char)
    kept = len(decomposed)
    while kept and unicodedata.combining(decomposed[kept - 1]):
        kept -= 1
    return len(decomposed) - kept


def _bounded_run(match: re.Match[str]) -> str:
    """One run of non-starter characters, cut to its longest start that weighs at most
    `MAX_NON_STARTERS` with the non-starters the character before it ends in."""
    run, start = match.group(), match.start()
    budget = MAX_NON_STARTERS - (_trailing_non_starters(match.string[start - 1]) if start else 0)
    head = run[: budget + 1]
    if _HEAVY_CHAR.search(head) is None:
        return head[:budget]  # every character weighs 1
    kept = 0
    for char in head:
        budget -= 2 if char in _HEAVY else 1
        if budget < 0:
            break
        kept += 1
    return run[:kept]


def _stream_safe(text: str) -> str:
    """`text` with no run of more than `MAX_NON_STARTERS` non-starters (counted in the
    canonical decomposition, with those the character before the run ends in): each longer
    run loses its excess. Linear: one regex scan finds the runs, and each is cut after at most
    `MAX_NON_STARTERS` + 1 of its characters. Canonically equivalent texts weigh the same, so
    the NFC of the result is stream-safe too, and cleaning stays idempotent."""
    runs = _LONG_RUN if _HEAVY_CHAR.search(text) is None else _LONG_HEAVY_RUN
    return runs.sub(_bounded_run, text)


def _safe_char(match: re.Match[str]) -> str:
    return "\ufffd" if "\ud800" <= match.group() <= "\udfff" else ""


def _plain(text: str, multiline: bool) -> str:
    """Steps 1 and 2: unsafe characters out, line breaks settled, stream-safe, then NFC."""
    if text.isascii() and text.isprintable():  # the common case: nothing to remove, NFC
        return text
    text = _UNSAFE.sub(_safe_char, text)
    text = _BREAKS.sub("\n", text) if multiline else _TABS_AND_BREAKS.sub(" ", text)
    if not text.isascii():  # ASCII holds no non-starter
        text = _stream_safe(text)
    return unicodedata.normalize("NFC", text)


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, ending in "…" when cut; still NFC, still stripped."""
    if len(text) <= limit:
        return text
    text = text[: limit - 1].rstrip()
    while text and not unicodedata.is_normalized("NFC", text + _ELLIPSIS):
        text = text[:-1].rstrip()  # a cut inside a combining sequence: drop its start too
    return text + _ELLIPSIS


def clean_text(text: str, limit: int, *, multiline: bool = False) -> str:
    """Free text as the models keep it (the module docstring's steps 1-5, without the refusal).

    Idempotent; the result is NFC, at most `limit` characters, holds no card number, no
    control character but (in a multi-line field) "\\n" and "\\t", and no bidi control.
    """
    text = _plain(text, multiline).strip()
    # the masking is then bounded by the cap: what a cut at `_SCAN_FACTOR` × limit drops
    # (even a card cut in two there) cannot move into the first `limit` characters
    text = mask_card_numbers(text[: _SCAN_FACTOR * limit + _CARD_SPAN])
    # a number cut in two by the cap could leave a shorter card number: mask again
    return mask_card_numbers(_cut(text, limit)).strip()


def clean_identifier(text: str) -> str:
    """An identifier as the models keep it: steps 1, 2 and 5 of the module docstring."""
    if text.isascii() and text.isprintable():  # `_plain`'s common case, without the call
        return text.strip()
    return _plain(text, multiline=False).strip()


@dataclass(frozen=True)
class _Text:
    """An `AfterValidator` cleaning one free-text field; None and empty results are None."""

    limit: int
    multiline: bool = False
    required: bool = False

    def __call__(self, value: str | None) -> str | None:
        if value is not None and len(value) > REFUSE_FACTOR * self.limit:
            raise ValueError(f"longer than {REFUSE_FACTOR * self.limit} characters")
        cleaned = None if value is None else clean_text(value, self.limit, multiline=self.multiline)
        if self.required and not cleaned:
            raise ValueError("must not be empty (once control and bidi characters are gone)")
        return cleaned or None


def _identifier(value: str | None) -> str | None:
    cleaned = None if value is None else clean_identifier(value)
    if cleaned == "":
        raise ValueError("must not be empty (once control and bidi characters are gone)")
    return cleaned


def _display_identifier(value: str | None) -> str | None:
    cleaned = _identifier(value)
    return None if cleaned is None else mask_card_numbers(cleaned)


def _card_free_identifier(value: str | None) -> str | None:
    cleaned = _identifier(value)
    if cleaned is not None and holds_card_number(cleaned):
        raise ValueError("holds a card number (a Luhn-valid run of 13-19 digits)")
    return cleaned


def wire_text(value: object) -> object:
    """A `BeforeValidator` for the sources' wire models: a string cleaned as an identifier
    (no mask, no cut: the canonical model does both) and None when nothing is left, so a
    source's fallbacks ("Customer" for a name of only control characters) still apply."""
    return clean_identifier(value) or None if isinstance(value, str) else value


def _key(value: str) -> str:
    return clean_identifier(value)


def _encodable(value: object) -> object:
    """A `BeforeValidator`: lone surrogates become U+FFFD before pydantic's own str check,
    which refuses them, so a model built straight from JSON (the Standard source's) keeps
    such text as every source does, cleaned."""
    if isinstance(value, str) and not value.isascii():
        return _SURROGATES.sub("\ufffd", value)
    return value


#: runs before each text type's own checks (see `_encodable`)
_Encodable = BeforeValidator(_encodable)


#: required free text (a customer's name, a line's description): never empty once cleaned
RequiredName = Annotated[
    str, Field(min_length=1), AfterValidator(_Text(NAME_MAX, required=True)), _Encodable
]
Description = Annotated[
    str, Field(min_length=1), AfterValidator(_Text(DESCRIPTION_MAX, required=True)), _Encodable
]
#: optional free text: cleaned to None when nothing is left
Name = Annotated[str | None, AfterValidator(_Text(NAME_MAX)), _Encodable]
Email = Annotated[str | None, AfterValidator(_Text(EMAIL_MAX)), _Encodable]
ShortText = Annotated[str | None, AfterValidator(_Text(SHORT_MAX)), _Encodable]
Reason = Annotated[str | None, AfterValidator(_Text(REASON_MAX, multiline=True)), _Encodable]
Address = Annotated[str | None, AfterValidator(_Text(ADDRESS_MAX, multiline=True)), _Encodable]
Note = Annotated[str | None, AfterValidator(_Text(NOTE_MAX, multiline=True)), _Encodable]
#: a required identifier; cleaned, never masked, refused when longer than `ID_MAX`
Identifier = Annotated[
    str, Field(min_length=1, max_length=ID_MAX), AfterValidator(_identifier), _Encodable
]
OptionalIdentifier = Annotated[
    str | None, Field(max_length=ID_MAX), AfterValidator(_identifier), _Encodable
]
#: an identifier only shown (an order's number, a SKU): card numbers in it are masked
DisplayIdentifier = Annotated[
    str, Field(min_length=1, max_length=ID_MAX), AfterValidator(_display_identifier), _Encodable
]
OptionalDisplayIdentifier = Annotated[
    str | None, Field(max_length=ID_MAX), AfterValidator(_display_identifier), _Encodable
]
#: an identifier sent on to be acted upon (a charge's customer reference): refused when it
#: holds a card number
CardFreeIdentifier = Annotated[
    str, Field(min_length=1, max_length=ID_MAX), AfterValidator(_card_free_identifier), _Encodable
]
#: an envelope key (event id, tenant, source, topic): cleaned, bounded, may be empty
Key = Annotated[str, Field(max_length=ID_MAX), AfterValidator(_key), _Encodable]
DeliveryId = Annotated[str, Field(max_length=DELIVERY_ID_MAX), AfterValidator(_key), _Encodable]
