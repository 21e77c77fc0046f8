"""POST /webhooks/{source}/{tenant}: verify, parse, record, enqueue, and only then answer 2xx."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from handlers.deliveries import received, refusal, to_item, unreadable
from handlers.deps import ReceiverDeps, TenantAuth
from handlers.errors import (
    BodyTooLarge,
    InboundError,
    TooManyRequests,
    UnknownTenant,
    UnsupportedMediaType,
)
from handlers.inbound import header
from handlers.problems import problem_response
from handlers.sources import Source, get_source
from handlers.sources.standard import NAME as STANDARD
from handlers.transport import read_body
from worker.domain.events import (
    QUEUED,
    Delivery,
    IgnoredDelivery,
    OrderEvent,
    UnreadableDelivery,
)
from worker.domain.rates import OverRate, WebhookRate

DEPS = web.AppKey("deps", ReceiverDeps)
log = structlog.get_logger("handlers.webhooks")


def _lookup(deps: ReceiverDeps, source_name: str, tenant_id: str) -> tuple[Source, TenantAuth]:
    source = get_source(source_name)
    tenant = deps.tenants.get(tenant_id)
    if source is None or tenant is None or tenant.source != source_name:
        raise UnknownTenant(f"no tenant {tenant_id!r} for source {source_name!r}")
    return source, tenant


def _check_content_type(request: web.Request) -> None:
    header(request.headers, "Content-Type", invalid=UnsupportedMediaType)  # text, or a 415
    if request.content_type != "application/json":
        raise UnsupportedMediaType(f"expected application/json, got {request.content_type!r}")


async def _read_body(request: web.Request, limit: int, timeout_s: float) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"body is larger than {limit} bytes")
    try:
        return await read_body(request, timeout_s)
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge(f"body is larger than {limit} bytes") from None


async def _answer_ping(deps: ReceiverDeps, tenant_id: str) -> web.Response:
    """200 to a platform's set-up ping, which is unsigned: no event, no rate spent, nothing
    per ping id; only the tenant's last ping time, best effort."""
    try:
        await deps.store.note_ping(tenant_id)
    except (RedisError, OSError) as exc:  # a ping asks nothing of us; it still gets its 200
        log.warning("ping_not_noted", error=type(exc).__name__)
    log.info("webhook_ping")
    return web.json_response({"status": "ping"})


def _read_or_kept(source: Source, body: bytes, request: web.Request, tenant_id: str) -> Delivery:
    """The verified delivery as recorded: read only as far as its ids (the worker reads the
    rest, DESIGN step 5), or, from a source that is read in full on arrival, as its event.
    One our parser cannot read is kept `unreadable` and answered 2xx (a platform stops
    re-sending after a few refusals). The Standard source keeps its 422: its senders are
    the merchant's own systems, which can fix and send again, and the problem names the
    field."""
    name, headers = source.NAME, request.headers
    try:
        found = source.identify(body, headers)
        if found is not None:
            return received(found, body, headers, tenant_id, name)
        return to_item(source.parse(body, headers), tenant_id, name)
    except InboundError as exc:  # not a valid delivery of this source: a header or the body
        if name == STANDARD:
            raise
        reason = refusal(exc)
    except Exception as exc:  # a parser bug must not cost a signed delivery either
        log.exception("parser_error", source=name)
        reason = refusal(exc)
    kept = unreadable(body, request.headers, tenant_id, name, reason)
    log.warning("webhook_unreadable", source=name, topic=kept.topic, reason=kept.reason)
    return kept


def _status(item: Delivery, outcome: str) -> str:
    if isinstance(item, IgnoredDelivery):
        return "ignored"
    if isinstance(item, UnreadableDelivery):
        return "unreadable"
    return "duplicate" if outcome == "duplicate" else "accepted"


#: alerts sent after the answer; held here so they are not collected before they finish
_BACKGROUND: set[asyncio.Future[None]] = set()


def _in_background(work: Awaitable[None]) -> None:
    """Run `work` after the answer goes out (the alerter logs its own failures, never
    raises: a late alert must not delay the platform's 2xx)."""
    task = asyncio.ensure_future(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _record_and_queue(deps: ReceiverDeps, item: Delivery, rate: WebhookRate | None) -> str:
    """Record the delivery once; queue an event to act on that is new, or recorded but never
    queued (a receiver died in between), and mark it queued. One round trip where the broker
    allows it."""
    if deps.record_and_queue is not None:
        return await deps.record_and_queue(item, rate)
    outcome = await deps.store.record(item, rate)
    if isinstance(item, QUEUED) and outcome in ("new", "unqueued"):
        await deps.enqueue(item.event_id)
        await deps.store.mark_queued(item.event_id)
    return outcome


async def receive_webhook(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    source_name, tenant_id = request.match_info["source"], request.match_info["tenant"]
    source, tenant = _lookup(deps, source_name, tenant_id)
    body = await _read_body(request, deps.max_body_bytes, deps.body_timeout_s)
    parsed = source.detect_ping(body, request.headers)
    if parsed is not None and parsed.ping:
        return await _answer_ping(deps, tenant_id)
    if parsed is None:
        _check_content_type(request)
        source.verify(body, request.headers, tenant.secrets, deps.clock())
        item = _read_or_kept(source, body, request, tenant_id)
    else:
        item = to_item(parsed, tenant_id, source_name)
    structlog.contextvars.bind_contextvars(event_id=item.event_id, tenant=tenant_id)
    if isinstance(item, OrderEvent):
        structlog.contextvars.bind_contextvars(order_id=item.order_id)
    try:
        outcome = await _record_and_queue(deps, item, tenant.rate)
        replicated = await deps.store.replicated()
    except OverRate as exc:  # counted across every receiver; nothing was recorded
        detail = f"tenant {tenant_id!r} is over its rate limit"
        raise TooManyRequests(detail, retry_after=exc.retry_after_s) from None
    except (RedisError, OSError) as exc:
        log.error("webhook_not_recorded", error=type(exc).__name__)
        return problem_response(503, "Service unavailable", "the ledger is unreachable; retry")
    if not replicated:  # recorded and queued, but a fail-over now could lose it: ask again
        log.warning("webhook_not_replicated", topic=item.topic, outcome=outcome)
        detail = "recorded, but not yet on enough Redis replicas; retry"
        response = problem_response(503, "Service unavailable", detail)
        response.headers["Retry-After"] = "1"
        return response
    status = _status(item, outcome)
    if isinstance(item, UnreadableDelivery) and outcome == "new" and deps.on_unreadable:
        _in_background(deps.on_unreadable(tenant_id, item.event_id, item.reason))
    log.info("webhook_" + status, topic=item.topic, outcome=outcome)
    return web.json_response({"event_id": item.event_id, "status": status})
