"""The one `Retry-After` parser: delay-seconds, an HTTP-date measured from `now`, garbage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from worker.providers.retry_after import retry_after_ms

NOW = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "delay"),
    [("0", 0), ("7", 7_000), (" 120 ", 120_000), ("1.5", 1_500), ("0.25", 250)],
)
def test_delay_seconds_integer_or_decimal(header: str, delay: int) -> None:
    assert retry_after_ms(header, now=NOW) == delay


def test_an_http_date_is_measured_from_now() -> None:
    """`Retry-After: <IMF-fixdate>` 90 s after `now` is a 90 s wait."""
    header = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert header.endswith(" GMT")
    assert retry_after_ms(header, now=NOW) == 90_000


@pytest.mark.parametrize(
    "header",
    [
        "Sun, 06 Dec 2026 10:00:30 GMT",  # IMF-fixdate
        "Sunday, 06-Dec-26 10:00:30 GMT",  # obsolete RFC 850 form
        "Sun, 06 Dec 2026 10:00:30 -0000",  # zone unknown: read as GMT
    ],
)
def test_http_date_forms(header: str) -> None:
    assert retry_after_ms(header, now=NOW) == 30_000


def test_a_date_in_the_past_is_no_wait() -> None:
    assert retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0


def test_the_wall_clock_is_now_by_default() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    delay = retry_after_ms(later)
    assert delay is not None and 3_598_000 <= delay <= 3_600_000


@pytest.mark.parametrize(
    "header",
    [None, "", "  ", "soon", "-5", "+5", "1e3", "NaN", "Infinity", "5 s", "Wed, 21 Oct 2015"],
)
def test_garbage_is_none(header: str | None) -> None:
    """The caller keeps its own default wait for anything unreadable."""
    assert retry_after_ms(header, now=NOW) is None
