"""iDoklad client: one `_request` seam over aiohttp with an OAuth2 client-credentials token.

The token (`POST token_url`, form-encoded, scope `idoklad_api`) is fetched lazily,
cached, refreshed `REFRESH_MARGIN_S` before it expires (half its lifetime when that
is shorter) and fetched again once when the API answers 401; a second 401 is
`Permanent("auth_failed")`. A 401 means the call was not carried out, so repeating
a mutating call after it is safe.

Transport errors map onto the error tree by what iDoklad may have done: nothing
was sent (refused, DNS, connect timeout) → `Retryable`; sent but the answer was
lost (read timeout, dropped connection) or garbled → `OutcomeUnknown` for calls that
change something, `Retryable` for reads. Neither the client secret nor the token
ever appears in an error message; nothing here logs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import aiohttp

from worker.errors import OutcomeUnknown, Retryable
from worker.metrics import observe_call, operation_of
from worker.providers.idoklad.wire import (
    ListPage,
    MalformedAnswer,
    TokenRejected,
    decipher,
    decipher_token,
    dumps,
    list_params,
    parse_list,
)
from worker.providers.pacer import pacer_for
from worker.settings import IDokladSettings

#: refresh the token this many seconds before it expires
REFRESH_MARGIN_S = 60.0
#: the largest page v2 serves; code lists are read in one page of it
MAX_PAGE_SIZE = 200
#: share of the total timeout allowed for the TCP connect, so a connect timeout is
#: told apart from a read timeout (the total timer alone raises a bare TimeoutError)
_CONNECT_SHARE = 0.5
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

    async def code_list(self, name: str) -> list[dict[str, Any]]:
        """A code list (`Currencies`, `Countries`, `VatRates`, ...) in one page."""
        return (await self.list_page(name, pagesize=MAX_PAGE_SIZE)).items

    async def get(self, resource: str, entity_id: int) -> dict[str, Any]:
        return _object(await self._request("GET", f"{resource}/{entity_id}", mutating=False))

    async def create(self, resource: str, body: Mapping[str, object]) -> dict[str, Any]:
        """`POST {resource}`; the created entity. Not idempotent: look up before repeating."""
        data = await self._request("POST", resource, json=body, mutating=True)
        if not isinstance(data, dict):
            raise OutcomeUnknown(f"iDoklad POST {resource} answered without the entity")
        return data

    async def fully_pay(self, invoice_id: int, day: date) -> None:
        """Mark an issued invoice paid on `day` (paying a paid invoice changes nothing)."""
        params = {"dateOfPayment": day.isoformat()}
        await self._request("PUT", f"IssuedInvoices/{invoice_id}/FullyPay", params=params,
                            mutating=True)  # fmt: skip

    async def send_mail_to_purchaser(self, invoice_id: int) -> None:
        """Email an issued invoice to its purchaser contact."""
        path = f"IssuedInvoices/{invoice_id}/SendMailToPurchaser"
        await self._request("PUT", path, mutating=True)

    async def send_credit_note_mail(self, credit_note_id: int) -> None:
        """Email a credit note to its purchaser contact (`Mails/CreditNote/Send`)."""
        body = {"DocumentId": credit_note_id, "SendToPurchaser": True, "SendToSelf": False,
                "SendToAccountant": False, "OtherRecipients": []}  # fmt: skip
        await self._request("POST", "Mails/CreditNote/Send", json=body, mutating=True)

    async def pdf(self, resource: str, entity_id: int) -> bytes:
        """`GET {resource}/{id}/GetPdf`: the base64 JSON string, decoded."""
        data = await self._request("GET", f"{resource}/{entity_id}/GetPdf", mutating=False)
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
    ) -> Any:
        async def send() -> Any:
            token = await self._access_token(stale=None)
            try:
                return await self._send(method, path, token, params, json, mutating)
            except TokenRejected:
                token = await self._access_token(stale=token)
                return await self._send(method, path, token, params, json, mutating)

        return await self._pacer.call(send)

    async def _send(self, method: str, path: str, token: str, params: _Params | None,
                    body: Mapping[str, object] | None, mutating: bool) -> Any:  # fmt: skip
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = dumps(body).encode()
        url = f"{self._base_url}/{path}"
        with observe_call("idoklad", f"{method} {operation_of(path)}"):
            status, raw, retry_after = await self._exchange(
                method, url, path, mutating, params=params, data=data, headers=headers
            )
            try:
                return decipher(status, raw, retry_after, secrets=(self._secret, token))
            except MalformedAnswer as exc:
                if mutating:
                    raise OutcomeUnknown(f"iDoklad {method} {path}: {exc}") from exc
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
        with observe_call("idoklad", "POST connect/token"):
            status, raw, retry_after = await self._exchange(
                "POST", self._settings.token_url, "connect/token", False, data=form
            )
            token, expires_in = decipher_token(status, raw, retry_after)
        margin = min(REFRESH_MARGIN_S, expires_in / 2)
        self._token, self._refresh_at = token, self._clock() + expires_in - margin

    async def _exchange(
        self, method: str, url: str, what: str, mutating: bool, **options: Any
    ) -> tuple[int, bytes, str | None]:
        total = self._settings.timeout_s
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=total * _CONNECT_SHARE)
        try:
            async with self._session.request(method, url, timeout=timeout, **options) as response:
                raw = await response.read()
                return response.status, raw, response.headers.get("Retry-After")
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise Retryable(f"iDoklad {what}: cannot connect ({type(exc).__name__})") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            message = f"iDoklad {method} {what}: no answer after sending ({type(exc).__name__})"
            if mutating:
                raise OutcomeUnknown(message) from exc
            raise Retryable(message) from exc


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MalformedAnswer("iDoklad answered without the expected JSON object")
    return data
