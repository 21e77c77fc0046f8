"""The iDoklad sandbox's own endpoints under `/_sandbox`: faults, config, inspection, reset.

Not part of iDoklad. Control bodies are JSON; a body that is not JSON is a 400 and
one that parses but makes no sense a 422, each with a problem+json body (as the
iCount sandbox does). Fault plans use the iCount sandbox's format
(`sandboxes.kit.faults`); their `path` is matched against the path after `/v2/`
("IssuedInvoices", "IssuedInvoices/7/FullyPay"), optionally with a method first
("POST IssuedInvoices"), or "connect/token"; a leading "/v2/" is dropped.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from sandboxes.idoklad.state import FAULTS, STATE
from sandboxes.kit.serve import add_shared_control_routes

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _text(value: object) -> str:
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"cannot write {type(value).__name__}")


def answer(data: object) -> web.Response:
    """Control answers are plain JSON (logged bodies' numbers as decimal strings)."""
    return web.json_response(data, dumps=lambda value: json.dumps(value, default=_text))


def _problem(status: int, detail: str) -> web.HTTPException:
    body = {"title": "bad sandbox control request", "status": status, "detail": detail}
    exc = web.HTTPBadRequest if status == 400 else web.HTTPUnprocessableEntity
    return exc(text=answer(body).text, content_type="application/problem+json")


async def _control_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise _problem(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise _problem(422, "the body must be a JSON object")
    return data


def fault_path(path: str) -> str:
    """`/v2/IssuedInvoices`, `v2/IssuedInvoices` → `IssuedInvoices`; a method prefix is kept."""
    method, _, rest = path.strip().partition(" ")
    if method.upper() in _METHODS and rest:
        return f"{method.upper()} {fault_path(rest)}"
    return path.strip().strip("/").removeprefix("v2/")


async def post_faults(request: web.Request) -> web.Response:
    spec = await _control_body(request)
    if isinstance(spec.get("path"), str):
        spec["path"] = fault_path(spec["path"])
    try:
        request.app[FAULTS].configure(spec)
    except ValueError as exc:
        raise _problem(422, str(exc)) from None
    return answer(request.app[FAULTS].describe())


def _config(request: web.Request) -> dict[str, Any]:
    state = request.app[STATE]
    return {
        "rate_limit_per_s": state.limiter.rate,
        "order_number_filter": state.order_number_filter,
    }


async def get_config(request: web.Request) -> web.Response:
    return answer(_config(request))


async def post_config(request: web.Request) -> web.Response:
    """`{"rate_limit_per_s": N | null, "order_number_filter": bool}`, either or both."""
    body, state = await _control_body(request), request.app[STATE]
    if "rate_limit_per_s" in body:
        rate = body["rate_limit_per_s"]
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)
                                 or rate <= 0):  # fmt: skip
            raise _problem(422, "rate_limit_per_s must be a number > 0, or null for no limit")
        state.limiter.configure(None if rate is None else float(rate))
    if "order_number_filter" in body:
        if not isinstance(body["order_number_filter"], bool):
            raise _problem(422, "order_number_filter must be true or false")
        state.order_number_filter = body["order_number_filter"]
    return answer(_config(request))


async def get_documents(request: web.Request) -> web.Response:
    return answer(request.app[STATE].documents())


async def get_contacts(request: web.Request) -> web.Response:
    companies = request.app[STATE].companies.values()
    return answer(
        [{**c, "client_id": co.client_id} for co in companies for c in co.contacts.values()]
    )


async def get_emails(request: web.Request) -> web.Response:
    return answer(request.app[STATE].emails)


async def post_expire_tokens(request: web.Request) -> web.Response:
    return answer({"expired": request.app[STATE].expire_tokens()})


async def get_health(request: web.Request) -> web.Response:
    return answer({"status": "ok", "documents": len(request.app[STATE].documents())})


def add_control_routes(app: web.Application) -> None:
    """Register every `/_sandbox` endpoint on `app`."""
    add_shared_control_routes(
        app, STATE, FAULTS, dumps=lambda value: json.dumps(value, default=_text)
    )
    router = app.router
    router.add_post("/_sandbox/faults", post_faults)
    router.add_get("/_sandbox/config", get_config)
    router.add_post("/_sandbox/config", post_config)
    router.add_get("/_sandbox/documents", get_documents)
    router.add_get("/_sandbox/contacts", get_contacts)
    router.add_get("/_sandbox/emails", get_emails)
    router.add_post("/_sandbox/expire-tokens", post_expire_tokens)
    router.add_get("/_sandbox/health", get_health)
