"""iDoklad client: one `_request` seam over aiohttp with an OAuth2 client-credentials token.

The token (`POST token_url`, form-encoded, scope `idoklad_api`) is fetched lazily,
cached, refreshed `REFRESH_MARGIN_S` before it expires (half its lifetime when that
is shorter) and fetched again once when the API answers 401; a second 401 is
`Permanent("auth_failed")`. A 401 means the call was not carried out, so repeating
a mutating call after it is safe.

The bytes go through `worker.providers.http.send`, which maps transport errors onto the
error tree by what iDoklad may have done: nothing was sent (refused, DNS, connect timeout)
→ `Retryable`; sent but the answer was lost (read timeout, dropped connection) →
`OutcomeUnknown` for calls that change something, `Retryable` for reads. A garbled answer
to a call that changes something is `OutcomeUnknown` too. Neither the client secret nor the token
ever appears in an error message; nothing here logs.

Every call other than a GET carries `Content-Type: application/json`, with or without
a body (seed 004, "Adding and updating record"; fact I-6). Code lists are read page
by page, `MAX_PAGE_SIZE` at a time, until `TotalPages` (fact I-7). Credit notes are
made through API v3 (`GET CreditNotes/Default/{invoiceId}`, `POST CreditNotes`, fact
I-10) at `v3_base_url(base_url)` with the same token; v3 answers are unwrapped from
their `ApiResult` envelope.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Any

import aiohttp

from worker.errors import OutcomeUnknown, Permanent
from worker.metrics import operation_of
from worker.providers import http
from worker.providers.idoklad.wire import (
    ListPage,
    MalformedAnswer,
    TokenRejected,
    decipher,
    decipher_token,
    dumps,
    list_params,
    parse_list,
    unwrap_v3,
    v3_base_url,
)
from worker.providers.pacer import pacer_for
from worker.settings import IDokladSettings

#: refresh the token this many seconds before it expires
REFRESH_MARGIN_S = 60.0
#: the largest page v2 serves (seed 004, Pagination: "Max item count per page is 200")
MAX_PAGE_SIZE = 200
#: pages read by `pages()` at most (200 000 rows), so a looping answer cannot spin forever
MAX_PAGES = 1000
#: the token call, for metrics and messages (a read: fetching a token changes nothing)
_TOKEN_CALL = http.Call(
    provider="idoklad", label="iDoklad", operation="POST connect/token", mutating=False
)
_Params = Mapping[str, str]


class IDokladClient:
    """A tenant's iDoklad account, reached over a shared `aiohttp.ClientSession`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: IDokladSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pacer = pacer_for(settings.base_url, settings.client_id)
        self._session = session
        self._settings = settings
        self._base_url = settings.base_url.rstrip("/")
        #: where credit notes are made; None when `base_url` does not end in `/v2`
        self.v3_url = v3_base_url(settings.base_url)
        self._secret = settings.client_secret.get_secret_value()
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    # --- resources ------------------------------------------------------------------------

    async def default(self, resource: str) -> dict[str, Any]:
        """`GET {resource}/Default`: a new entity filled with the account's defaults."""
        return _object(await self._request("GET", f"{resource}/Default", mutating=False))

    async def list_page(self, resource: str, **query: Any) -> ListPage:
        """`GET {resource}` with `list_params(**query)` (filter, sort, page, pagesize...)."""
        data = await self._request("GET", resource, params=list_params(**query), mutating=False)
        return parse_list(data)

    async def pages(self, resource: str, **query: Any) -> AsyncIterator[ListPage]:
        """Every page of `GET {resource}`, `MAX_PAGE_SIZE` rows each, up to `TotalPages`."""
        for page in range(1, MAX_PAGES + 1):
            found = await self.list_page(resource, page=page, pagesize=MAX_PAGE_SIZE, **query)
            yield found
            if not found.items or page >= found.total_pages:
                return

    async def code_list(self, name: str) -> list[dict[str, Any]]:
        """A whole code list (`Currencies`, `Countries`, `VatRates`, ...), every page of it."""
        return [item async for page in self.pages(name) for item in page.items]

    async def get(self, resource: str, entity_id: int) -> dict[str, Any]:
        return _object(await self._request("GET", f"{resource}/{entity_id}", mutating=False))

    async def create(self, resource: str, body: Mapping[str, object]) -> dict[str, Any]:
        """`POST {resource}`; the created entity. Not idempotent: look up before repeating."""
        data = await self._request("POST", resource, json=body, mutating=True)
        if not isinstance(data, dict):
            raise OutcomeUnknown(f"iDoklad POST {resource} answered without the entity")
        return data

    async def credit_note_default(self, invoice_id: int) -> dict[str, Any]:
        """v3 `GET CreditNotes/Default/{invoiceId}`: a credit note of that invoice, to POST."""
        path = f"CreditNotes/Default/{invoice_id}"
        return _object(await self._request("GET", path, mutating=False, v3=True))

    async def create_credit_note(self, body: Mapping[str, object]) -> dict[str, Any]:
        """v3 `POST CreditNotes`; the created credit note. Not idempotent: look up first."""
        data = await self._request("POST", "CreditNotes", json=body, mutating=True, v3=True)
        if not isinstance(data, dict):
            raise OutcomeUnknown("iDoklad POST v3/CreditNotes answered without the entity")
        return data

    async def fully_pay(self, invoice_id: int, day: date) -> None:
        """Mark an issued invoice paid on `day` (paying a paid invoice changes nothing)."""
        params = {"dateOfPayment": day.isoformat()}
        await self._request(
            "PUT", f"IssuedInvoices/{invoice_id}/FullyPay", params=params, mutating=True
        )

    async def send_mail_to_purchaser(self, invoice_id: int) -> None:
        """Email an issued invoice to its purchaser contact."""
        path = f"IssuedInvoices/{invoice_id}/SendMailToPurchaser"
        await self._request("PUT", path, mutating=True)

    async def send_credit_note_mail(self, credit_note_id: int) -> None:
        """Email a credit note to its purchaser contact (`Mails/CreditNote/Send`)."""
        body = {
            "DocumentId": credit_note_id,
            "SendToPurchaser": True,
            "SendToSelf": False,
            "SendToAccountant": False,
            "OtherRecipients": [],
        }
        await self._request("POST", "Mails/CreditNote/Send", json=body, mutating=True)

    async def pdf(self, path: str) -> bytes:
        """`GET path` (`IssuedInvoices/{id}/GetPdf`, `Reports/CreditNote/{id}/Pdf`): the
        base64 JSON string, decoded (fact I-13)."""
        data = await self._request("GET", path, mutating=False)
        try:
            return base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedAnswer("iDoklad's GetPdf answer is not base64") from None

    async def call(self, method: str, path: str, *, mutating: bool = False) -> Any:
        """Any other call (e.g. the `Test/...` endpoints), deciphered."""
        return await self._request(method, path, mutating=mutating)

    # --- the seam -------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: _Params | None = None,
        json: Mapping[str, object] | None = None,
        mutating: bool,
        v3: bool = False,
    ) -> Any:
        root = self.v3_url if v3 else self._base_url
        if root is None:
            raise Permanent("iDoklad's v3 API root is unknown", reason="credit_note_unsupported")
        call = _Call(method, root, path, params, json, mutating, v3)

        async def send() -> Any:
            token = await self._access_token(stale=None)
            try:
                return await self._send(call, token)
            except TokenRejected:
                token = await self._access_token(stale=token)
                return await self._send(call, token)

        return await self._pacer.call(send)

    async def _send(self, call: _Call, token: str) -> Any:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if call.method != "GET":  # seed 004: Content-Type on PUT, POST, PATCH, DELETE
            headers["Content-Type"] = "application/json"
        data = None if call.body is None else dumps(call.body).encode()
        method, path = call.method, call.path
        names = http.Call(
            provider="idoklad",
            label="iDoklad",
            operation=f"{method} {operation_of(path)}",
            mutating=call.mutating,
            what=f"{method} {path}",
        )
        decode = partial(self._decipher, call, token)
        url = f"{call.root}/{path}"
        return await http.send(
            self._session,
            method,
            url,
            names,
            decode,
            timeout_s=self._settings.timeout_s,
            params=call.params,
            data=data,
            headers=headers,
        )

    def _decipher(self, call: _Call, token: str, answer: http.Answer) -> Any:
        try:
            data = decipher(
                answer.status, answer.body, answer.retry_after, secrets=(self._secret, token)
            )
            return unwrap_v3(data) if call.v3 else data
        except MalformedAnswer as exc:
            if call.mutating:
                raise OutcomeUnknown(f"iDoklad {call.method} {call.path}: {exc}") from exc
            raise

    async def _access_token(self, *, stale: str | None) -> str:
        async with self._lock:
            expired = self._clock() >= self._refresh_at
            if self._token is None or self._token == stale or expired:
                await self._fetch_token()
            assert self._token is not None
            return self._token

    async def _fetch_token(self) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._settings.client_id,
            "client_secret": self._secret,
            "scope": "idoklad_api",
        }
        self._token = None
        token, expires_in = await http.send(
            self._session,
            "POST",
            self._settings.token_url,
            _TOKEN_CALL,
            _decipher_token,
            timeout_s=self._settings.timeout_s,
            data=form,
        )
        margin = min(REFRESH_MARGIN_S, expires_in / 2)
        self._token, self._refresh_at = token, self._clock() + expires_in - margin


@dataclass(frozen=True)
class _Call:
    """One API call as `_send` makes it (`root` is the v2 or the v3 API root)."""

    method: str
    root: str
    path: str
    params: _Params | None
    body: Mapping[str, object] | None
    mutating: bool
    v3: bool


def _decipher_token(answer: http.Answer) -> tuple[str, int]:
    return decipher_token(answer.status, answer.body, answer.retry_after)


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MalformedAnswer("iDoklad answered without the expected JSON object")
    return data
