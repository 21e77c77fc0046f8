"""The check Stripe and Standard Webhooks signatures share: any of the header's signatures
made with any configured key, compared in constant time, and a timestamp near now."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from handlers.errors import InvalidSignature

#: how far a signed timestamp may be from now, either way (a replay, or a skewed clock)
TOLERANCE_S = 300

_Key = TypeVar("_Key")


def check_signed(
    keys: Sequence[_Key],
    candidates: Sequence[str],
    sign: Callable[[_Key], str],
    timestamp: str,
    now: datetime,
    *,
    header: str,
) -> None:
    """Accept if `sign(key)` for one of `keys` is one of `candidates` and `timestamp` (unix
    seconds) is within `TOLERANCE_S` of `now`; else `InvalidSignature` (naming `header`)."""
    matched = False
    for key in keys:  # no early exit: the time taken does not tell which secret matched
        expected = sign(key)
        for candidate in candidates:
            matched = hmac.compare_digest(expected, candidate) or matched
    if not matched:
        raise InvalidSignature(f"no v1 signature in {header} matches the body")
    if abs(now.timestamp() - int(timestamp)) > TOLERANCE_S:  # a replay, or a skewed clock
        raise InvalidSignature("timestamp outside tolerance")
