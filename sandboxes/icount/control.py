"""The sandbox's own endpoints under `/_sandbox`: faults, config, inspection, reset, document pages.

Not part of iCount. The request log, reset and the fault plans are the kit's
(`sandboxes.kit.control`, as are its 400 and 422 problem answers); the rest is iCount's.
"""

from __future__ import annotations

import html
from datetime import date
from typing import Any

from aiohttp import web

from sandboxes.icount.cards import card_of
from sandboxes.icount.rounding import ROUNDINGS, RULES
from sandboxes.icount.rules import Refusal
from sandboxes.icount.state import Document, SandboxState
from sandboxes.kit.control import ControlRoutes, add_shared_control_routes, control_body, problem
from sandboxes.kit.faults import Faults

STATE = web.AppKey("icount_sandbox_state", SandboxState)
FAULTS = web.AppKey("icount_sandbox_faults", Faults)
#: this sandbox's own `/_sandbox` endpoints (the kit adds the shared ones)
ROUTES = ControlRoutes()
#: the answers to a repeated sanity_string the sandbox can give; the first is its default
DUPLICATE_MODES = ("reject", "return_existing")


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


#: the switches `POST /_sandbox/config` sets, each with the values it takes
CONFIG_CHOICES: dict[str, tuple[str | bool, ...]] = {
    "duplicate_mode": DUPLICATE_MODES,
    "rounding_rule": RULES,
    "rounding": ROUNDINGS,
    "info_shows_sanity_string": (True, False),
}


@ROUTES.get("/_sandbox/config")
async def get_config(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response({key: getattr(state, key) for key in CONFIG_CHOICES})


@ROUTES.post("/_sandbox/config")
async def post_config(request: web.Request) -> web.Response:
    """Set any of `duplicate_mode`, `rounding_rule`, `rounding`; a 422 names a bad one."""
    body = await control_body(request)
    if not body or set(body) - set(CONFIG_CHOICES):
        raise problem(422, f"set one or more of {', '.join(CONFIG_CHOICES)}")
    for key, value in body.items():
        if value not in CONFIG_CHOICES[key]:
            raise problem(422, f"{key} must be one of {', '.join(map(str, CONFIG_CHOICES[key]))}")
    for key, value in body.items():
        setattr(request.app[STATE], key, value)
    return await get_config(request)


def _view(request: web.Request, document: Document) -> dict[str, Any]:
    url = f"{_origin(request)}/_sandbox/docs/{document.doctype}/{document.docnum}"
    return {**document.to_json(), "doc_url": url}


@ROUTES.get("/_sandbox/documents")
async def get_documents(request: web.Request) -> web.Response:
    return web.json_response([_view(request, d) for d in request.app[STATE].documents])


@ROUTES.get("/_sandbox/emails")
async def get_emails(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].emails)


@ROUTES.post("/_sandbox/cards")
async def post_cards(request: web.Request) -> web.Response:
    """Seed a stored card: `{"client_id", "card_number", "validity"?, "cid"?}` → its token id.

    `validity` defaults to December three years ahead, `cid` to the first account; a CVV
    sent along is ignored. A malformed card is a 422.
    """
    state, body = request.app[STATE], await control_body(request)
    cid = str(body.get("cid") or next(iter(state.accounts)))
    client_id = str(body.get("client_id") or "")
    if cid not in state.accounts or not client_id:
        raise problem(422, "client_id is required (and cid must name an account)")
    validity = body.get("validity") or f"{date.today().year + 3}-12"
    try:
        stored = state.cards.store(cid, client_id, card_of(body.get("card_number"), validity))
    except Refusal as refusal:
        raise problem(422, f"{refusal.reason}: {refusal.description}") from None
    card = stored.card
    return web.json_response(
        {
            "status": True,
            "cc_token_id": stored.token_id,
            "cid": cid,
            "client_id": client_id,
            "last4": card.last4,
            "cc_card_type": card.card_type,
        }
    )


@ROUTES.get("/_sandbox/transactions")
async def get_transactions(request: web.Request) -> web.Response:
    """Every card transaction (no card number, no token id)."""
    made = request.app[STATE].cards.transactions
    return web.json_response([{**t.to_json(), "cid": t.cid} for t in made])


@ROUTES.post("/_sandbox/expire-sessions")
async def post_expire_sessions(request: web.Request) -> web.Response:
    return web.json_response({"expired": request.app[STATE].expire_sessions()})


@ROUTES.get("/_sandbox/health")
async def get_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "documents": len(request.app[STATE].documents)})


def _price(item: dict[str, Any]) -> str:
    for key in ("unitprice_incvat", "unitprice", "unitprice_exempt"):
        if item.get(key) not in (None, ""):
            return f"{item[key]}" + (" incl. VAT" if key == "unitprice_incvat" else "")
    return ""


def render_document(view: dict[str, Any]) -> str:
    """A document as a small, self-contained HTML page."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(str(i.get('description', '')))}</td><td>{e(str(i.get('quantity', '')))}"
        f"</td><td>{e(_price(i))}</td></tr>"
        for i in view["items"]
        if isinstance(i, dict)
    )
    title = f"{e(view['doctype'])} {e(view['docnum'])}"
    status = " (cancelled)" if view["cancelled"] else ""
    about = " · ".join(
        e(str(view[key])) for key in ("client_name", "doc_date", "hwc") if view.get(key)
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}{status}</h1><p>Sandbox document: {about}</p><table border='1'>"
        f"<tr><th>Item</th><th>Quantity</th><th>Unit price</th></tr>{rows}</table>"
        f"<p>VAT {e(view['vat'])} {e(view['currency'])}. Total <b>{e(view['totalwithvat'])} "
        f"{e(view['currency'])}</b></p></body></html>"
    )


@ROUTES.get("/_sandbox/docs/{doctype}/{docnum}")
async def get_document_page(request: web.Request) -> web.Response:
    doctype, docnum = request.match_info["doctype"], request.match_info["docnum"]
    document = request.app[STATE].find(doctype, docnum, request.query.get("cid"))
    if document is None:
        raise web.HTTPNotFound(text=f"no {doctype} {docnum} in this sandbox")
    return web.Response(text=render_document(document.to_json()), content_type="text/html")


def add_control_routes(app: web.Application) -> None:
    """Register every `/_sandbox` endpoint on `app`."""
    add_shared_control_routes(app, STATE, FAULTS, ROUTES)
