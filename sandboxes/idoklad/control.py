"""The iDoklad sandbox's own endpoints under `/_sandbox`: faults, config, inspection, reset.

Not part of iDoklad. The request log, reset and fault plans are the kit's
(`sandboxes.kit.control`, with its 400 and 422 problem answers). Fault plans use the
kit's format (`sandboxes.kit.faults`); their `path` is matched against the path after
`/v2/` ("IssuedInvoices", "IssuedInvoices/7/FullyPay"), optionally with a method first
("POST IssuedInvoices"), or "connect/token"; a leading "/v2/" is dropped (`fault_path`).
The two v3 calls keep their prefix: "v3/CreditNotes", "GET v3/CreditNotes/Default/7".
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from sandboxes.idoklad.state import FAULTS, STATE
from sandboxes.kit.control import ControlRoutes, add_shared_control_routes, control_body, problem

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: this sandbox's own `/_sandbox` endpoints (the kit adds the shared ones)
ROUTES = ControlRoutes()


def _text(value: object) -> str:
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"cannot write {type(value).__name__}")


def _dumps(value: object) -> str:
    return json.dumps(value, default=_text)


def answer(data: object) -> web.Response:
    """Control answers are plain JSON (logged bodies' numbers as decimal strings)."""
    return web.json_response(data, dumps=_dumps)


def fault_path(path: str) -> str:
    """`/v2/IssuedInvoices`, `v2/IssuedInvoices` → `IssuedInvoices`; a method prefix is kept."""
    method, _, rest = path.strip().partition(" ")
    if method.upper() in _METHODS and rest:
        return f"{method.upper()} {fault_path(rest)}"
    return path.strip().strip("/").removeprefix("v2/")


def _config(request: web.Request) -> dict[str, Any]:
    state = request.app[STATE]
    return {
        "rate_limit_per_s": state.limiter.rate,
        "order_number_filter": state.order_number_filter,
        "ignore_filters": state.ignore_filters,
    }


@ROUTES.get("/_sandbox/config")
async def get_config(request: web.Request) -> web.Response:
    return answer(_config(request))


@ROUTES.post("/_sandbox/config")
async def post_config(request: web.Request) -> web.Response:
    """`{"rate_limit_per_s": N | null, "order_number_filter": bool, "ignore_filters": bool}`,
    any of them."""
    body, state = await control_body(request), request.app[STATE]
    if "rate_limit_per_s" in body:
        rate = body["rate_limit_per_s"]
        if rate is not None and (
            isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0
        ):
            raise problem(422, "rate_limit_per_s must be a number > 0, or null for no limit")
        state.limiter.configure(None if rate is None else float(rate))
    if "order_number_filter" in body:
        if not isinstance(body["order_number_filter"], bool):
            raise problem(422, "order_number_filter must be true or false")
        state.order_number_filter = body["order_number_filter"]
    if "ignore_filters" in body:
        if not isinstance(body["ignore_filters"], bool):
            raise problem(422, "ignore_filters must be true or false")
        state.ignore_filters = body["ignore_filters"]
    return answer(_config(request))


@ROUTES.get("/_sandbox/documents")
async def get_documents(request: web.Request) -> web.Response:
    return answer(request.app[STATE].documents())


@ROUTES.get("/_sandbox/contacts")
async def get_contacts(request: web.Request) -> web.Response:
    companies = request.app[STATE].companies.values()
    return answer(
        [{**c, "client_id": co.client_id} for co in companies for c in co.contacts.values()]
    )


@ROUTES.get("/_sandbox/emails")
async def get_emails(request: web.Request) -> web.Response:
    return answer(request.app[STATE].emails)


@ROUTES.post("/_sandbox/expire-tokens")
async def post_expire_tokens(request: web.Request) -> web.Response:
    return answer({"expired": request.app[STATE].expire_tokens()})


@ROUTES.get("/_sandbox/health")
async def get_health(request: web.Request) -> web.Response:
    return answer({"status": "ok", "documents": len(request.app[STATE].documents())})


def add_control_routes(app: web.Application) -> None:
    """Register every `/_sandbox` endpoint on `app`."""
    add_shared_control_routes(app, STATE, FAULTS, ROUTES, dumps=_dumps)
