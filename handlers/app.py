"""The receiver's aiohttp application: routes, middlewares and the requeue sweeper."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web

from handlers.admin.dashboard import mount_admin
from handlers.deps import ReceiverDeps
from handlers.guards import refuse_encoded_bodies, security_headers
from handlers.metrics import METRICS, WEBHOOK_ROUTE, install_metrics, metrics_middleware
from handlers.problems import problem_middleware
from handlers.sources.standard import envelope_schema
from handlers.transport import BODY_TIMEOUT, HEADER_TIMEOUT
from handlers.webhooks import DEPS, receive_webhook

log = structlog.get_logger("handlers.app")
SWEEP_INTERVAL_S = 5.0
#: how long shutdown lets a sweep under way finish before cutting it short
SWEEP_STOP_S = 5.0


@web.middleware
async def context_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Give every log line of a request its source and tenant, and nothing of the last one."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        source=request.match_info.get("source"), tenant=request.match_info.get("tenant")
    )
    return await handler(request)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def standard_schema(_request: web.Request) -> web.Response:
    """The JSON Schema of the canonical body that Standard Webhooks senders post."""
    return web.json_response(envelope_schema())


async def readyz(request: web.Request) -> web.Response:
    ready = await request.app[DEPS].store.ping()
    return web.json_response(
        {"status": "ok" if ready else "redis unreachable"}, status=200 if ready else 503
    )


async def sweep_once(deps: ReceiverDeps) -> int:
    """Queue events that were recorded but never queued (a receiver died in between)."""
    ids = await deps.store.due_unqueued(deps.requeue_after_s)
    for event_id in ids:
        await deps.enqueue(event_id)
        await deps.store.mark_queued(event_id)
    if ids:
        log.warning("unqueued_events_requeued", count=len(ids))
    return len(ids)


async def _pause(seconds: float, stop: asyncio.Event) -> bool:
    """Wait `seconds`, or less if `stop` is set meanwhile; whether it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
    return stop.is_set()


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    """Sweep (and rescue) in the background while the app runs. At shutdown the loop is
    stopped by a flag and awaited, never cancelled: on Python 3.11, asyncio.wait_for (which
    redis-py wraps every command in) can swallow a cancel that lands as a command completes,
    and the loop would then sweep for ever while shutdown waits on it."""
    deps = app[DEPS]
    stop = asyncio.Event()

    async def loop() -> None:
        rescued_at = asyncio.get_running_loop().time()
        while not await _pause(min(SWEEP_INTERVAL_S, deps.rescue_every_s), stop):
            try:
                await sweep_once(deps)
                now = asyncio.get_running_loop().time()
                if deps.rescue is not None and now - rescued_at >= deps.rescue_every_s:
                    rescued_at = now
                    app[METRICS].rescued.inc(await deps.rescue())
            except Exception as exc:  # the sweeper must outlive a Redis blip
                log.warning("sweep_failed", error=type(exc).__name__)

    task = asyncio.create_task(loop())
    yield
    stop.set()  # a sweep under way finishes first, if Redis lets it within a few seconds
    await asyncio.wait({task}, timeout=SWEEP_STOP_S)
    while not task.done():  # Redis away: cut the sweep short (again, if a cancel is lost)
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)


def create_app(deps: ReceiverDeps) -> web.Application:
    """Build the receiver. `deps` carries the tenants, the event store and the enqueue function."""
    # metrics first: outside problem_middleware, it sees the status actually answered; the
    # security headers go on refusals too; a compressed body is refused, as a problem
    middlewares = [
        metrics_middleware,
        security_headers,
        context_middleware,
        problem_middleware,
        refuse_encoded_bodies,
    ]
    # never inflate a body, whatever runner serves the app (ReceiverRunner also says so)
    app = web.Application(
        client_max_size=deps.max_body_bytes,
        middlewares=middlewares,
        handler_args={"auto_decompress": False},
    )
    app[DEPS] = deps
    app[HEADER_TIMEOUT], app[BODY_TIMEOUT] = deps.header_timeout_s, deps.body_timeout_s
    install_metrics(app, deps.state_counts)
    app.router.add_post(WEBHOOK_ROUTE, receive_webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/schemas/standard-webhook.json", standard_schema)
    if deps.admin is not None:
        mount_admin(app, deps.admin, deps.admin_identities)
    app.cleanup_ctx.append(_sweeper)
    return app
