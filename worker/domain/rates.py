"""How fast a tenant may send webhooks: a rate and a burst, kept in Redis for every receiver."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WebhookRate:
    """`per_s` deliveries a second on average, `burst` of them at once after a quiet spell."""

    per_s: float
    burst: float

    def gcra(self) -> tuple[float, float]:
        """(emission interval, tolerance) in ms, as the generic cell rate algorithm takes them."""
        interval = 1000 / self.per_s
        return interval, interval * (max(self.burst, 1) - 1)


class OverRate(Exception):
    """The tenant sent faster than its rate; it may send again after `wait_ms`."""

    def __init__(self, wait_ms: int) -> None:
        super().__init__(f"over the rate limit; again in {wait_ms} ms")
        self.wait_ms = wait_ms

    @property
    def retry_after_s(self) -> int:
        """Whole seconds for a Retry-After header, at least 1."""
        return max(1, math.ceil(self.wait_ms / 1000))
