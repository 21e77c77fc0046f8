"""The iCash sandbox's own endpoints under `/_sandbox`: faults, inspection, reset, sessions.

Not part of iCash; shaped like every sandbox's so tools treat sandboxes alike (the
request log, reset and fault plans are the kit's: `sandboxes.kit.control`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandboxes.icash.state import Document, SandboxState
from sandboxes.kit.control import add_shared_control_routes
from sandboxes.kit.faults import Faults

STATE = web.AppKey("icash_sandbox_state", SandboxState)
FAULTS = web.AppKey("icash_sandbox_faults", Faults)


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


def add_control_routes(app: web.Application) -> None:
    """Register every `/_sandbox` endpoint on `app`."""
    add_shared_control_routes(app, STATE, FAULTS)
    router = app.router
    router.add_get("/_sandbox/documents", get_documents)
    router.add_get("/_sandbox/emails", get_emails)
    router.add_post("/_sandbox/expire-sessions", post_expire_sessions)
    router.add_get("/_sandbox/health", get_health)
