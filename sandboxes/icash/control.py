"""The iCash sandbox's own endpoints under `/_sandbox`: faults, inspection, reset, sessions.

Not part of iCash; shaped like the iCount sandbox's so tools treat sandboxes alike.
Control bodies are JSON: one that is not JSON is a 400, one that parses but makes
no sense a 422, each with a problem+json body.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandboxes.icash.state import Document, SandboxState
from sandboxes.kit.faults import Faults
from sandboxes.kit.serve import add_shared_control_routes

STATE = web.AppKey("icash_sandbox_state", SandboxState)
FAULTS = web.AppKey("icash_sandbox_faults", Faults)
#: prefix a fault plan's path may carry; plans are keyed by the bare method name
API_PREFIX = "clientapi/v1/"


def _problem(status: int, detail: str) -> web.HTTPException:
    body = {"title": "bad sandbox control request", "status": status, "detail": detail}
    exc = web.HTTPBadRequest if status == 400 else web.HTTPUnprocessableEntity
    return exc(text=web.json_response(body).text, content_type="application/problem+json")


def view(document: Document) -> dict[str, Any]:
    """A document as GET /_sandbox/documents shows it: short names plus every iCash field."""
    fields = document.fields
    credit = fields["DocumentSubType"] == "CREDIT"
    return {
        "doctype": "CREDIT" if credit else fields["DocumentType"],
        "docnum": str(fields["DocumentNum"]),
        "id": str(fields["DocumentID"]),
        "import_source": fields["ImportSource"],
        "import_ref_id": fields["ImportRefID"],
        "total": fields["DocumentTotalPrice"],
        "currency": fields["DocumentCurrencyCode"],
        "status": fields["DocumentStatus"],
        "to_document_id": fields["DocumentToDocumentID"],
        "date": fields["DocumentDate"],
        "contragent": fields["DocumentContragentName"],
        "fields": fields,
    }


async def get_documents(request: web.Request) -> web.Response:
    return web.json_response([view(d) for d in request.app[STATE].documents])


async def get_emails(request: web.Request) -> web.Response:
    return web.json_response([])  # iCash sends no email; the route keeps sandboxes alike


async def post_expire_sessions(request: web.Request) -> web.Response:
    return web.json_response({"expired": request.app[STATE].expire_sessions()})


async def get_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "documents": len(request.app[STATE].documents)})


async def post_faults(request: web.Request) -> web.Response:
    try:
        spec = await request.json()
    except ValueError:
        raise _problem(400, "the body is not JSON") from None
    if not isinstance(spec, dict):
        raise _problem(422, "the body must be a JSON object")
    if isinstance(spec.get("path"), str):
        spec["path"] = spec["path"].strip("/").removeprefix(API_PREFIX)
    faults = request.app[FAULTS]
    try:
        faults.configure(spec)
    except ValueError as exc:
        raise _problem(422, str(exc)) from None
    return web.json_response(faults.describe())


def add_control_routes(app: web.Application) -> None:
    """Register every `/_sandbox` endpoint on `app`."""
    add_shared_control_routes(app, STATE, FAULTS)
    router = app.router
    router.add_post("/_sandbox/faults", post_faults)
    router.add_get("/_sandbox/documents", get_documents)
    router.add_get("/_sandbox/emails", get_emails)
    router.add_post("/_sandbox/expire-sessions", post_expire_sessions)
    router.add_get("/_sandbox/health", get_health)
