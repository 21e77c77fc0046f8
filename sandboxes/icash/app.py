"""A local iCash (client API v1, BG) that serves only the documented methods, strictly.

Run it: `python -m sandboxes.icash --host 127.0.0.1 --port 8083 [--vat-rule per_rate ...]`,
or in code `async with serve_sandbox(port=0, vat_rule="per_rate") as sandbox: ...
sandbox.api_url ...`.

API: `POST /clientapi/v1/<method>`, form-encoded (or JSON). Every call carries `api_key`,
`nonce`, `signature` = HMAC-SHA256(secret_key, nonce + WareHouseID + api_key) as 64
uppercase hex characters, and `WareHouseID`; every method but `login` also `ses`. The
nonce must exceed the last one the api_key sent ("Invalid nonce"). Default account:
api_key "sandbox-key", secret "sandbox-secret", warehouse 1, user 1, currency EUR. Answers
are HTTP 200 `{"nonce": "<echo, a string>", "status": 1, "data": ...}` or
`{"nonce": ..., "status": 0, "error_message": "..."}`.

Methods (and nothing else: any other name is "Unknown method <name>"): `login`,
`get-pay-types` (1 Cash, 2 Credit card, 3 Check, 4 Bank transfer), `get-cash-registers`
(1 "Web shop", VIRTUAL, store 1), `get-sale-items` (101 "Goods 20%", 102 "Goods 9%",
103 "Exempt goods", 104 "Services 20%"; tax groups 1→0 %, 2→20 %, 3→20 %, 4→9 %),
`add-contragent`, `get-contragents`, `new-operation` (Sell, ReturnClient; Delivery is
refused), `add-operation-sale-item`, `del-operation-sale-item`, `add-operation-payment`,
`print-operation`, `get-operation`, `operations-list`, `documents-list`, `get-document`.
Each method accepts exactly its documented fields (`fields.py`; the auth fields
api_key, nonce, signature, WareHouseID, UserID, ses go everywhere): an unknown field is
"Wrong value for X: not a field of <method>", a missing required one "Missing value for
X", a value of the wrong type, length or precision "Wrong value for X: why". Answers
hold only documented fields (no ImportRefID, no lines on an operation). There is no
duplicate guard anywhere: the same ImportRefID or customer twice makes two.

Money: a row's gross is Qty × SaleItemSinglePrice (with VAT) less its discount, to the
cent; OperationPrice is the sum. `print-operation` needs rows and payments summing
exactly to that gross; it makes the operation NORMAL and an INVOICE document (NORMAL,
or CREDIT for a ReturnClient, pointing at the document of the sale whose FiskBonUUID the
return named). Document lines are net of VAT as seed 003 shows (24.00 sold at 20 % →
SinglePrice 20.000000, base 20.00, total 24.00); DocumentTotalPrice is what was paid.

Switches, for what the docs leave open (`GET|POST /_sandbox/config`, CLI flags,
`create_sandbox_app(**switches)`; `/_sandbox/reset` restores the starting values):

- `vat_rule` = `per_line_vat` (default: each row's VAT rounded, the base the rest) |
  `per_line` (each row's net rounded) | `per_rate` (the net of each VAT rate's summed
  gross, as a fiscal device totals its tax groups): how iCash extracts the VAT is unknown.
- `document_on_print` = `immediate` (default) | `delayed` (the document appears
  `document_delay_s` seconds, default 2, after the print) | `never` (print-operation's
  page says nothing about documents: maybe none is made).
- `reprint` = `refuse` (default: "Wrong value for OperationID: the operation is already
  finalized") | `idempotent` (answers the OperationID again, makes nothing).
- `ignore_import_filters` = false (default) | true: operations-list and documents-list
  ignore ImportSource/ImportRefID, as a service might without saying so.

Sessions end after `session_ttl_s` idle (default 900 s) with "Session expired".

Control and inspection (not part of iCash): `GET|POST|DELETE /_sandbox/faults`,
`GET|POST /_sandbox/config`, `GET /_sandbox/documents`, `GET /_sandbox/operations`,
`GET /_sandbox/emails` (always `[]`), `GET /_sandbox/requests` (keys, signatures and
sessions blanked), `POST /_sandbox/reset`, `POST /_sandbox/expire-sessions`,
`GET /_sandbox/health`. Faults are scripted per method (`sandboxes.kit.faults`):
`{"path": "add-operation-sale-item", "plan": [503, "timeout-after-commit",
"disconnect-after-commit", "too-many-requests", {"latency_ms": 2000}, 200], "hang_s": 30}`;
the "-after-commit" ones do the method's work, then lose the answer.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from sandboxes.icash.control import FAULTS, STATE, add_control_routes
from sandboxes.icash.documents import DOCUMENT_METHODS
from sandboxes.icash.fields import check_fields
from sandboxes.icash.methods import REFERENCE_METHODS
from sandboxes.icash.models import (
    DOCUMENT_ON_PRINT,
    REPRINT,
    VAT_RULES,
    Refusal,
    SandboxAccount,
    Switches,
)
from sandboxes.icash.operations import OPERATION_METHODS
from sandboxes.icash.state import Call, Method, SandboxState
from sandboxes.kit import serve
from sandboxes.kit.faults import FaultStep, without_prefix
from sandboxes.kit.parsing import parse_body
from sandboxes.kit.serve import RunningServer, answer_with_faults, serving

API_ROOT = "/clientapi/v1"
#: every method the sandbox serves
METHODS: dict[str, Method] = {**REFERENCE_METHODS, **OPERATION_METHODS, **DOCUMENT_METHODS}


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
        served = METHODS[method]
        account = state.authenticate(body)
        if served.needs_session:
            state.check_session(account, body)
        values = check_fields(method, served.schema, body)
        data = served.handler(Call(state, account, body, values))
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
    **switches: Any,
) -> web.Application:
    """The sandbox as an aiohttp application (one default account unless `accounts`);
    `switches` are `models.Switches` fields (a bad one raises `ValueError`)."""
    app = web.Application()
    app[STATE] = SandboxState(
        accounts or [SandboxAccount()], session_ttl_s, clock, Switches().updated(switches)
    )
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
    parser.add_argument("--currency", default="EUR", help="the account's currency")
    parser.add_argument("--session-ttl", type=float, default=900, help="idle seconds")
    parser.add_argument("--vat-rule", choices=VAT_RULES, default="per_line_vat")
    parser.add_argument("--document-on-print", choices=DOCUMENT_ON_PRINT, default="immediate")
    parser.add_argument(
        "--document-delay-s",
        type=float,
        default=2.0,
        help="seconds until a delayed document appears",
    )
    parser.add_argument("--reprint", choices=REPRINT, default="refuse")
    parser.add_argument(
        "--ignore-import-filters",
        action="store_true",
        help="list methods ignore ImportSource/ImportRefID",
    )


def _app(args: argparse.Namespace) -> web.Application:
    account = SandboxAccount(
        api_key=args.api_key,
        secret=args.secret,
        warehouse_id=args.warehouse_id,
        user_id=args.user_id,
        currency=args.currency,
    )
    return create_sandbox_app(
        accounts=[account],
        session_ttl_s=args.session_ttl,
        seed=args.seed,
        vat_rule=args.vat_rule,
        document_on_print=args.document_on_print,
        document_delay_s=args.document_delay_s,
        reprint=args.reprint,
        ignore_import_filters=args.ignore_import_filters,
    )


#: `main(argv)`: the sandbox on a port until interrupted (`python -m sandboxes.icash`)
main = serve.command(
    "sandboxes.icash", "A local iCash client API v1 sandbox.", 8083, _options, _app
)


if __name__ == "__main__":
    raise SystemExit(main())
