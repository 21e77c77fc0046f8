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

_PATTERNS = (
    # 13-19 digits, optionally grouped by spaces or dashes: a card number (PAN)
    (re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)"), "[card]"),
    (re.compile(r"(?i)bearer\s+[\w.~+/=-]+"), "Bearer " + REDACTED),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_" + REDACTED),
    (re.compile(r"(?i)\b(pass|password|sid|cvv|token)=[^&\s]+"), r"\1=" + REDACTED),
)


def redact_text(text: str) -> str:
    """Scrub card numbers, bearer tokens and secrets out of free text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """Return a copy of `value` with secret keys blanked and every string scrubbed."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if str(key).lower() in SECRET_KEYS else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
