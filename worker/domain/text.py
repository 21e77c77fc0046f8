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
2. the text is normalised to NFC;
3. card numbers are masked to their last four (`redaction.mask_card_numbers`);
4. text longer than the field's cap is cut, ending in "…" (before and after the cut,
   so no card number survives it): a long product name or note still makes its document;
   text longer than `REFUSE_FACTOR` times the cap is no shop's data, and is refused;
5. surrounding whitespace goes; a required field left empty is refused.

Identifiers (order ids, numbers, refund ids, SKUs, delivery ids) get steps 1, 2 and 5
(`clean_identifier`) but are never masked (a shop's order id can be a long digit run)
and never cut: one longer than its cap is refused, as two cut ids could become one.
The caps and where they come from: docs/limits.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from worker.domain.redaction import mask_card_numbers

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


def _safe_char(match: re.Match[str]) -> str:
    return "\ufffd" if "\ud800" <= match.group() <= "\udfff" else ""


def _plain(text: str, multiline: bool) -> str:
    """Steps 1 and 2: unsafe characters out, line breaks settled, then NFC."""
    if text.isascii() and text.isprintable():  # the common case: nothing to remove, NFC
        return text
    text = _UNSAFE.sub(_safe_char, text)
    text = _BREAKS.sub("\n", text) if multiline else _TABS_AND_BREAKS.sub(" ", text)
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
#: an envelope key (event id, tenant, source, topic): cleaned, bounded, may be empty
Key = Annotated[str, Field(max_length=ID_MAX), AfterValidator(_key), _Encodable]
DeliveryId = Annotated[str, Field(max_length=DELIVERY_ID_MAX), AfterValidator(_key), _Encodable]
