"""The per-tenant token bucket: a burst, then the sustained rate, with an honest Retry-After."""

from __future__ import annotations

from handlers.ratelimit import TenantLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate_then_recovery() -> None:
    """Burst 3 at 2/s: 3 pass, the 4th waits 1 s (rounded up), half a second later 1 passes."""
    clock = FakeClock()
    limiter = TenantLimiter({"acme": (2.0, 3.0)}, clock=clock)
    assert [limiter.retry_after("acme") for _ in range(3)] == [0, 0, 0]
    assert limiter.retry_after("acme") == 1
    clock.now += 0.5
    assert limiter.retry_after("acme") == 0
    assert limiter.retry_after("acme") == 1


def test_tenants_do_not_share_a_bucket() -> None:
    """One noisy tenant does not slow another; an unlisted tenant is not limited."""
    limiter = TenantLimiter({"a": (1.0, 1.0), "b": (1.0, 1.0)}, clock=FakeClock())
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after("a") == 1
    assert limiter.retry_after("b") == 0
    assert limiter.retry_after("other") == 0
