"""POST /webhooks/{source}/{tenant}: verify, parse, record, enqueue, and only then answer 2xx."""

from __future__ import annotations

import structlog
from aiohttp import web
from pydantic import ValidationError
from redis.exceptions import RedisError

from handlers.deps import ReceiverDeps, TenantAuth
from handlers.errors import (
    BodyTooLarge,
    InvalidPayload,
    TooManyRequests,
    UnknownTenant,
    UnsupportedMediaType,
)
from handlers.inbound import header
from handlers.problems import problem_response
from handlers.sources import Parsed, Source, get_source
from handlers.sources.jsonbody import invalid
from handlers.transport import read_body
from worker.domain.events import IgnoredDelivery, OrderEvent
from worker.domain.idempotency import event_id as make_event_id
from worker.domain.rates import OverRate
from worker.domain.text import clean_identifier

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


def _to_item(parsed: Parsed, tenant_id: str, source_name: str) -> OrderEvent | IgnoredDelivery:
    """The event to record: an `OrderEvent`, or an `IgnoredDelivery` for a topic we do not act on.

    The dedupe key is cleaned as the models clean `delivery_id` (a lone surrogate cannot even
    be hashed), so the event id derives from the delivery id that is stored.

    Raises:
        InvalidPayload: the event breaks a rule of the canonical models; the detail names the
            field's path and never echoes its value. (Issue #18 is to keep a validly signed
            platform delivery that fails here, or in its source's `parse`, as `unreadable`.)
    """
    dedupe_key = clean_identifier(parsed.dedupe_key)
    common = {
        "event_id": make_event_id(tenant_id, source_name, dedupe_key),
        "tenant": tenant_id,
        "source": source_name,
        "topic": parsed.topic,
        "delivery_id": dedupe_key,
        "occurred_at": parsed.occurred_at,
    }
    order_id = parsed.order_id or (parsed.order.order_id if parsed.order else None)
    try:
        if parsed.kind is None or order_id is None:
            return IgnoredDelivery.model_validate(common)
        return OrderEvent.model_validate(
            {
                **common,
                "kind": parsed.kind,
                "order_id": order_id,
                "order": parsed.order,
                "refund": parsed.refund,
                "payment": parsed.payment,
            }
        )
    except ValidationError as exc:
        what = "delivery" if parsed.kind is None else f"{parsed.kind.value} event"
        raise InvalidPayload(f"not a valid {what}: {invalid(exc).detail}") from None


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
        parsed = source.parse(body, request.headers)
    item = _to_item(parsed, tenant_id, source_name)
    structlog.contextvars.bind_contextvars(event_id=item.event_id, tenant=tenant_id)
    if isinstance(item, OrderEvent):
        structlog.contextvars.bind_contextvars(order_id=item.order_id)
    try:
        outcome = await deps.store.record(item, tenant.rate)
        if isinstance(item, OrderEvent) and outcome in ("new", "unqueued"):
            await deps.enqueue(item.event_id)
            await deps.store.mark_queued(item.event_id)
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
    status = "duplicate" if outcome == "duplicate" else "accepted"
    if isinstance(item, IgnoredDelivery):
        status = "ignored"
    log.info("webhook_" + status, topic=item.topic, outcome=outcome)
    return web.json_response({"event_id": item.event_id, "status": status})
