"""Actors: thin dramatiq shims around `worker.jobs.process`. Messages carry only the event id."""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
import structlog

from worker.jobs import process as jobs
from worker.settings import Settings

QUEUE = "events"
ACTOR = "process_event"


def declare_actors(
    broker: dramatiq.Broker, settings: Settings, deps: Callable[[], jobs.Deps]
) -> dramatiq.Actor[[str], None]:
    """Register the event actor on `broker`; `deps` gives the worker process its resources."""

    async def process_event(event_id: str) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(event_id=event_id)
        try:
            await jobs.process_event(deps(), event_id)
        except jobs.RetryLater as exc:
            raise dramatiq.Retry(str(exc), delay=exc.delay_ms) from None

    def retry_when(retries: int, exc: BaseException) -> bool:
        # Our own retries are counted in the ledger (`Ledger.count_failure`); this bound only stops
        # an unexpected exception from looping forever.
        return isinstance(exc, dramatiq.Retry) or retries < settings.queue.max_retries

    decorate = dramatiq.actor(
        actor_name=ACTOR,
        queue_name=QUEUE,
        broker=broker,
        retry_when=retry_when,
        min_backoff=settings.queue.min_backoff_ms,
        max_backoff=settings.queue.max_backoff_ms,
        time_limit=settings.queue.time_limit_ms,
    )
    return decorate(process_event)
