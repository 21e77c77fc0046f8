"""Dramatiq broker set-up, in one place: the Redis broker with our knobs and async support."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO

from worker.settings import Settings


def setup_broker(settings: Settings) -> RedisBroker:
    """Create the Redis broker from settings and make it dramatiq's global broker."""
    queue = settings.queue
    broker = RedisBroker(  # type: ignore[no-untyped-call]  # dramatiq leaves __init__ untyped
        url=settings.redis.url,
        namespace=queue.namespace,
        heartbeat_timeout=queue.heartbeat_timeout_ms,
        maintenance_chance=queue.maintenance_chance,
    )
    broker.add_middleware(AsyncIO())
    dramatiq.set_broker(broker)
    return broker
