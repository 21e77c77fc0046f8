"""The per-state index and hourly tallies follow every state change, whoever makes it."""

from __future__ import annotations

import time
from collections import Counter

from tests.integration.test_ops import order_event
from worker.ledger.ledger import Ledger
from worker.ops import actions as ops


async def _nothing(_actor: str, _ids: object) -> None:
    return None


async def test_counts_follow_record_queue_run_fail_retry_and_resolve(ledger: Ledger) -> None:
    first, second = order_event(1), order_event(2)
    await ledger.record(first)
    await ledger.record(second)
    assert (await ledger.count_by_state())["received"] == 2
    await ledger.mark_queued(first.event_id)
    await ledger.set_event_state(second.event_id, "failed", error="boom")
    counts = await ledger.count_by_state()
    assert (counts["received"], counts["queued"], counts["failed"]) == (0, 1, 1)
    assert set(counts) >= {"done", "needs_attention", "discarded"}  # every state named

    await ops.retry(ledger, [second.event_id], enqueue=_nothing, who="t", actor_name="a")
    assert await ledger.events_by_state() == {"queued": 2}
    await ops.resolve(ledger, first.event_id, who="t", note="by hand")
    assert await ledger.events_by_state() == {"queued": 1, "resolved": 1}


async def test_a_duplicate_delivery_is_counted_once(ledger: Ledger) -> None:
    event = order_event(7)
    for _ in range(3):
        await ledger.record(event)
    assert await ledger.events_by_state() == {"received": 1}


async def test_hourly_tallies_count_arrivals_in_each_state(ledger: Ledger) -> None:
    events = [order_event(n) for n in range(10, 14)]
    for event in events:
        await ledger.record(event)
    for event in events[:3]:
        await ledger.set_event_state(event.event_id, "done")
    await ledger.set_event_state(events[3].event_id, "failed", error="x")
    await ledger.set_event_state(events[3].event_id, "failed", error="again")  # not a new arrival
    *earlier, last_hour, this_hour = await ledger.hourly_tallies(24, now=time.time())
    both = Counter(last_hour) + Counter(this_hour)  # the test may straddle an hour's end
    assert both == {"received": 4, "done": 3, "failed": 1}
    assert len(earlier) == 22 and not any(earlier)
