"""Reading an HTTP `Retry-After` header (RFC 9110 §10.2.3), the one parser every provider uses.

Both forms are read: delay-seconds (`"120"`; a decimal such as `"1.5"` is taken too, as some
services send one) and an HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`), which is measured
from `now`. A date already past is no wait at all (0). Anything else, a negative number
included, is None: the caller keeps its own default wait, which differs by provider.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime

_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def retry_after_ms(value: str | None, *, now: datetime | None = None) -> int | None:
    """The wait a `Retry-After` value asks for, in whole ms; None when absent or unreadable.

    `now` (timezone-aware; the wall clock when None) is what an HTTP-date is measured from.
    """
    text = (value or "").strip()
    if not text:
        return None
    if _SECONDS.fullmatch(text):
        return int(Decimal(text) * 1000)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: RFC 9110 dates are always GMT
        when = when.replace(tzinfo=UTC)
    wait = when - (now or datetime.now(UTC))
    return max(0, int(wait.total_seconds() * 1000))


def retry_after_or(value: str | None, default_ms: int) -> int:
    """`retry_after_ms(value)`, or the provider's own `default_ms` when it has no wait."""
    delay = retry_after_ms(value)
    return default_ms if delay is None else delay
