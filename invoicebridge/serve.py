"""Wiring of the receiver process: settings -> ledger + broker -> the aiohttp app."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import signal
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import dramatiq
from aiohttp import web

from handlers.admin.auth import AdminIdentity
from handlers.app import create_app
from handlers.deps import ReceiverDeps, Rescue, TenantAuth
from handlers.transport import ReceiverRunner
from invoicebridge.admin_backend import LedgerAdmin
from worker.alerts.alerter import Alerter
from worker.ledger.ledger import Ledger
from worker.ops.overview import QueueNames, depth_reader
from worker.runtime.actors import ACTOR, QUEUE, declare_actors
from worker.runtime.broker import (
    SENDER_PREFIX,
    async_sender,
    bulk_enqueue,
    record_and_queue,
    setup_broker,
)
from worker.runtime.maintenance import maintenance_for
from worker.runtime.rescue import Rescuer
from worker.settings import Settings

#: threads that hand webhooks to dramatiq, whose broker blocks: a pool of their own, so a
#: bulk retry busy on the default pool never queues a shop's webhook behind its sends
ENQUEUE_THREADS = 4
#: at SIGTERM, how long requests under way may take to finish before they are cut off
SHUTDOWN_TIMEOUT_S = 30


def _no_resources() -> object:
    raise RuntimeError("the receiver only sends messages; it never runs the actor")


def identities_of(settings: Settings) -> tuple[AdminIdentity, ...]:
    """The configured admin tokens, as the admin API checks them."""
    return tuple(
        AdminIdentity(name=t.name, token=t.token.get_secret_value(), role=t.role)
        for t in settings.admin.tokens
    )


def _queue_names(settings: Settings) -> QueueNames:
    return QueueNames(settings.queue.namespace, QUEUE, settings.queue.heartbeat_timeout_ms)


def _admin(settings: Settings, ledger: Ledger, broker: dramatiq.Broker) -> LedgerAdmin:
    depth = depth_reader(broker, ledger, _queue_names(settings))
    return LedgerAdmin(ledger, settings, bulk_enqueue(broker), ACTOR, depth)


def _rescue(settings: Settings, ledger: Ledger, broker: dramatiq.Broker) -> Rescue | None:
    """The lost-message rescue, on the Redis broker (whose messages it can read) when on."""
    after = settings.receiver.rescue_after_s
    if settings.queue.broker != "redis" or not after:
        return None
    rescuer = Rescuer(ledger, _queue_names(settings), bulk_enqueue(broker), ACTOR, after)

    async def rescue() -> int:
        return len(await rescuer.rescue_once())

    return rescue


def tenants_of(settings: Settings) -> dict[str, TenantAuth]:
    return {
        tid: TenantAuth(
            source=t.source,
            secrets=t.webhook_secrets(),
            rate=t.webhook_rate(),
        )
        for tid, t in settings.tenants.items()
    }


class _UnreadableAlerts:
    """The tenant's alerts for deliveries the receiver kept `unreadable`: the workers'
    `Alerter` (one alert per event, through the tenant's alert webhook or email)."""

    def __init__(self, settings: Settings, ledger: Ledger) -> None:
        self.settings, self.ledger = settings, ledger
        self.session: aiohttp.ClientSession | None = None
        self.alerter: Alerter | None = None

    def open(self) -> None:
        self.session = aiohttp.ClientSession()
        self.alerter = Alerter(self.settings, self.ledger, self.session)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def alert(self, tenant: str, event_id: str, reason: str) -> None:
        if self.alerter is not None:
            await self.alerter.event_failed(tenant, event_id, "unreadable", reason)


async def build_receiver(settings: Settings) -> web.Application:
    """The receiver app with a real ledger and a real dramatiq broker behind it."""
    broker = setup_broker(settings)
    actor = declare_actors(broker, settings, _no_resources)  # type: ignore[arg-type]
    ledger = Ledger.from_settings(settings.redis)
    senders = ThreadPoolExecutor(ENQUEUE_THREADS, thread_name_prefix="ib-enqueue")
    unreadable_alerts = _UnreadableAlerts(settings, ledger)

    async def enqueue_in_thread(event_id: str) -> None:
        context = contextvars.copy_context()  # as asyncio.to_thread: log lines keep the event
        await asyncio.get_running_loop().run_in_executor(senders, context.run, actor.send, event_id)

    # on Redis the message goes out from the event loop, on the ledger's client (a webhook's
    # within the ledger's own script: `record_and_queue`); RabbitMQ's blocking client keeps
    # the thread pool
    enqueue = async_sender(broker, ACTOR, ledger.redis) or enqueue_in_thread
    deps = ReceiverDeps(
        tenants=tenants_of(settings),
        store=ledger,
        enqueue=enqueue,
        record_and_queue=record_and_queue(broker, ACTOR, ledger),
        max_body_bytes=settings.receiver.max_body_bytes,
        header_timeout_s=settings.receiver.header_timeout_s,
        body_timeout_s=settings.receiver.body_timeout_s,
        requeue_after_s=settings.receiver.requeue_after_s,
        state_counts=ledger.count_by_state,
        rescue=_rescue(settings, ledger, broker),
        rescue_every_s=min(60.0, settings.receiver.rescue_after_s / 4 or 60.0),
        admin=_admin(settings, ledger, broker),
        admin_identities=identities_of(settings),
        on_unreadable=unreadable_alerts.alert,
    )
    app = create_app(deps)
    # receivers too hand dead workers' messages back, so an idle fleet of workers that all
    # died gets them back as soon as one starts (the queue is there to fetch from)
    maintenance = maintenance_for(broker, [QUEUE], SENDER_PREFIX)

    async def start(_app: web.Application) -> None:
        if maintenance is not None:
            maintenance.start()
        unreadable_alerts.open()

    async def close(_app: web.Application) -> None:
        if maintenance is not None:
            await asyncio.to_thread(maintenance.stop)
        await unreadable_alerts.close()
        await ledger.close()
        senders.shutdown(wait=True)  # no send still running on the broker closed next
        broker.close()

    app.on_startup.append(start)
    app.on_cleanup.append(close)
    return app


async def serve_receiver(settings: Settings, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve on `host:port` until `stop` is set, then finish what is in flight (for up to
    SHUTDOWN_TIMEOUT_S) and close."""
    runner = ReceiverRunner(
        await build_receiver(settings), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host or None, port).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def run_receiver(settings: Settings, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM; requests being handled are given up to SHUTDOWN_TIMEOUT_S
    to finish (a body still arriving is cut off: the platform sends it again). A second
    signal stops at once."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        serving = asyncio.current_task()
        assert serving is not None

        def on_signal() -> None:
            if stop.is_set():  # asked twice: don't wait for the drain
                serving.cancel()
            stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal)
        await serve_receiver(settings, host, port, stop)

    with contextlib.suppress(asyncio.CancelledError):  # the second signal's early stop
        asyncio.run(main())
