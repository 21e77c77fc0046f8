"""The iCount API methods the sandbox serves: `auth/*`, `app/info`, `doc/*` (`search` decides
what `doc/search` lists; `card_methods` adds `cc_storage/*` and `cc/*`), over `SandboxState`.

Each method takes a `Call` and returns the JSON answer (`status: true` plus the
method's fields at the top level) or raises `Refusal` (`status: false`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandboxes.icount.card_methods import CARD_METHODS
from sandboxes.icount.rules import Refusal, check_document, check_sanity_string
from sandboxes.icount.search import search
from sandboxes.icount.state import Document, SandboxAccount, SandboxState
from worker.providers.icount.wire import format_amount, is_truthy

#: how the email subject names each document type
DOCTYPE_LABELS = {
    "invoice": "Tax invoice",
    "invrec": "Tax invoice-receipt",
    "receipt": "Receipt",
    "refund": "Credit invoice",
    "order": "Order",
    "offer": "Price offer",
    "delivery": "Delivery note",
    "deal": "Deal invoice",
}


@dataclass
class Call:
    """One authenticated API call: who, what, and where the sandbox is reachable."""

    state: SandboxState
    account: SandboxAccount | None
    body: dict[str, Any]
    origin: str  #: e.g. "http://127.0.0.1:8081", for document URLs

    @property
    def cid(self) -> str:
        assert self.account is not None
        return self.account.cid


def doc_url(origin: str, document: Document) -> str:
    """Where the sandbox shows `document` as a small HTML page."""
    return f"{origin}/_sandbox/docs/{document.doctype}/{document.docnum}"


def auth_login(call: Call) -> dict[str, Any]:
    account = call.state.check_password(call.body)
    return {"status": True, "sid": call.state.open_session(account)}


def auth_logout(call: Call) -> dict[str, Any]:
    call.state.sessions.pop(str(call.body.get("sid")), None)
    return {"status": True}


def app_info(call: Call) -> dict[str, Any]:
    account = call.account
    assert account is not None
    return {
        "status": True,
        "cid": account.cid,
        "company_name": account.company_name,
        "api_version": "v3",
        "sandbox": True,
    }


def _created(call: Call, document: Document) -> dict[str, Any]:
    return {
        "status": True,
        "doctype": document.doctype,
        "docnum": document.docnum,
        "doc_url": doc_url(call.origin, document),
        "client_id": document.client_id,
        "totalwithvat": format_amount(document.totals.total, document.currency),
        **document.vat_fields(),
    }


def _send(call: Call, document: Document, to: str) -> None:
    assert call.account is not None
    label = DOCTYPE_LABELS.get(document.doctype, document.doctype)
    subject = call.body.get("email_subject") or (
        f"{label} {document.docnum} from {call.account.company_name}"
    )
    call.state.record_email(document, to, str(subject))


def _email(call: Call, document: Document) -> None:
    body = call.body
    to = body.get("email") or body.get("client_email")
    if is_truthy(body.get("send_email")) and to:
        _send(call, document, str(to))


def doc_create(call: Call) -> dict[str, Any]:
    """Issue a document, or answer with the one an earlier call made with this sanity string."""
    state, body = call.state, call.body
    check_sanity_string(body)
    existing = state.existing(call.cid, body)
    if existing is not None:
        if state.duplicate_mode == "reject":
            raise Refusal(
                "duplicate_sanity_string",
                f"sanity_string was already used for {existing.doctype} {existing.docnum}",
            )
        return _created(call, existing)
    currency, totals = check_document(body, state.rounding_rule, state.rounding)
    document = state.add_document(call.cid, body, currency, totals)
    _email(call, document)
    return _created(call, document)


def _document(call: Call) -> Document:
    doctype, docnum = call.body.get("doctype"), call.body.get("docnum")
    if not doctype or not docnum:
        raise Refusal("missing_docnum", "doctype and docnum are required")
    document = call.state.find(str(doctype), str(docnum), call.cid)
    if document is None:
        raise Refusal("doc_not_found", f"there is no {doctype} number {docnum}")
    return document


def doc_info(call: Call) -> dict[str, Any]:
    """The document under `doc_info` (the live shape); `sanity_string` only with the switch."""
    document = _document(call)
    view = document.info_view(show_sanity_string=call.state.info_shows_sanity_string)
    return {"status": True, "doc_info": {**view, "doc_url": doc_url(call.origin, document)}}


def doc_email(call: Call) -> dict[str, Any]:
    """Email an issued document to `email_to`, else (as live iCount does, silently) to the
    address the document was made out to; one email recorded per call."""
    document = _document(call)
    to = str(call.body.get("email_to") or document.body.get("email") or "").strip()
    if not to:
        raise Refusal("missing_email", "email_to is required (the client has no email)")
    _send(call, document, to)
    return {"status": True, "email_status": {to: {"email": to, "email_sent": True}}}


def doc_get_doc_url(call: Call) -> dict[str, Any]:
    return {"status": True, "doc_url": doc_url(call.origin, _document(call))}


def doc_cancel(call: Call) -> dict[str, Any]:
    document = _document(call)
    if document.cancelled:
        raise Refusal("already_cancelled", f"{document.doctype} {document.docnum} is cancelled")
    document.cancelled = True
    return {"status": True, "doctype": document.doctype, "docnum": document.docnum}


def doc_search(call: Call) -> dict[str, Any]:
    """The caller's documents matching every filter given (`search` has the rules)."""
    found = search(call.state.of_company(call.cid), call.body)
    rows = [document.search_row() for document in found]
    return {"status": True, "results_list": rows, "results_count": len(rows)}


#: path → method; `auth/login` is the one method that needs no prior authentication
METHODS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "auth/login": auth_login,
    "auth/logout": auth_logout,
    "app/info": app_info,
    "doc/create": doc_create,
    "doc/info": doc_info,
    "doc/search": doc_search,
    "doc/get_doc_url": doc_get_doc_url,
    "doc/cancel": doc_cancel,
    "doc/email": doc_email,
    **CARD_METHODS,
}
