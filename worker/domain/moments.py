"""Moments as people type them: an age (`2h`, `30m`, `7d` ago) or an ISO 8601 time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_moment(text: str, now: float) -> float:
    """Unix seconds for `2h`, `30m`, `7d` (that long before `now`) or an ISO time (UTC unless
    it names its offset). Raises ValueError with a message fit to show the user."""
    if found := re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw])", text.strip()):
        return now - float(found[1]) * _UNITS[found[2]]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an age like 2h or an ISO time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
