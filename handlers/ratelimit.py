"""Per-tenant request rate limit for the receiver: a token bucket per tenant, per process.

A tenant that sends faster than its rate (after a burst) gets 429 with
`Retry-After`; shops and Standard Webhooks senders slow down and retry.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` tokens per second, holding at most `burst`."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.stamp = self.clock()

    def take(self) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class TenantLimiter:
    """One bucket per tenant; `limits` maps tenant -> (rate per second, burst)."""

    limits: dict[str, tuple[float, float]]
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def retry_after(self, tenant: str) -> int:
        """0 if the request may go ahead, else whole seconds to wait (at least 1)."""
        limit = self.limits.get(tenant)
        if limit is None:
            return 0
        bucket = self.buckets.get(tenant)
        if bucket is None:
            bucket = self.buckets[tenant] = TokenBucket(*limit, clock=self.clock)
        wait = bucket.take()
        return 0 if wait == 0 else max(1, math.ceil(wait))
