"""dramatiq's Prometheus middleware, whose exposition server logs JSON like every process.

dramatiq's CLI forks the middleware's exposition server as a process of its own that
never imports `invoicebridge.worker_entry`, so without this it would have no logging set up: its
lines would reach the worker log as plain text, and a port already taken as a bare
traceback. The server itself is dramatiq's, reached through the public `forks`.

Import this only in worker processes (`invoicebridge.worker_entry`): importing dramatiq's module
reads `dramatiq_prom_*` from the environment, which `invoicebridge worker` sets.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from dramatiq.middleware.prometheus import Prometheus

from worker.logs import configure_from_env
from worker.settings import load_settings

log = structlog.get_logger("worker.metrics_server")


class WorkerPrometheus(Prometheus):
    """dramatiq's metrics (messages, errors, retries, durations), our exposition fork."""

    @property
    def forks(self) -> list[Callable[[], int]]:
        return [serve_worker_metrics]


def serve_worker_metrics() -> int:
    """Run dramatiq's exposition server with our logging; a port in use is one clear line."""
    settings = load_settings()
    configure_from_env(settings.logging.level, settings.logging.format)
    [serve] = Prometheus().forks
    try:
        result: int = serve()
    except OSError as exc:
        metrics = settings.metrics
        log.error(
            "worker_metrics_unavailable",
            host=metrics.worker_host,
            port=metrics.worker_port,
            error=str(exc),
        )
        return 1
    return result
