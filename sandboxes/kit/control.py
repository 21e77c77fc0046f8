"""The `/_sandbox` control routes every sandbox has alike, and how control requests are read.

Not part of any provider's API. Control bodies are JSON: one that is not JSON is a 400,
one that parses but makes no sense a 422, each with a problem+json body. Each sandbox
adds its own routes (config, documents, emails, sessions, health) next to these, declared
by decorating their handlers with a `ControlRoutes` table's `get` or `post`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from sandboxes.kit.faults import Faults

_Handler = TypeVar("_Handler", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])


class ControlRoutes:
    """A sandbox's own `/_sandbox` endpoints: `@routes.get(path)` or `@routes.post(path)` on
    a handler declares it (the handler keeps its type); `add_shared_control_routes` adds them."""

    def __init__(self) -> None:
        self.table = web.RouteTableDef()

    def get(self, path: str) -> Callable[[_Handler], _Handler]:
        return self._route("GET", path)

    def post(self, path: str) -> Callable[[_Handler], _Handler]:
        return self._route("POST", path)

    def _route(self, method: str, path: str) -> Callable[[_Handler], _Handler]:
        def declare(handler: _Handler) -> _Handler:
            self.table.route(method, path)(handler)
            return handler

        return declare


def problem(status: int, detail: str) -> web.HTTPException:
    """A 400 (`status` 400) or 422 (any other) with a problem+json body, to raise."""
    body = {"title": "bad sandbox control request", "status": status, "detail": detail}
    exc = web.HTTPBadRequest if status == 400 else web.HTTPUnprocessableEntity
    return exc(text=web.json_response(body).text, content_type="application/problem+json")


async def control_body(request: web.Request) -> dict[str, Any]:
    """A control request's JSON object; a 400 or 422 problem otherwise."""
    try:
        data = await request.json()
    except ValueError:
        raise problem(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise problem(422, "the body must be a JSON object")
    return data


def add_shared_control_routes(
    app: web.Application,
    state: web.AppKey[Any],
    faults: web.AppKey[Faults],
    own: ControlRoutes,
    *,
    dumps: Callable[[object], str] = json.dumps,
) -> None:
    """The `/_sandbox` endpoints every sandbox has alike: the request log, reset, and the
    fault plans (read, add, clear), then the sandbox's `own`. `app[state]` has
    `request_counts`, `request_log` and `reset()`; `dumps` writes the answers."""

    def answer(data: object) -> web.Response:
        return web.json_response(data, dumps=dumps)

    async def get_requests(request: web.Request) -> web.Response:
        held = request.app[state]
        return answer({"counts": dict(held.request_counts), "log": list(held.request_log)})

    async def post_reset(request: web.Request) -> web.Response:
        request.app[state].reset()
        request.app[faults].clear()
        return answer({"status": "reset"})

    async def get_faults(request: web.Request) -> web.Response:
        return answer(request.app[faults].describe())

    async def post_faults(request: web.Request) -> web.Response:
        try:
            request.app[faults].configure(await control_body(request))
        except ValueError as exc:
            raise problem(422, str(exc)) from None
        return answer(request.app[faults].describe())

    async def delete_faults(request: web.Request) -> web.Response:
        request.app[faults].clear()
        return answer(request.app[faults].describe())

    app.router.add_get("/_sandbox/requests", get_requests)
    app.router.add_post("/_sandbox/reset", post_reset)
    app.router.add_get("/_sandbox/faults", get_faults)
    app.router.add_post("/_sandbox/faults", post_faults)
    app.router.add_delete("/_sandbox/faults", delete_faults)
    app.router.add_routes(own.table)
