"""The receiver's Prometheus metrics: webhooks by source and status, latency, ledger states.

Every app gets its own `CollectorRegistry` (never prometheus_client's global one):
tests build many apps in one process, and a metric registered twice in one
registry is an error. `GET /metrics` renders that registry.

The middleware sits outside `problem_middleware`, so it sees the status the
shop actually got (a refusal turned into a problem body included); an exception
that escapes every middleware is what aiohttp answers with 500, so it is counted
as 500. Only `/webhooks/{source}/{tenant}` requests are counted, and a source we
do not serve is counted as "other" so a scanner cannot blow up the label set.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from handlers.deps import StateCounts
from handlers.webhooks import DEPS
from worker.domain.states import EVENT_STATES

WEBHOOK_ROUTE = "/webhooks/{source}/{tenant}"
KNOWN_SOURCES = frozenset({"shopify", "woocommerce", "stripe", "standard"})
#: a scrape must answer even when Redis hangs rather than refuses
LEDGER_TIMEOUT_S = 2.0

log = structlog.get_logger("handlers.metrics")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ReceiverMetrics:
    """One app's metrics, in a registry of its own."""

    def __init__(self, *, with_ledger: bool) -> None:
        self.registry = CollectorRegistry()
        self.webhooks = Counter(
            "invoicebridge_webhooks",
            "Webhook requests answered, by source and HTTP status.",
            ["source", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "invoicebridge_webhook_duration_seconds",
            "Time to answer a webhook request.",
            ["source"],
            registry=self.registry,
        )
        self.rescued = Counter(
            "invoicebridge_lost_messages_requeued",
            "Events sent again because the queue had lost their message"
            " (worker/runtime/rescue.py).",
            registry=self.registry,
        )
        # without a ledger to ask, a `ledger_up 0` would be a false alarm: no gauges at all
        self.events: Gauge | None = None
        self.ledger_up: Gauge | None = None
        if with_ledger:
            self.events = Gauge(
                "invoicebridge_events",
                "Ledger events in each state.",
                ["state"],
                registry=self.registry,
            )
            self.ledger_up = Gauge(
                "invoicebridge_ledger_up",
                "1 when the last scrape could count the ledger's events.",
                registry=self.registry,
            )

    def observe(self, source: str, status: int, seconds: float) -> None:
        self.webhooks.labels(source, str(status)).inc()
        self.duration.labels(source).observe(seconds)

    async def refresh_ledger(self, state_counts: StateCounts) -> None:
        """Ask the ledger now, at scrape time; on failure export `ledger_up 0` and no
        stale counts (an alert on `ledger_up` covers the gap)."""
        if self.events is None or self.ledger_up is None:
            return
        try:
            counts = await asyncio.wait_for(state_counts(), LEDGER_TIMEOUT_S)
        except Exception as exc:  # Redis down or hanging: the other metrics still answer
            log.warning("ledger_counts_failed", error=type(exc).__name__)
            self.events.clear()
            self.ledger_up.set(0)
            return
        for state in (*EVENT_STATES, *(s for s in counts if s not in EVENT_STATES)):
            self.events.labels(state).set(counts.get(state, 0))
        self.ledger_up.set(1)


METRICS = web.AppKey("metrics", ReceiverMetrics)


def source_label(request: web.Request) -> str | None:
    """The `source` label of a webhook request; None for any other request."""
    resource = request.match_info.route.resource
    if resource is None or resource.canonical != WEBHOOK_ROUTE:
        return None
    source = request.match_info.get("source", "")
    return source if source in KNOWN_SOURCES else "other"


@web.middleware
async def metrics_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Count each webhook request by the status it was answered with, and time it."""
    source = source_label(request)
    if source is None:
        return await handler(request)
    metrics, started = request.app[METRICS], time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        metrics.observe(source, exc.status, time.perf_counter() - started)
        raise
    except Exception:
        metrics.observe(source, 500, time.perf_counter() - started)
        raise
    metrics.observe(source, response.status, time.perf_counter() - started)
    return response


async def metrics_view(request: web.Request) -> web.Response:
    """`GET /metrics`: the app's registry in Prometheus' text format."""
    metrics = request.app[METRICS]
    state_counts = request.app[DEPS].state_counts
    if state_counts is not None:
        await metrics.refresh_ledger(state_counts)
    return web.Response(
        body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def install_metrics(app: web.Application, state_counts: StateCounts | None) -> None:
    """Give `app` its registry and `GET /metrics` (`metrics_middleware` goes in its list)."""
    app[METRICS] = ReceiverMetrics(with_ledger=state_counts is not None)
    app.router.add_get("/metrics", metrics_view)
