"""The module dramatiq's worker processes import: settings, logging, broker, actors, and
the receiver's parsers for the deliveries recorded as they came (`invoicebridge.reading`).

Started by `invoicebridge worker`, which names the configuration file through
`INVOICEBRIDGE_CONFIG` before dramatiq forks its processes. It is the composition root's,
not the worker's: the worker never imports `handlers`.
"""

from __future__ import annotations

import os

import dramatiq.worker

from invoicebridge.reading import read_delivery
from worker.logs import configure_from_env
from worker.runtime.actors import QUEUE, declare_actors
from worker.runtime.broker import setup_broker
from worker.runtime.maintenance import MaintenanceMiddleware, maintenance_for
from worker.runtime.resources import Resources, ResourcesMiddleware
from worker.settings import PREFETCH_ENV, load_settings

# dramatiq read its prefetch from the environment when the CLI imported it, before
# `invoicebridge worker` set it; its Worker reads the module's value when it is made
dramatiq.worker.QUEUE_PREFETCH = int(os.environ.get(PREFETCH_ENV) or 0)
settings = load_settings()
configure_from_env(settings.logging.level, settings.logging.format)
broker = setup_broker(settings)
resources = Resources(settings, read=read_delivery)
broker.add_middleware(ResourcesMiddleware(resources))
maintenance = maintenance_for(broker, [QUEUE])
if maintenance is not None:  # the Redis broker: dead workers' messages back on a clock
    broker.add_middleware(MaintenanceMiddleware(maintenance))
if settings.metrics.worker_enabled:
    # imported only here: dramatiq reads `dramatiq_prom_*` (set by `invoicebridge worker`)
    # when its middleware is imported; its CLI forks the exposition server
    from worker.runtime.metrics_server import WorkerPrometheus

    broker.add_middleware(WorkerPrometheus())
process_event = declare_actors(broker, settings, resources.deps)
