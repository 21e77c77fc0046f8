"""`/admin/api/`: the ops CLI's operations over HTTP, behind bearer tokens.

Reads need any valid token; anything that changes the ledger needs an `operator` token
(403 for a `viewer`). Bad arguments are a 400/422 problem body and change nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from handlers.admin.auth import AdminIdentity, authenticate, require_operator
from handlers.admin.backend import AdminBackend, EventQuery, NoteRequest, RetryRequest
from handlers.admin.openapi import openapi_document
from handlers.errors import Conflict, InvalidPayload, MalformedBody
from handlers.inbound import query_int, query_text
from handlers.transport import BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT_S, read_body
from worker.domain.moments import parse_moment

BACKEND = web.AppKey("admin_backend", AdminBackend)
IDENTITIES = web.AppKey("admin_identities", tuple[AdminIdentity, ...])
WHO = web.RequestKey("admin_identity", AdminIdentity)  #: who the request authenticated as
Model = TypeVar("Model", bound=BaseModel)
#: the query parameters `GET /events` reads
QUERY_KEYS = ("tenant", "source", "order", "state", "q", "since", "until")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route but the OpenAPI document needs a token; changes need an operator's."""
    if request.path.endswith("/openapi.json"):
        return await handler(request)
    identity = authenticate(request, request.app[IDENTITIES])
    if request.method not in ("GET", "HEAD"):
        require_operator(identity)
    request[WHO] = identity
    return await handler(request)


def _who(request: web.Request) -> str:
    return request[WHO].name


def _invalid(error: ValidationError) -> InvalidPayload:
    where = "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()
    )
    return InvalidPayload(where)


async def _body(request: web.Request, model: type[Model]) -> Model:
    raw = await read_body(request, request.config_dict.get(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT_S))
    try:
        data = json.loads(raw) if raw.strip() else {}
        json.dumps(data, ensure_ascii=False).encode()  # a "\ud800" escape is no text either
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedBody(f"the body is not JSON: {exc}") from None
    except (ValueError, RecursionError):  # a too long integer, nesting too deep, a surrogate
        raise MalformedBody("the body is not UTF-8 JSON that can be read") from None
    if not isinstance(data, dict):
        raise MalformedBody("the body is not a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _moment(field: str, text: str | None) -> float | None:
    if not text:
        return None
    try:
        return parse_moment(text, time.time())
    except ValueError as exc:
        raise InvalidPayload(f"{field}: {exc}") from None


def _query(request: web.Request) -> EventQuery:
    q = {key: query_text(request.query, key) for key in QUERY_KEYS}
    states = tuple(s.strip() for s in (q["state"] or "").split(",") if s.strip())
    fields: dict[str, Any] = {key: q[key] for key in ("tenant", "source", "order") if q[key]}
    limit = query_int(request.query, "limit", 100, 1, 1000)
    fields |= {"states": states, "text": q["q"], "limit": limit}
    fields |= {"since": _moment("since", q["since"]), "until": _moment("until", q["until"])}
    try:
        return EventQuery.model_validate(fields)
    except ValidationError as exc:
        raise _invalid(exc) from None


async def whoami(request: web.Request) -> web.Response:
    identity = request[WHO]
    return web.json_response({"name": identity.name, "role": identity.role})


async def overview(request: web.Request) -> web.Response:
    hours = query_int(request.query, "hours", 24, 1, 168)
    return web.json_response(await request.app[BACKEND].overview(hours))


async def list_events(request: web.Request) -> web.Response:
    events = await request.app[BACKEND].find(_query(request))
    return web.json_response({"events": events, "count": len(events)})


async def show_event(request: web.Request) -> web.Response:
    return web.json_response(await request.app[BACKEND].detail(request.match_info["event_id"]))


async def retry_event(request: web.Request) -> web.Response:
    event_id = request.match_info["event_id"]
    outcome = await request.app[BACKEND].retry([event_id], _who(request))
    if state := outcome["skipped"].get(event_id):
        hint = "; replay runs a done event again" if state == "done" else ""
        raise Conflict(f"event {event_id} is {state}; cannot retry it{hint}")
    return web.json_response(outcome)


async def settle_event(action: str, request: web.Request) -> web.Response:
    event_id, who = request.match_info["event_id"], _who(request)
    if action == "replay":
        await request.app[BACKEND].replay(event_id, who)
    else:
        note = (await _body(request, NoteRequest)).note
        await request.app[BACKEND].settle(
            "discard" if action == "discard" else "resolve", event_id, who, note
        )
    return web.json_response({"event_id": event_id, "action": action, "who": who})


async def bulk_retry(request: web.Request) -> web.Response:
    body, backend, who = await _body(request, RetryRequest), request.app[BACKEND], _who(request)
    filters = body.tenant or body.since or body.until
    if body.failed == bool(body.event_ids) or (body.event_ids and filters):
        raise InvalidPayload("send event_ids, or failed: true with tenant / since / until")
    if body.event_ids:
        return web.json_response(await backend.retry(body.event_ids, who))
    since, until = _moment("since", body.since), _moment("until", body.until)
    return web.json_response(await backend.retry_failed(body.tenant, since, until, who))


async def list_tenants(request: web.Request) -> web.Response:
    return web.json_response({"tenants": await request.app[BACKEND].tenants()})


async def pause_tenant(action: str, request: web.Request) -> web.Response:
    tenant, pausing = request.match_info["tenant"], action == "pause"
    changed = await request.app[BACKEND].set_paused(tenant, pausing, _who(request))
    return web.json_response({"tenant": tenant, "paused": pausing, "changed": changed})


async def list_actions(request: web.Request) -> web.Response:
    limit = query_int(request.query, "limit", 100, 1, 1000)
    return web.json_response({"actions": await request.app[BACKEND].actions(limit)})


async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def admin_api(backend: AdminBackend, identities: tuple[AdminIdentity, ...]) -> web.Application:
    """The sub-application mounted at `/admin/api/`."""
    api = web.Application(middlewares=[auth_middleware])
    api[BACKEND], api[IDENTITIES] = backend, identities
    api.router.add_get("/openapi.json", openapi)
    api.router.add_get("/whoami", whoami)
    api.router.add_get("/overview", overview)
    api.router.add_get("/events", list_events)
    api.router.add_get("/events/{event_id}", show_event)
    api.router.add_post("/events/{event_id}/retry", retry_event)
    for action in ("discard", "resolve", "replay"):
        api.router.add_post(f"/events/{{event_id}}/{action}", partial(settle_event, action))
    api.router.add_post("/retry", bulk_retry)
    api.router.add_get("/tenants", list_tenants)
    for action in ("pause", "resume"):
        api.router.add_post(f"/tenants/{{tenant}}/{action}", partial(pause_tenant, action))
    api.router.add_get("/actions", list_actions)
    return api
