"""Per-worker-process resources (HTTP session, ledger, providers) on dramatiq's event loop."""

from __future__ import annotations

import aiohttp
import dramatiq
from dramatiq.asyncio import get_event_loop_thread

from worker.alerts.alerter import Alerter
from worker.jobs.limits import TenantLimits
from worker.jobs.mailer import Mailer
from worker.jobs.process import Deps, DocumentProvider
from worker.jobs.reading import ReadDelivery
from worker.jobs.runner import StepRunner
from worker.ledger.ledger import Ledger
from worker.providers.registry import build_provider
from worker.settings import Settings


class Resources:
    """Opens and closes what jobs need; one per worker process (or per test)."""

    def __init__(self, settings: Settings, read: ReadDelivery | None = None) -> None:
        self.settings = settings
        self.read = read  #: the receiver's parsers, handed over by the composition root
        self._session: aiohttp.ClientSession | None = None
        self._deps: Deps | None = None
        self._providers: dict[str, DocumentProvider] = {}

    async def open(self) -> Deps:
        self._session = aiohttp.ClientSession()
        ledger = Ledger.from_settings(self.settings.redis)
        alerter = Alerter(self.settings, ledger, self._session)
        # a slot is leased for as long as a job may run: a dead worker's comes back by itself
        # leases renewed with the order lock (worker/jobs/process.py), so they end with it
        limits = TenantLimits(ledger.redis, lease_ms=self.settings.queue.lock_ttl_ms)
        self._deps = Deps(
            settings=self.settings,
            ledger=ledger,
            provider_for=self._provider,
            alerter=alerter,
            limits=limits,
            read=self.read,
        )
        return self._deps

    async def close(self) -> None:
        if self._deps is not None:
            await self._deps.ledger.close()
        if self._session is not None:
            await self._session.close()

    def deps(self) -> Deps:
        if self._deps is None:
            raise RuntimeError("resources are not open (worker not booted)")
        return self._deps

    def _provider(self, tenant_id: str) -> DocumentProvider:
        if tenant_id not in self._providers:
            tenant = self.settings.tenants[tenant_id]
            assert self._session is not None
            mailer = Mailer(tenant.smtp) if tenant.smtp else None
            redis = self._deps.ledger.redis if self._deps is not None else None
            provider = build_provider(tenant, self._session, tenant_id=tenant_id, redis=redis)
            self._providers[tenant_id] = StepRunner(provider, tenant_id, tenant.documents, mailer)
        return self._providers[tenant_id]


class ResourcesMiddleware(dramatiq.Middleware):
    """Opens `Resources` on dramatiq's event-loop thread after boot, closes them at shutdown."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        assert loop_thread is not None, "the AsyncIO middleware must come first"
        loop_thread.run_coroutine(self.resources.open())

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.resources.close())
