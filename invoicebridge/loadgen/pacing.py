"""The arithmetic of a run, pure so it is tested alone: send order, pacing, backoff, percentiles.

Pacing is by schedule, not by sleeping between sends: delivery `i` is due at
`start + i / rate`, so a slow answer or a late wake-up never shifts the rest of the run
(no drift); a sender that falls behind catches up as fast as its concurrency allows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from worker.providers.retry_after import retry_after_ms

#: the first retry waits this long; each later one twice the one before (as shops do)
FIRST_BACKOFF_S = 0.2
#: no single wait is longer than this, whatever a Retry-After says
MAX_WAIT_S = 60.0


def schedule(count: int, extra: int, seed: int = 0) -> list[int]:
    """The send order: indexes of `count` originals, each once in ascending order, plus
    `extra` repeats of randomly chosen ones, each placed after the original it repeats.

    A repeat may land right behind its original, so both may be in flight at once: the
    receiver must deduplicate concurrent deliveries too. Deterministic for one seed.
    """
    if count < 1 or extra < 0:
        raise ValueError("schedule needs count >= 1 and extra >= 0")
    rng = random.Random(seed)  # noqa: S311 (an order of sends, not a secret)
    keyed = [(float(i), 0, i) for i in range(count)]
    for _ in range(extra):
        original = rng.randrange(count)
        after = original + (count - original) * (1.0 - rng.random())  # in (original, count]
        keyed.append((after, 1, original))
    keyed.sort()
    return [index for _, _, index in keyed]


def due(start: float, index: int, rate: float | None) -> float:
    """When delivery `index` (0-based) should be sent: `start + index / rate`; `start` when
    there is no rate (as fast as possible)."""
    return start if rate is None else start + index / rate


def retry_after_seconds(value: str | None) -> float | None:
    """A `Retry-After` header in seconds, either form (`worker.providers.retry_after`)."""
    ms = retry_after_ms(value)
    return None if ms is None else ms / 1000


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): 0.2 s, 0.4 s, 0.8 s…,
    or what the server's `Retry-After` asked for, if it said; never above `MAX_WAIT_S`."""
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    wait = FIRST_BACKOFF_S * 2 ** (attempt - 1) if retry_after is None else retry_after
    return min(wait, MAX_WAIT_S)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The `p`th percentile (0-100) by linear interpolation between closest ranks, as numpy's
    default does; None for no values."""
    if not 0 <= p <= 100:
        raise ValueError(f"a percentile is between 0 and 100, not {p}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
