"""Redaction of secrets and card data before anything is logged, stored or raised.

Two nets: keys that name a secret have their whole value replaced, and any text
is scrubbed of card-number-like digit runs, bearer tokens and webhook secrets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

#: keys whose values are never shown, compared case-insensitively
SECRET_KEYS = frozenset({
    "pass", "password", "secret", "secrets", "sid", "api_token", "token", "access_token",
    "authorization", "signature", "client_secret", "api_key", "secret_key",
    "cc_number", "card_number", "cc_cvv", "cvv", "cc_token_id", "token_id",
    "holder_id", "cc_holder_id", "cc_validity",
    "x-shopify-hmac-sha256", "x-wc-webhook-signature", "stripe-signature", "webhook-signature",
})  # fmt: skip

#: keys that hold our own identifiers (shop order ids can be long digit runs); never scrubbed
IDENTIFIER_KEYS = frozenset({"order_id", "event_id", "delivery_id", "key", "docnum"})

#: 13-19 digits, optionally grouped by spaces or dashes: a card number if it passes Luhn
_PAN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")

_PATTERNS = (
    (re.compile(r"(?i)bearer\s+[\w.~+/=-]+"), "Bearer " + REDACTED),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_" + REDACTED),
    (re.compile(r"(?i)\b(pass|password|sid|cvv|token)=[^&\s]+"), r"\1=" + REDACTED),
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _mask_pan(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[card]" if _luhn_ok(digits) else match.group()


#: what every pattern above needs somewhere in the text: 13 digits once spaces and dashes
#: are gone (a PAN), or "bearer", "whsec_" or "=" (the rest); case-insensitive over-approximations
_PAN_DIGITS = re.compile(r"\d{13}")
_OTHER_MARKS = re.compile(r"(?i)bearer|whsec_|=")


def _may_hold_secret(text: str) -> bool:
    """False when no pattern can match, so `redact_text` returns the text as is: the four
    substitutions cost 2-4 µs a string, and every log line scrubs each of its values."""
    digits = _PAN_DIGITS.search(text.replace(" ", "").replace("-", ""))
    return digits is not None or _OTHER_MARKS.search(text) is not None


def redact_text(text: str) -> str:
    """Scrub card numbers (Luhn-valid digit runs), bearer tokens and secrets out of free text."""
    return scrub(text) if _may_hold_secret(text) else text


def scrub(text: str) -> str:
    """`redact_text` without the shortcut: every pattern substituted (tests compare the two)."""
    text = _PAN.sub(_mask_pan, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_item(key: str, item: Any) -> Any:
    if key in SECRET_KEYS:
        return REDACTED
    if key in IDENTIFIER_KEYS and isinstance(item, str):
        return item
    return redact(item)


def redact(value: Any) -> Any:
    """Return a copy of `value` with secret keys blanked and every string scrubbed."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: _redact_item(str(key).lower(), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
