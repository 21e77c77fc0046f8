"""A faithful local iDoklad (API v2) for the demo, merchants trying settings, and the tests.

Run it: `python -m sandboxes.idoklad --host 127.0.0.1 --port 8082`, or in
code `async with serve_sandbox(port=0) as sandbox: ... sandbox.api_url, sandbox.token_url`.
The default API client is `demo-client` / `sandbox-secret`.

Token: `POST /server/connect/token` (form: grant_type=client_credentials, client_id,
client_secret, scope=idoklad_api) → `{access_token, expires_in, token_type}`; errors
are 400 `{"error": "unsupported_grant_type" | "invalid_client" | "invalid_scope"}`.
API under `/v2/` with `Authorization: Bearer`: `Contacts` (list, `Default`, `{id}`,
POST), `IssuedInvoices` (list, `Default`, `{id}`, POST, `{id}/FullyPay`,
`{id}/SendMailToPurchaser`, `{id}/GetPdf`), `CreditNotes` (list, `{id}`,
`{id}/FullyPay`), `Reports/CreditNote/{id}/Pdf`, `Mails/IssuedInvoice/Send`,
`Mails/CreditNote/Send`, `Currencies`, `Countries` (249, so two pages of 200),
`VatRates`, and `Test/RateLimitExceeded` (429, `Retry-After: 60`),
`Test/PaymentRequired` (402), `Test/DowngradeNeeded` (403), `Test/GetActualApiLimit`.
Under `/v3/` (same token; `ApiResult` envelopes): only `GET CreditNotes/Default/{invoiceId}`
and `POST CreditNotes` (`v3`), the documented way to make a credit note; there is no
`POST v2/CreditNotes`, as seed 004 has none. Lists, filters and paging (`pagesize` ≤ 200,
else 400): `query`; bodies and validation: `models`; numbering, payment and PDFs: `documents`.
A PUT, POST, PATCH or DELETE without `Content-Type` is a 400 (seed 004).

Behaviour chosen where providers.md says *unknown* or *inferred*:

- No duplicate guard: two POSTs make two documents (clients must look up first).
- A missing, unknown or expired token is 401 `{"Message": "Authorization has been
  denied for this request."}`; tokens live `token_ttl_s` (3600) seconds, and
  `POST /_sandbox/expire-tokens` expires them all at once.
- Rate limit (off unless `rate_limit_per_s` is set, at start or via
  `POST /_sandbox/config`): one token bucket over all `/v2/` calls of all clients,
  bursts of max(1, rate); a call over it is 429 with `Retry-After` = whole seconds
  until a slot (1 at rates ≥ 1/s) and has no side effect. The token endpoint is
  not limited.
- Errors are `{"Message": ...}`; a 400 adds `ModelState` {field: [errors]}.
- Totals follow `wire.item_amounts` exactly (Decimal, half-up per item);
  money is answered as JSON numbers.
- `OrderNumber` is filterable (the real service may refuse it, D.2.7);
  `POST /_sandbox/config {"order_number_filter": false}` makes it a 400 like an
  unknown property, to exercise the client's `Description~ct~` fallback.
- `{"ignore_filters": true}` answers every list unfiltered (the `filter` parameter is
  dropped, paging and sort still apply), as a service silently ignoring a filter would.
- A `DocumentSerialNumber` from a Default model is used while it is still free; a taken
  one is replaced by the next free serial (the real behaviour is a guess, fact I-12).

Control and inspection (not part of iDoklad): `GET|POST|DELETE /_sandbox/faults`,
`GET|POST /_sandbox/config`, `GET /_sandbox/documents`, `GET /_sandbox/contacts`,
`GET /_sandbox/emails`, `GET /_sandbox/requests`, `POST /_sandbox/reset`,
`POST /_sandbox/expire-tokens`, `GET /_sandbox/health`. Faults use the kit's
plans (`sandboxes.kit.faults`): `POST /_sandbox/faults {"path": "IssuedInvoices", "plan": [503,
"timeout-after-commit", "disconnect-after-commit", {"latency_ms": 200}, 429, 200],
"retry_after": 5, "hang_s": 30, "match": "..."}` (`path` as in `control`;
"too-many-requests" is a 429 here; a GET's `match` is tested against its query).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from sandboxes.idoklad.api import TOKEN_PATH, add_api_routes, answer
from sandboxes.idoklad.control import add_control_routes, fault_path
from sandboxes.idoklad.models import ApiError
from sandboxes.idoklad.state import COMPANY, DEFAULT_CLIENTS, FAULTS, STATE, SandboxState
from sandboxes.idoklad.v3 import add_v3_routes, error_body
from sandboxes.kit import serve
from sandboxes.kit.faults import FaultStep
from sandboxes.kit.parsing import bearer
from sandboxes.kit.serve import RunningServer, answer_with_faults, serving
from worker.providers.idoklad.wire import loads

API_PREFIX, V3_PREFIX = "/v2/", "/v3/"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: seed 004: "While using PUT, POST, PATCH or DELETE request, add header Content-Type" (I-6)
MISSING_CONTENT_TYPE = ApiError(
    400, "The request is invalid.", {"Content-Type": ["The Content-Type header is required."]}
)


def _error(exc: ApiError, *, v3: bool = False) -> web.Response:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    body = error_body(exc) if v3 else exc.body()
    return answer(body, status=exc.status, headers=headers)


def _loggable(raw: bytes) -> object:
    try:
        return loads(raw) if raw.strip() else None
    except ValueError:
        return raw[:200].decode(errors="replace")


def _before_work(step: FaultStep) -> web.Response | None:
    if step.kind not in ("status", "throttle"):
        return None
    status = 429 if step.kind == "throttle" else step.status
    wait = step.retry_after
    retry_after = int(wait) if wait and wait.isdigit() and status == 429 else None
    message = f"Injected HTTP {status} (sandbox fault)."
    return _error(ApiError(status, message, retry_after=retry_after))


async def _serve(request: web.Request, handler: _Handler) -> web.StreamResponse:
    v3 = request.path.startswith(V3_PREFIX)
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc, v3=v3)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = "No HTTP resource was found that matches the request URI."
        return _error(ApiError(exc.status, message if exc.status == 404 else exc.reason), v3=v3)


async def _with_faults(request: web.Request, handler: _Handler, path: str) -> web.StreamResponse:
    faults = request.app[FAULTS]
    raw = await request.read() or request.query_string.encode()
    step = faults.take(f"{request.method} {path}", raw) or faults.take(path, raw)
    return await answer_with_faults(
        request, faults, step, _before_work, lambda: _serve(request, handler)
    )


async def _api_call(request: web.Request, handler: _Handler, path: str) -> web.StreamResponse:
    state = request.app[STATE]
    state.log_request(request.method, path, request.query, _loggable(await request.read()))
    company = state.company_for(bearer(request))
    if company is None:
        return _error(ApiError(401, "Authorization has been denied for this request."))
    request[COMPANY] = company
    if request.method != "GET" and not request.headers.get("Content-Type"):
        return _error(MISSING_CONTENT_TYPE, v3=path.startswith("v3/"))
    wait_s = state.limiter.take()
    if wait_s is not None:
        return _error(ApiError(429, "The API limit was exceeded.", retry_after=wait_s))
    return await _with_faults(request, handler, path)


@web.middleware
async def _gateway(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Auth, rate limit, request log and faults for the API; faults for the token endpoint."""
    if request.path.startswith(API_PREFIX):
        return await _api_call(request, handler, request.path.removeprefix(API_PREFIX))
    if request.path.startswith(V3_PREFIX):
        return await _api_call(request, handler, request.path.removeprefix("/"))
    if request.path == TOKEN_PATH:
        return await _with_faults(request, handler, "connect/token")
    return await handler(request)


def create_sandbox_app(
    *,
    clients: Mapping[str, str] | None = None,
    rate_limit_per_s: float | None = None,
    token_ttl_s: int = 3600,
    seed: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """The sandbox as an aiohttp application; `clients` maps client id → secret."""
    app = web.Application(middlewares=[_gateway])
    app[STATE] = SandboxState(
        clients or DEFAULT_CLIENTS,
        token_ttl_s=token_ttl_s,
        rate_limit_per_s=rate_limit_per_s,
        clock=clock,
    )
    serve.add_faults(app, FAULTS, seed, fault_path)
    add_api_routes(app)
    add_v3_routes(app)
    add_control_routes(app)
    return app


class RunningSandbox(RunningServer[SandboxState]):
    """A running iDoklad sandbox: `api_url` is `IDokladSettings.base_url`."""

    state_key, api_root = STATE, "/v2"

    @property
    def token_url(self) -> str:
        """`IDokladSettings.token_url` for this sandbox."""
        return f"{self.url}{TOKEN_PATH}"


start_sandbox = serve.starting(RunningSandbox, create_sandbox_app)  #: (host, port=0, **options)
serve_sandbox = serving(start_sandbox)  #: `start_sandbox`, stopped on leaving the `async with`


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client-id", default="demo-client")
    parser.add_argument("--client-secret", default="sandbox-secret")
    parser.add_argument("--rate-limit-per-s", type=float, default=None)
    parser.add_argument("--token-ttl-s", type=int, default=3600)


def _app(args: argparse.Namespace) -> web.Application:
    return create_sandbox_app(
        clients={args.client_id: args.client_secret},
        rate_limit_per_s=args.rate_limit_per_s,
        token_ttl_s=args.token_ttl_s,
        seed=args.seed,
    )


#: `main(argv)`: the sandbox on a port until interrupted (`python -m sandboxes.idoklad`)
main = serve.command(
    "sandboxes.idoklad", "A local iDoklad API v2 sandbox.", 8082, _options, _app, banner=False
)


if __name__ == "__main__":
    raise SystemExit(main())
