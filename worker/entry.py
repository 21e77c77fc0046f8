"""The module dramatiq's worker processes import: settings, logging, broker, actors.

Started by `invoicebridge worker`, which names the configuration file through
`INVOICEBRIDGE_CONFIG` before dramatiq forks its processes.
"""

from __future__ import annotations

from worker.actors import declare_actors
from worker.broker import setup_broker
from worker.logs import configure_from_env
from worker.resources import Resources, ResourcesMiddleware
from worker.settings import load_settings

settings = load_settings()
configure_from_env(settings.logging.level, settings.logging.format)
broker = setup_broker(settings)
resources = Resources(settings)
broker.add_middleware(ResourcesMiddleware(resources))
if settings.metrics.worker_enabled:
    # imported only here: dramatiq reads `dramatiq_prom_*` (set by `invoicebridge worker`)
    # when its middleware is imported; its CLI forks the exposition server
    from worker.metrics_server import WorkerPrometheus

    broker.add_middleware(WorkerPrometheus())
process_event = declare_actors(broker, settings, resources.deps)
