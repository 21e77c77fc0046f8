"""The webhook rate's arithmetic: GCRA parameters and an honest Retry-After."""

from __future__ import annotations

import pytest

from worker.domain.rates import OverRate, WebhookRate


@pytest.mark.parametrize(
    ("per_s", "burst", "expected"),
    [(50, 200, (20.0, 20.0 * 199)), (0.5, 2, (2000.0, 2000.0)), (10, 1, (100.0, 0.0))],
)
def test_gcra_interval_and_tolerance(per_s: float, burst: float, expected: tuple[float, float]):
    assert WebhookRate(per_s, burst).gcra() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("wait_ms", "seconds"), [(1, 1), (999, 1), (1000, 1), (1001, 2), (4999, 5)]
)
def test_retry_after_rounds_up_to_whole_seconds(wait_ms: int, seconds: int) -> None:
    assert OverRate(wait_ms).retry_after_s == seconds
