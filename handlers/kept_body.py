"""A verified delivery's body as the ledger keeps it: as it came, with every card number and
every secret-named value masked (DESIGN: no card data at rest).

`kept_value` is the rule, over a parsed JSON value:
- a value under a key that names a secret (`SECRETS`, any case) is REDACTED, whatever it
  holds; so is an `authorization` that does not read as a gateway's authorization code;
- an identifier stays as it is: under a key naming an id or reference (`order_id`,
  `client_reference_id`, `line_item_ids`), a whole number, digits alone as text, or a
  GraphQL global id (``gid://shopify/Order/820982911946154508``). A replay then puts the
  event on the order it was for;
- other text is scrubbed (`redact_text`): card numbers to their last four, bearer tokens,
  webhook secrets, `token=` pairs; a number (whole or not) that holds a card number becomes
  its mask, as text;
- keys are scrubbed as text.

`kept_text` applies the rule to a body already read. Most bodies need a change or two
(Shopify's order `token`), so it makes them on the text itself, which keeps every other
character as it came (numbers exactly as written): one pass over the parsed value gathers
its texts, keys and long numbers; the texts are searched together, at C speed, for what a
card number needs (`_card_lines`) and for the marks of the other secrets; only a text found
there is judged by the rule, and each one that changes is found in the text where a string
starts. A body the text edits cannot serve is written again from `kept_value`: one that
spells a key twice (its parse kept one), a secret holding an object or a list, a secret or
a card number spelt with escapes or in a key, a number to mask, a letter that folds to an
ASCII one, a backslash where a text must be found, or more texts to mask than editing pays
for (`_MAX_EDITED`).
"""

from __future__ import annotations

import functools
import json
import re
from bisect import bisect_right
from decimal import Decimal
from itertools import accumulate, repeat
from typing import Any, AnyStr

from worker.domain.redaction import (
    REDACTED,
    SECRET_KEYS,
    mask_card_numbers,
    redact_text,
)

#: the keys named secrets in a body: `SECRET_KEYS` but "authorization", which in a platform's
#: body is a payment's authorization code from its gateway, a reference the Shopify parser
#: reads as the transaction's id (shopify_wire): kept while it reads as one (`_AUTH_CODE`),
#: REDACTED otherwise ("Basic dXNlcjpwYXNz", a long token). The Authorization header is never
#: kept (`deliveries.kept_headers`).
SECRETS = SECRET_KEYS - {"authorization"}
_AUTH_CODE = re.compile(r"[A-Za-z0-9._:/-]{1,64}", re.ASCII)
#: keys whose identifiers are kept unmasked
ID_KEY = re.compile(r"(^|_)(id|ids|reference|ref)$")
#: an identifier's text: digits alone, or a GraphQL global id
_ID_TEXT = re.compile(r"\d+|gid://[A-Za-z0-9_-]+/[A-Za-z0-9_]+/\d+", re.ASCII)
#: numbers this long or longer may be card numbers (13 digits and more)
_LONG = 10**12
#: the lower-cased marks `redact_text`'s patterns besides card numbers need
_SECRET_MARKS = ("bearer", "whsec_", "pass=", "password=", "sid=", "cvv=", "token=")
#: the letters other than ASCII ones that those patterns, case-insensitive, match to one
#: (İ, ı, ſ, the Kelvin sign): a text holding one is judged by the rule itself
_FOLDING = "\u0130\u0131\u017f\u212a"
#: past this many texts to mask, or to judge, writing the body again costs less
_MAX_EDITED = 16
_MAX_SUSPECTS = 256
#: key lists longer than this are not kept in `_secret_names`' cache
_CACHED_NAMES_MAX = 65_536


def _table() -> bytes:
    """UTF-8 bytes to what `_card_lines` searches: a digit becomes "0"; a card-number
    separator is dropped, and so is a UTF-8 continuation byte; a line break stays; anything
    else is "x". A lead byte that starts some decimal digit (`\\d`) is "0", one that starts
    some separator (no lead byte starts both) is dropped: over-approximations, as the search
    must be (`tests/unit/test_kept_body.py` derives both sets from the Unicode tables)."""
    table = bytearray(b"x" * 256)
    table[ord("0") : ord("9") + 1] = b"0" * 10
    table[ord("\n")] = ord("\n")
    for lead in _DIGIT_LEADS:
        table[lead] = ord("0")
    return bytes(table)


_DIGIT_LEADS = b"\xd9\xdb\xdf\xe0\xe1\xea\xef\xf0"
_DROPPED = bytes(range(0x80, 0xC0)) + b"\xc2\xe2 -"
_TABLE = _table()
_THIRTEEN = b"0" * 13
_SPACE = " \t\r\n"
_SCALAR_END = re.compile(r"[,}\]\s]")
_MASKED_SECRET = json.dumps(REDACTED)
_NUMBERS = (int, float, Decimal)
#: a key written with white space before its colon (no platform's encoder does)
_SPACED_KEY = re.compile(r'"[ \t\r\n]+:')
#: a key's closing quote (not escaped) and its colon
_KEY_END = re.compile(r'(?<!\\)(?:\\\\)*":')


def _identifier(key: str, value: str | int) -> bool:
    if ID_KEY.search(key) is None:
        return False
    return isinstance(value, int) or _ID_TEXT.fullmatch(value) is not None


def kept_value(value: Any, key: str = "") -> Any:
    """`value` (parsed JSON, under `key`, lower-cased) as the module docstring's rule keeps it."""
    if key in SECRETS:
        return REDACTED
    if isinstance(value, dict):
        return {redact_text(str(k)): kept_value(item, str(k).lower()) for k, item in value.items()}
    if isinstance(value, list):
        return [kept_value(item, key) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if key == "authorization" and not (isinstance(value, str) and _AUTH_CODE.fullmatch(value)):
        return REDACTED
    if isinstance(value, str):
        return value if _identifier(key, value) else redact_text(value)
    if isinstance(value, int) and _identifier(key, value):
        return value
    if -_LONG < value < _LONG:
        return value  # fewer than 13 digits before the point: no card number
    masked = mask_card_numbers(str(value))  # a whole number, or one with a fraction
    return value if masked == str(value) else masked


def kept_text(text: str, document: Any) -> str:
    """`text`, the JSON text of `document`, as kept: edited in place where it can be, else
    written again; either way it reads as `kept_value(document)`."""
    try:
        edited = _edited(text, _Gathered(document))
    except (ValueError, IndexError, ArithmeticError):  # NaN, or not `document`'s text
        edited = None
    if edited is not None:
        return edited
    return json.dumps(kept_value(json.loads(text)))  # floats, not Decimals: json writes those


class _Gathered:
    """One pass over a parsed body: its texts with their keys, its keys, its long numbers
    with theirs. A list's items count under the list's key, as in `kept_value`."""

    def __init__(self, document: Any) -> None:
        self.texts: list[str] = []
        self.text_keys: list[str] = []
        self.names: list[str] = []
        self.numbers: list[tuple[str, int | float | Decimal]] = []
        self._gather(document)

    def _gather(self, document: Any) -> None:
        texts, text_keys, numbers = self.texts, self.text_keys, self.numbers
        add_text, add_key, add_names = texts.append, text_keys.append, self.names.extend
        stack: list[tuple[Any, str]] = [([document], "")]  # the whole, as a list's one item
        push, pop = stack.append, stack.pop
        while stack:  # this runs for every value: names bound once, no call per value
            node, key = pop()
            if type(node) is dict:
                add_names(node)
                items: Any = node.items()
            else:
                items = zip(repeat(key), node)
            for name, value in items:
                kind = type(value)
                if kind is str:
                    add_text(value)
                    add_key(name)
                elif kind is dict or kind is list:
                    push((value, name))
                elif kind in _NUMBERS and not -_LONG < value < _LONG:
                    numbers.append((name, value))


def _card_lines(joined: str) -> set[int]:
    """The indexes of the lines of `joined` that may hold a card number: a superset of those
    where `redaction.mask_card_numbers` looks (13 digits, separators aside), found on its
    UTF-8 bytes."""
    marks = joined.encode("utf-8", "surrogatepass").translate(_TABLE, _DROPPED)
    lines: set[int] = set()
    _add_lines(marks, _THIRTEEN, b"\n", lines)
    return lines


def _mark_lines(joined: str) -> set[int]:
    """The indexes of the lines of `joined` where a mark of `_SECRET_MARKS` stands."""
    low, lines = joined.lower(), set[int]()
    for mark in _SECRET_MARKS if "=" in low else _SECRET_MARKS[:2]:  # the rest end with "="
        _add_lines(low, mark, "\n", lines)
    return lines


def _add_lines(text: AnyStr, part: AnyStr, newline: AnyStr, lines: set[int]) -> None:
    """Add to `lines` the index of each line of `text` where `part` stands: one place is
    enough for its line, and line breaks are counted once (linear, however many places)."""
    line, counted, at = 0, 0, text.find(part)
    while at >= 0 and len(lines) <= _MAX_SUSPECTS:
        line += text.count(newline, counted, at)
        lines.add(line)
        counted = at
        line_end = text.find(newline, at)
        at = -1 if line_end < 0 else text.find(part, line_end)


def _edited(text: str, found: _Gathered) -> str | None:
    """`kept_value`'s changes made on `text`, or None when it must be written again."""
    names, joined = "\n".join(found.names), "\n".join(found.texts)
    secrets = _plain(text, found, names, joined)
    if secrets is None:
        return None
    changed = _changed_texts(found, joined, secrets)
    if changed is None or len(changed) > _MAX_EDITED or (changed and "\\" in text):
        return None  # too many to edit, or texts to find where a backslash hides quotes
    edits = _secret_edits(text, secrets)
    if edits is None:
        return None
    for value in changed:
        more = _text_edits(text, value, found)
        if more is None:
            return None
        edits += more
    return _apply(text, edits)


def _plain(
    text: str, found: _Gathered, names: str, joined: str
) -> tuple[tuple[str, int], ...] | None:
    """The secret names of a body whose keys and numbers the edits can serve (its keys as
    `_secret_names` says); None when it must be written again."""
    if not _keys_kept(text, found, names, joined):
        return None  # a key stands twice (the parse kept one), or is not counted so
    if any(c in names or c in joined for c in _FOLDING):
        return None  # a letter that folds to an ASCII one
    cached = len(names) <= _CACHED_NAMES_MAX
    secrets = _secret_names(names) if cached else _secret_names.__wrapped__(names)
    if secrets is None:
        return None  # a key to mask
    for key, number in found.numbers:
        read = number if isinstance(number, int) else float(number)  # as the full read has it
        if kept_value(read, key.lower()) != read:
            return None  # a number to mask: written again, as text
    return secrets


def _changed_texts(
    found: _Gathered, joined: str, secrets: tuple[tuple[str, int], ...]
) -> set[str] | None:
    """The texts the rule changes, each once; None when there are too many to judge."""
    suspects = _card_lines(joined) | _mark_lines(joined)
    if len(suspects) > _MAX_SUSPECTS:
        return None  # judging each costs more than writing the body again
    indexes = _text_indexes(found.texts, joined, suspects)
    if any(name == "authorization" for name, _ in secrets):  # spelt so (`_secret_names`)
        indexes += _places(found.text_keys, "authorization")
    return {  # a secret's member is among the secret edits
        found.texts[i]
        for i in indexes
        if (key := found.text_keys[i].lower()) not in SECRETS
        and kept_value(found.texts[i], key) != found.texts[i]
    }


def _keys_kept(text: str, found: _Gathered, names: str, joined: str) -> bool:
    """Whether every key `text` spells is one its parse kept (a key spelt twice keeps one).
    With no escapes, each string stands in `text` as it was read, so the colons outside them
    are the keys', one each: a key the parse dropped shows as colons the parse does not have.
    With escapes, the keys are counted where they end in a quote and a colon, written without
    white space between them by every platform's encoder (`_SPACED_KEY` sends the others to
    the full read)."""
    if "\\" not in text:
        return text.count(":") == len(found.names) + names.count(":") + joined.count(":")
    return _SPACED_KEY.search(text) is None and len(_KEY_END.findall(text)) == len(found.names)


@functools.lru_cache(maxsize=256)
def _secret_names(names: str) -> tuple[tuple[str, int], ...] | None:
    """Of a body's keys (one a line): each that names a secret (or "authorization"),
    lower-cased, and how often it stands; None when a key holds what `redact_text` masks. A
    platform sends the same keys again and again, so the answers are kept (a bounded number
    of key lists, each of bounded length: keys are the sender's)."""
    if redact_text(names) != names:
        return None
    spelt = names.split("\n")
    lowered = names.lower().split("\n")
    present = SECRET_KEYS.intersection(lowered)  # the secrets and authorization
    if lowered.count("authorization") != spelt.count("authorization"):
        return None  # spelt with capitals: its texts are found by their keys as spelt
    return tuple(sorted((name, lowered.count(name)) for name in present))


def _found_at(text: str, part: str) -> list[int]:
    """Where `part` starts in `text`, each place once (str.find: no pattern to compile)."""
    places: list[int] = []
    at = text.find(part)
    while at >= 0:
        places.append(at)
        at = text.find(part, at + len(part))
    return places


def _places(items: list[str], item: str) -> list[int]:
    """Where `item` stands in `items` (list.index: no Python step per item)."""
    places: list[int] = []
    at = -1
    while True:
        try:
            at = items.index(item, at + 1)
        except ValueError:
            return places
        places.append(at)


def _text_indexes(texts: list[str], joined: str, lines: set[int]) -> list[int]:
    """The indexes of the texts that `lines` of `joined` (the texts, one a line) fall in;
    a text may hold line breaks of its own."""
    if joined.count("\n") == len(texts) - 1:
        return sorted(lines)
    firsts = list(accumulate((text.count("\n") + 1 for text in texts), initial=0))
    return sorted({bisect_right(firsts, line) - 1 for line in lines})


def _secret_edits(
    text: str, secrets: tuple[tuple[str, int], ...]
) -> list[tuple[int, int, str]] | None:
    """REDACTED for the value of each member whose key names a secret, found as the key is
    spelt lower-cased; None when one is spelt otherwise (capitals, escapes) or holds an
    object or a list."""
    edits: list[tuple[int, int, str]] = []
    for secret, count in secrets:
        spelt, found = f'"{secret}"', 0
        at = text.find(spelt)
        while at >= 0:
            start = _value_start(text, at + len(spelt))
            if start is not None and _key_position(text, at):
                if text[start] in "[{":
                    return None
                if secret in SECRETS or text[start] in "-0123456789":  # an authorization's
                    edits.append((start, _value_end(text, start), _MASKED_SECRET))  # number
                found += 1  # (its text is judged as a text; null, true, false stay)
            at = text.find(spelt, at + 1)
        if found != count:
            return None
    return edits


def _text_edits(text: str, value: str, found: _Gathered) -> list[tuple[int, int, str]] | None:
    """Every place where `value` stands as a whole JSON string, to its kept text; None unless
    each is found as written, where a string starts, and all are kept alike (an identifier
    and a note may hold the same digits). Where a string starts is told by counting quotes
    (`_edited` sends a text with a backslash to the full read)."""
    keys = {key.lower() for key, text_value in zip(found.text_keys, found.texts, strict=True)
            if text_value == value}  # fmt: skip  # one set comprehension
    kept = {kept_value(value, key) for key in keys}
    if len(kept) != 1:
        return None
    replacement = json.dumps(kept.pop())  # ASCII: no lone surrogate goes in raw
    for spelt in (json.dumps(value, ensure_ascii=False), json.dumps(value)):
        places = _found_at(text, spelt)
        if len(places) == found.texts.count(value):
            quotes, counted = 0, 0
            for at in places:  # each must open a string: an even count of quotes before it
                quotes, counted = quotes + text.count('"', counted, at), at
                if quotes % 2:
                    return None  # a look-alike: a closing quote, not a string's start
            return [(at, at + len(spelt), replacement) for at in places]
    return None


def _key_position(text: str, at: int) -> bool:
    """Whether the `"` at `at` opens a key: only "{" or "," stand before a key, white space
    aside (in a valid JSON text, a string's closing quote never does)."""
    while at > 0 and text[at - 1] in _SPACE:
        at -= 1
    return at > 0 and text[at - 1] in "{,"


def _value_start(text: str, after_key: int) -> int | None:
    """Where a member's value starts, given where its key's closing quote ends; None when no
    colon follows (the text was no key)."""
    at = _skip_space(text, after_key)
    return _skip_space(text, at + 1) if at < len(text) and text[at] == ":" else None


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in _SPACE:
        at += 1
    return at


def _value_end(text: str, start: int) -> int:
    """Where the scalar (a string, number, true, false, null) starting at `start` ends."""
    if text[start] != '"':
        found = _SCALAR_END.search(text, start)
        return len(text) if found is None else found.start()
    at = start
    while True:
        at = text.index('"', at + 1)
        slashes = 0
        while text[at - 1 - slashes] == "\\":
            slashes += 1
        if slashes % 2 == 0:
            return at + 1


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str | None:
    """`text` with `edits` made; None when two of them overlap."""
    pieces, kept = [], 0
    for start, end, replacement in sorted(edits):
        if start < kept:
            return None
        pieces += [text[kept:start], replacement]
        kept = end
    return "".join(pieces) + text[kept:]
