"""The rule that keeps a charge from being doubled when an earlier outcome is unknown."""

from __future__ import annotations

import time

import pytest

from worker.errors import NeedsAttention, Waiting
from worker.jobs.charging import _check_unknown
from worker.ledger.records import JobRecord


def job(unknown_count: int, seconds_ago: float | None) -> JobRecord:
    since = None if seconds_ago is None else time.time() - seconds_ago
    return JobRecord(
        key="acme:1:charge",
        state="retrying",
        attempts=unknown_count + 1,
        unknown_since=since,
        unknown_count=unknown_count,
    )


def test_a_first_attempt_or_a_clean_failure_may_charge() -> None:
    """Nothing unknown before: charging now is safe."""
    _check_unknown(None, 60)
    _check_unknown(job(0, None), 60)


def test_within_the_settle_window_we_wait_without_spending_a_retry() -> None:
    """Outcome unknown 10 s ago, window 60 s: Waiting (a RateLimited) for about 50 s."""
    with pytest.raises(Waiting) as raised:
        _check_unknown(job(1, 10), 60)
    assert 49_000 <= (raised.value.delay_ms or 0) <= 50_000


def test_after_the_window_one_new_attempt_is_allowed() -> None:
    """Unknown once, window passed, nothing found: one new attempt may go ahead."""
    _check_unknown(job(1, 120), 60)


def test_still_unknown_after_a_new_attempt_stops_for_a_human() -> None:
    """Unknown twice, window passed, nothing found: needs_attention, never a blind charge."""
    with pytest.raises(NeedsAttention) as raised:
        _check_unknown(job(2, 120), 60)
    assert raised.value.reason == "charge_outcome_unknown"
