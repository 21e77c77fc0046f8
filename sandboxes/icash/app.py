"""A faithful local iCash (client API v1) for the demo, merchants trying settings, and the tests.

Run it: `python -m sandboxes.icash --host 127.0.0.1 --port 8083`, or in
code `async with serve_sandbox(port=0) as sandbox: ... sandbox.api_url ...`.

API: `POST /clientapi/v1/<method>`, form-encoded (nested as
`DocumentServices[0][DocumentServiceQty]`) or JSON. Every call carries `api_key`,
`nonce`, `signature` = HMAC-SHA256(secret, nonce + WareHouseID + api_key) in
uppercase hex, and `WareHouseID`; every method but `login` also `ses`. Default
account: api_key "sandbox-key", secret "sandbox-secret", warehouse 1, user 1.
Answers are HTTP 200 `{"nonce": "<echo, a string>", "status": 1, "data": ...}` or
`{"nonce": ..., "status": 0, "error_message": "..."}`.

Documented behaviour (providers.md C, D.3): `login` → `{session_id}` (32 hex);
`documents-list` with every documented filter, `sort`/`order`, `offset`/`count`
(count 1..100, default 10) → `{TotalRecords, Data}`; `get-document` → the document
with `DocumentServices`. Messages "Authentication Error", "Missing value for ses",
"Session expired", "Wrong value for X".

Chosen where providers.md says *unknown* (the client keeps these names in `wire`):

- `document-create` (the docs name no create method): fields DocumentType
  (INVOICE | PROFORMA, default INVOICE), DocumentSubType (NORMAL | CREDIT | DEBIT |
  ADVANCE), DocumentDate, DocumentCurrencyCode, DocumentContragentName (required) /
  Address / MOL / TaxNum / TaxNumVatReg, DocumentPayTypeID (1 cash, 2 bank transfer,
  3 card), DocumentPayDate, DocumentComment, DocumentToDocumentID (required for CREDIT
  and DEBIT: a live NORMAL document of the firm; refused otherwise), ImportSource,
  ImportRefID (any string up to 30 characters; filters compare digit strings as
  integers), and `DocumentServices[i]` lines: DocumentServiceDescription,
  DocumentServiceQty (> 0, DECIMAL(10,5)), DocumentServiceSinglePrice (VAT-inclusive,
  DECIMAL(19,6), may be negative for a rounding line), DocumentServiceVatPercent (0..100),
  DocumentServiceDiscount (% 0..100, 5 places). More decimals than a column holds are
  refused, not rounded; every refusal names the field. Line and document totals
  follow `wire.document_totals`; a negative document total is refused. The answer is
  the new document, as `get-document` shows it. There is NO duplicate guard: a second
  create with the same ImportRefID makes a second document, so clients look up first.
- `document-cancel` (DocumentID) sets DocumentStatus DELETED and never removes the
  document; a second cancel is refused with "Document is already deleted". Invoices
  with credit notes may be cancelled (no rule is known).
- `document-pdf` (DocumentID) → `{DocumentID, FileName, Base64}`: a small valid PDF.
- Numbers are 10 digits per firm and DocumentType: INVOICE (credit notes included)
  from 1000000001, PROFORMA from 2000000001; DocumentID counts across the sandbox.
- The nonce must exceed the last one the api_key sent, else "Invalid nonce"; it is
  recorded only once the signature checks out. A wrong WareHouseID (correctly
  signed) is "Wrong value for WareHouseID", a wrong UserID at login "Wrong value for
  UserID". Sessions end after `session_ttl_s` idle (default 900 s; each use renews
  them) with "Session expired"; several sessions per key may live at once. No rate
  limit applies unless one is scripted; an unknown method is "Unknown method <name>".

Control and inspection (not part of iCash): `GET|POST|DELETE /_sandbox/faults`,
`GET /_sandbox/documents`, `GET /_sandbox/emails` (always `[]`),
`GET /_sandbox/requests` (counts per method and a log with keys, signatures and
sessions blanked), `POST /_sandbox/reset`, `POST /_sandbox/expire-sessions`,
`GET /_sandbox/health`. Faults are scripted per method, as in every sandbox
(`sandboxes.kit.faults`): `POST /_sandbox/faults {"path":
"document-create", "plan": [503, "timeout-after-commit", "disconnect-after-commit",
"too-many-requests", {"latency_ms": 2000}, 200], "hang_s": 30, "retry_after": 5}`.
An injected status answers `{"status": 0, "error_message": "Injected HTTP <n>"}`
with that HTTP status; "too-many-requests" is a plain-text HTTP 429.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from sandboxes.icash.control import FAULTS, STATE, add_control_routes
from sandboxes.icash.methods import METHODS, Call
from sandboxes.icash.state import Refusal, SandboxAccount, SandboxState
from sandboxes.kit import serve
from sandboxes.kit.faults import FaultStep, without_prefix
from sandboxes.kit.parsing import parse_body
from sandboxes.kit.serve import RunningServer, answer_with_faults, serving

API_ROOT = "/clientapi/v1"


def _fault_answer(step: FaultStep) -> web.Response | None:
    if step.kind == "throttle":
        return web.Response(status=429, text="Too many requests", content_type="text/plain")
    if step.kind != "status":
        return None
    headers = {"Retry-After": step.retry_after} if step.status == 429 and step.retry_after else None
    body = {"status": 0, "error_message": f"Injected HTTP {step.status} (sandbox fault)"}
    return web.json_response(body, status=step.status, headers=headers)


def _answer(state: SandboxState, method: str, body: dict[str, Any] | None) -> dict[str, Any]:
    nonce = "" if body is None else str(body.get("nonce", ""))
    try:
        if body is None:
            raise Refusal("Malformed request body")
        if method not in METHODS:
            raise Refusal(f"Unknown method {method}")
        handler, needs_session = METHODS[method]
        account = state.authenticate(body)
        if needs_session:
            state.check_session(account, body)
        data = handler(Call(state, account, body))
    except Refusal as refusal:
        return {"nonce": nonce, "status": 0, "error_message": refusal.message}
    return {"nonce": nonce, "status": 1, "data": data}


async def _api(request: web.Request) -> web.StreamResponse:
    state, faults = request.app[STATE], request.app[FAULTS]
    method = request.match_info["method"]
    raw = await request.read()
    body = parse_body(request.content_type, raw)
    state.log_request(method, body)

    async def work() -> web.StreamResponse:
        return web.json_response(_answer(state, method, body))

    return await answer_with_faults(request, faults, faults.take(method, raw), _fault_answer, work)


def create_sandbox_app(
    *,
    accounts: Sequence[SandboxAccount] | None = None,
    session_ttl_s: float = 900,
    seed: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """The sandbox as an aiohttp application (one default account unless `accounts`)."""
    app = web.Application()
    app[STATE] = SandboxState(accounts or [SandboxAccount()], session_ttl_s, clock)
    serve.add_faults(app, FAULTS, seed, without_prefix(API_ROOT))
    app.router.add_post(API_ROOT + "/{method}", _api)
    add_control_routes(app)
    return app


class RunningSandbox(RunningServer[SandboxState]):
    """A running iCash sandbox: `api_url` is `ICashSettings.base_url`."""

    state_key, api_root = STATE, API_ROOT


start_sandbox = serve.starting(RunningSandbox, create_sandbox_app)  #: (host, port=0, **options)
serve_sandbox = serving(start_sandbox)  #: `start_sandbox`, stopped on leaving the `async with`


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default="sandbox-key")
    parser.add_argument("--secret", default="sandbox-secret", help="the account's secret_key")
    parser.add_argument("--warehouse-id", type=int, default=1)
    parser.add_argument("--user-id", type=int, default=1)
    parser.add_argument("--session-ttl", type=float, default=900, help="idle seconds")


def _app(args: argparse.Namespace) -> web.Application:
    account = SandboxAccount(
        api_key=args.api_key,
        secret=args.secret,
        warehouse_id=args.warehouse_id,
        user_id=args.user_id,
    )
    return create_sandbox_app(accounts=[account], session_ttl_s=args.session_ttl, seed=args.seed)


#: `main(argv)`: the sandbox on a port until interrupted (`python -m sandboxes.icash`)
main = serve.command(
    "sandboxes.icash", "A local iCash client API v1 sandbox.", 8083, _options, _app
)


if __name__ == "__main__":
    raise SystemExit(main())
