"""The iCash sandbox's own endpoints under `/_sandbox`: faults, config, inspection, reset.

Not part of iCash; shaped like every sandbox's so tools treat sandboxes alike (the
request log, reset and fault plans are the kit's: `sandboxes.kit.control`).
`GET|POST /_sandbox/config` reads or sets the switches (`models.Switches`): an unknown
switch or a bad value is a 400 problem and changes nothing; `/_sandbox/reset` puts back
the switches the sandbox was started with.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandboxes.icash.documents import document_view
from sandboxes.icash.models import Operation, fixed
from sandboxes.icash.operations import operation_fields
from sandboxes.icash.state import SandboxState
from sandboxes.kit.control import ControlRoutes, add_shared_control_routes, control_body, problem
from sandboxes.kit.faults import Faults

STATE = web.AppKey("icash_sandbox_state", SandboxState)
FAULTS = web.AppKey("icash_sandbox_faults", Faults)
#: this sandbox's own `/_sandbox` endpoints (the kit adds the shared ones)
ROUTES = ControlRoutes()


def operation_view(state: SandboxState, op: Operation) -> dict[str, Any]:
    """An operation with its rows and payments, as GET /_sandbox/operations shows it."""
    account = state.accounts[op.owner]
    return {
        "id": op.id,
        "type": op.type,
        "status": op.status,
        "import_source": op.import_source,
        "import_ref_id": op.import_ref,
        "fisk_bon_uuid": op.fisk_uuid,
        "storno": op.storno,
        "gross": fixed(op.gross, 2),
        "paid": fixed(op.paid, 2),
        "rows": [
            {
                "id": row.id,
                "sale_item_id": row.item.id,
                "qty": f"{row.qty:f}",
                "price": f"{row.price:f}",
                "discount": f"{row.discount:f}",
                "gross": fixed(row.gross, 2),
                "vat_percent": f"{row.item.rate:f}",
            }
            for row in op.rows
        ],
        "payments": [
            {"id": p.id, "pay_type_id": p.pay_type_id, "sum": fixed(p.amount, 2)}
            for p in op.payments
        ],
        "fields": operation_fields(op, account, state.switches.vat_rule),
    }


@ROUTES.get("/_sandbox/documents")
async def get_documents(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response([document_view(d) for d in state.visible_documents()])


@ROUTES.get("/_sandbox/operations")
async def get_operations(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response([operation_view(state, op) for op in state.operations])


@ROUTES.get("/_sandbox/config")
async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].switches.as_json())


@ROUTES.post("/_sandbox/config")
async def post_config(request: web.Request) -> web.Response:
    """Any of `{"vat_rule", "document_on_print", "document_delay_s", "reprint",
    "ignore_import_filters"}`; the others keep their values."""
    state, body = request.app[STATE], await control_body(request)
    try:
        state.switches = state.switches.updated(body)
    except ValueError as exc:
        raise problem(400, str(exc)) from None
    return web.json_response(state.switches.as_json())


@ROUTES.get("/_sandbox/emails")
async def get_emails(request: web.Request) -> web.Response:
    return web.json_response([])  # iCash sends no email; the route keeps sandboxes alike


@ROUTES.post("/_sandbox/expire-sessions")
async def post_expire_sessions(request: web.Request) -> web.Response:
    return web.json_response({"expired": request.app[STATE].expire_sessions()})


@ROUTES.get("/_sandbox/health")
async def get_health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {
            "status": "ok",
            "documents": len(state.visible_documents()),
            "operations": len(state.operations),
        }
    )


def add_control_routes(app: web.Application) -> None:
    """Register every `/_sandbox` endpoint on `app`."""
    add_shared_control_routes(app, STATE, FAULTS, ROUTES)
