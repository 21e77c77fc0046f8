"""A faithful local iCount (API v3) for the demo, merchants trying settings, and the tests.

Run it: `python -m sandboxes.icount --host 127.0.0.1 --port 8081`, or
in code `async with serve_sandbox(port=0) as sandbox: ... sandbox.api_url ...`.

API: `POST /api/v3.php/{module}/{method}` with a JSON or form body (nested form keys
as `items[0][description]`); methods `auth/login`, `auth/logout`, `app/info`,
`doc/create`, `doc/info`, `doc/search`, `doc/email`, `doc/get_doc_url`, `doc/cancel`, and the card
methods `cc_storage/store`, `cc_storage/get`, `cc/bill`, `cc/transactions` (their
choices, pattern cards included, are listed in `cards`). Auth, in
this order: `Authorization: Bearer <token>`, a `sid` from `auth/login`, or
`cid` + `user` + `pass` in the body (default account: demo / api / sandbox-pass,
token API3E8-sandbox-token).

Behaviour chosen where providers.md says *unknown* or *inferred*:

- Application errors are HTTP 200 `{"status": false, "reason", "error_description"}`
  with short English reason codes (auth_failed, invalid_sid, bad_method,
  bad_request, missing_items, bad_doctype, missing_payment, payment_mismatch,
  sanity_string_too_long, duplicate_sanity_string, doc_not_found, empty_query,
  no_results_found, too_many_results, ...); the real descriptions are often Hebrew,
  the sandbox's are English. A path that is no method is `bad_method`, as live iCount
  answers `doc/send`.
- Sessions never expire on their own; `POST /_sandbox/expire-sessions` forgets them
  all, after which a call with an old `sid` gets reason `invalid_sid`
  ("Invalid sid: ...").
- `doc/create` success puts `doctype`, `docnum` (a string), `doc_url`, `client_id`,
  `totalwithvat` and `totalvat` (decimal strings) and `vat_percent` (the document's
  rate, "18") at the top level; `totalvat` and `vat_percent` are guessed names (D-20).
  Numbers run per document type across the sandbox: invoice 10001, deal 20001,
  invrec 30001, offer 40001, receipt 50001, delivery 60001, refund 70001, order 80001.
- A repeated `sanity_string` (per company) issues no second document and sends no second
  email, even when the repeat's body differs or would not validate. What it answers is
  undocumented, so it is a switch (`--duplicate-mode`, or `POST /_sandbox/config
  {"duplicate_mode": ...}`): `reject` (the default) refuses it, `status: false` with reason
  `duplicate_sanity_string`; `return_existing` answers the EXISTING document, `status: true`
  and the same docnum.
- `invrec` and `receipt` need a payment block (cash, cc, cheques, banktransfer,
  paypal) whose sums equal the document total; other types do not. Every field of
  every method is checked against what the documentation lists (`schema`): an unknown
  field, a missing required one or any card secret is refused.
- Totals follow `rounding.document_totals` under a rounding rule iCount does not
  publish: `per_line` + `half_up` unless `--rounding-rule exact_sum|per_line|per_rate`,
  `--rounding half_up|half_even` or `POST /_sandbox/config {"rounding_rule": ...,
  "rounding": ...}` say otherwise (VAT 18% unless `vat_percent` or item `taxes` say).
- `send_email` truthy with an `email` (or `client_email`) records one email
  (`GET /_sandbox/emails`); nothing is ever sent.
- Clients are matched or created by name + email; ids are strings from "1".
- `doc/info` answers the document under `doc_info` (the live shape), its comment `hwc`
  included; whether it shows the `sanity_string` is a switch (`info_shows_sanity_string`,
  default false, `--info-shows-sanity-string` or `POST /_sandbox/config`), so both ways of
  finding a document by reference are exercised.
- `doc/search` answers `{"status": true, "results_list": [...], "results_count": n}`; its
  filters, its refusals (`empty_query`, `no_results_found`, `too_many_results` over 100) and
  the paging it does not do are in `sandboxes.icount.search`.
- `doc/email` (`doctype`, `docnum`, `email_to`) records one email (`GET /_sandbox/emails`) and
  answers `email_status: {<address>: {"email", "email_sent": true}}`; without `email_to` it
  falls back to the document's email, as live iCount does.
- `doc/get_doc_url` answers `doc_url`; `doc/cancel` marks, never deletes.
- `app/info` answers `cid`, `company_name`, `api_version`; no rate limit applies
  unless one is scripted (see `sandboxes.kit.faults`).

Control and inspection (not part of iCount): `GET|POST|DELETE /_sandbox/faults`,
`GET|POST /_sandbox/config` (`duplicate_mode`, `info_shows_sanity_string`),
`GET /_sandbox/documents`, `GET /_sandbox/emails`,
`GET /_sandbox/requests` (counts per path and a log with secrets blanked),
`POST /_sandbox/cards` (seed a stored card: `{"client_id", "card_number"}` → its
`cc_token_id`), `GET /_sandbox/transactions` (card charges, no card data, no tokens),
`POST /_sandbox/reset`, `POST /_sandbox/expire-sessions`, `GET /_sandbox/health`,
`GET /_sandbox/docs/{doctype}/{docnum}` (the document as a small HTML page).
Faults are scripted per path, e.g. `POST /_sandbox/faults {"path": "doc/create",
"plan": [503, "timeout-after-commit", "disconnect-after-commit", "too-many-requests",
{"latency_ms": 2000}, 200]}`; the full format is in `sandboxes.kit.faults`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from sandboxes.icount.control import DUPLICATE_MODES, FAULTS, STATE, add_control_routes
from sandboxes.icount.methods import METHODS, Call
from sandboxes.icount.rounding import (
    DEFAULT_ROUNDING,
    DEFAULT_RULE,
    ROUNDINGS,
    RULES,
    Rounding,
    RoundingRule,
)
from sandboxes.icount.rules import Refusal
from sandboxes.icount.schema import check_fields
from sandboxes.icount.state import DuplicateMode, SandboxAccount, SandboxState
from sandboxes.kit import serve
from sandboxes.kit.faults import FaultStep, without_prefix
from sandboxes.kit.parsing import bearer, parse_body
from sandboxes.kit.serve import RunningServer, answer_with_faults, serving
from worker.domain.redaction import redact

COMMIT_LOCK = web.AppKey("icount_sandbox_commit_lock", asyncio.Lock)
API_ROOT = "/api/v3.php"


def _auth_mode(token: str | None, body: dict[str, Any] | None) -> str | None:
    if token is not None:
        return "token"
    if body and body.get("sid"):
        return "sid"
    return "password" if body and body.get("pass") else None


def _fault_answer(status: int, retry_after: str | None = None) -> web.Response:
    headers = {"Retry-After": retry_after} if status == 429 and retry_after else None
    body = {
        "status": False,
        "reason": f"http_{status}",
        "error_description": f"Injected HTTP {status} (sandbox fault)",
    }
    return web.json_response(body, status=status, headers=headers)


def _before_work(step: FaultStep) -> web.Response | None:
    if step.kind == "status":
        return _fault_answer(step.status, step.retry_after)
    if step.kind == "throttle":
        return web.Response(text="Too many requests", content_type="text/plain")
    return None


async def _answer(request: web.Request, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
    state = request.app[STATE]
    method = METHODS.get(path)
    try:
        if body is None:
            raise Refusal("bad_request", "the body is neither JSON nor form data")
        if method is None:
            raise Refusal("bad_method", f"{path} is not an API method")
        check_fields(path, body)
        account = None if path == "auth/login" else state.authenticate(bearer(request), body)
        origin = f"{request.scheme}://{request.host}"
        async with request.app[COMMIT_LOCK]:
            return method(Call(state, account, body, origin))
    except Refusal as refusal:
        return refusal.answer()


async def _api(request: web.Request) -> web.StreamResponse:
    state, faults = request.app[STATE], request.app[FAULTS]
    path = f"{request.match_info['module']}/{request.match_info['method']}"
    raw = await request.read()
    body = parse_body(request.content_type, raw)
    state.log_request(path, redact(body), _auth_mode(bearer(request), body))

    async def work() -> web.StreamResponse:
        return web.json_response(await _answer(request, path, body))

    return await answer_with_faults(request, faults, faults.take(path, raw), _before_work, work)


def create_sandbox_app(
    *,
    accounts: Sequence[SandboxAccount] | None = None,
    duplicate_mode: DuplicateMode = "reject",
    info_shows_sanity_string: bool = False,
    seed: int | None = None,
    rounding_rule: RoundingRule = DEFAULT_RULE,
    rounding: Rounding = DEFAULT_ROUNDING,
) -> web.Application:
    """The sandbox as an aiohttp application (one default account unless `accounts`)."""
    app = web.Application()
    accounts = accounts or [SandboxAccount()]
    app[STATE] = SandboxState(
        accounts, duplicate_mode, info_shows_sanity_string, rounding_rule, rounding
    )
    serve.add_faults(app, FAULTS, seed, without_prefix(API_ROOT))
    app[COMMIT_LOCK] = asyncio.Lock()
    app.router.add_post(API_ROOT + "/{module}/{method}", _api)
    add_control_routes(app)
    return app


class RunningSandbox(RunningServer[SandboxState]):
    """A running iCount sandbox: `api_url` is `ICountSettings.base_url`."""

    state_key, api_root = STATE, API_ROOT


start_sandbox = serve.starting(RunningSandbox, create_sandbox_app)  #: (host, port=0, **options)
serve_sandbox = serving(start_sandbox)  #: `start_sandbox`, stopped on leaving the `async with`


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cid", default="demo", help="company id of the account")
    parser.add_argument("--user", default="api")
    parser.add_argument("--password", default="sandbox-pass")
    parser.add_argument("--token", default="API3E8-sandbox-token", help="Bearer API token")
    parser.add_argument(
        "--duplicate-mode",
        choices=list(DUPLICATE_MODES),
        default="reject",
        help="answer to a repeated sanity_string: refuse it (default) or return the first document",
    )
    parser.add_argument(
        "--info-shows-sanity-string",
        action="store_true",
        help="doc/info shows a document's sanity_string (by default only its hwc comment)",
    )
    parser.add_argument(
        "--rounding-rule", choices=RULES, default=DEFAULT_RULE, help="how VAT is rounded"
    )
    parser.add_argument(
        "--rounding", choices=ROUNDINGS, default=DEFAULT_ROUNDING, help="half_up or half_even"
    )


def _app(args: argparse.Namespace) -> web.Application:
    account = SandboxAccount(cid=args.cid, user=args.user, password=args.password, token=args.token)
    return create_sandbox_app(
        accounts=[account],
        duplicate_mode=args.duplicate_mode,
        info_shows_sanity_string=args.info_shows_sanity_string,
        seed=args.seed,
        rounding_rule=args.rounding_rule,
        rounding=args.rounding,
    )


#: `main(argv)`: the sandbox on a port until interrupted (`python -m sandboxes.icount`)
main = serve.command("sandboxes.icount", "A local iCount API v3 sandbox.", 8081, _options, _app)


if __name__ == "__main__":
    raise SystemExit(main())
