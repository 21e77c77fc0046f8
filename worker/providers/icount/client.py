"""iCount client: one `_request` seam over aiohttp; the protocol itself lives in `wire`.

Auth: `Authorization: Bearer <api_token>` when a token is configured; otherwise
a `sid` from `auth/login` (cid/user/pass), fetched lazily and fetched again once
when iCount says the session is no longer valid.

Transport errors map onto the error tree by what the provider may have done:
nothing was sent (refused, DNS, connect timeout) → `Retryable`; sent but the
answer was lost (read timeout, dropped connection) → `OutcomeUnknown` for calls
that change something, `Retryable` for read-only calls. A charge (`cc/bill`)
answered with a 5xx or a body that is no answer is `OutcomeUnknown` too: iCount may
have charged the card before failing, so the charge is looked up, never blindly
repeated (docs/providers/icount.md D-17). Credentials never appear
in an error message; nothing here logs.

Card calls: `stored_card` fetches a stored card's token, `bill` charges (`cc/bill` has
no duplicate guard: search `transactions` before billing again after a lost answer).
Their refusals are reworded from the reason code alone (`wire_charge.charge_error`),
so neither a token nor card data from iCount's own text reaches an error.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from worker.errors import OutcomeUnknown, Permanent, RateLimited, Retryable
from worker.metrics import observe_call
from worker.providers.icount.wire import (
    DocumentRef,
    SessionExpired,
    decipher,
    is_truthy,
    parse_document,
)
from worker.providers.icount.wire_charge import charge_error, stored_token
from worker.providers.pacer import pacer_for
from worker.settings import ICountSettings

LOGIN = "auth/login"
BILL = "cc/bill"
#: the stored-card look-up; iCount's name for it is unknown (providers.md A lists a
#: "get stored card token" method), so it is this one constant
STORED_CARD = "cc_storage/get"
TRANSACTIONS = "cc/transactions"
#: calls that change state at iCount; a lost answer leaves their outcome unknown
MUTATING = frozenset({"doc/create", "doc/cancel", "doc/close", BILL, "cc_storage/store"})
#: share of the total timeout allowed for the TCP connect, so a connect timeout is
#: told apart from a read timeout (the total timer alone raises a bare TimeoutError)
_CONNECT_SHARE = 0.5


class ICountClient:
    """A tenant's iCount account, reached over a shared `aiohttp.ClientSession`."""

    def __init__(self, session: aiohttp.ClientSession, settings: ICountSettings) -> None:
        self._session = session
        self._settings = settings
        self.bank_account_id = settings.bank_account_id
        self.is_test = settings.is_test
        self._pacer = pacer_for(settings.base_url, settings.cid or "token")
        self._base_url = settings.base_url.rstrip("/")
        self._sid: str | None = None
        self._login_lock = asyncio.Lock()
        token, password = settings.api_token, settings.pass_
        self._token = token.get_secret_value() if token else None
        self._password = password.get_secret_value() if password else None
        self._secrets = tuple(s for s in (self._token, self._password) if s)

    async def create_document(self, body: dict[str, Any]) -> DocumentRef:
        """Create the document in `body` (or get the one its `sanity_string` already made)."""
        data = await self._request("doc/create", body)
        emailed = is_truthy(body.get("send_email")) and bool(body.get("email"))
        return parse_document(data, emailed=emailed, doctype=str(body.get("doctype", "")))

    async def document_info(self, doctype: str, docnum: str) -> dict[str, Any]:
        """A document with its items and totals, as iCount describes it."""
        return await self._request("doc/info", {"doctype": doctype, "docnum": docnum})

    async def cancel_document(self, doctype: str, docnum: str, reason: str) -> None:
        """Cancel a document (fiscal documents are never deleted); cancelled already is fine."""
        payload = {"doctype": doctype, "docnum": docnum, "reason": reason, "refund_cc": 0}
        try:
            await self._request("doc/cancel", payload)
        except Permanent as exc:
            if exc.reason != "already_cancelled":
                raise

    async def stored_card(self, client_id: str) -> str:
        """The token of the client's stored card; keep it in a local variable only.

        Raises:
            Permanent: no stored card (`no_stored_card`) or another refusal.
        """
        try:
            data = await self._request(STORED_CARD, {"client_id": client_id})
        except Permanent as exc:
            raise charge_error(exc.reason) from None
        return stored_token(data)

    async def bill(self, body: dict[str, Any]) -> dict[str, Any]:
        """Charge a card (`wire_charge.build_charge_request`); the raw success answer.

        Raises:
            Permanent: a decline or another refusal, with iCount's reason.
            Retryable: the card company could not process it (nothing was charged).
            OutcomeUnknown: the answer was lost; the card may have been charged.
        """
        try:
            return await self._request(BILL, body)
        except Permanent as exc:
            raise charge_error(exc.reason) from None

    async def transactions(self, filters: dict[str, Any]) -> dict[str, Any]:
        """Search the card transactions (read-only: a lost answer is `Retryable`)."""
        return await self._request(TRANSACTIONS, filters)

    async def login(self) -> None:
        """Open a session with cid/user/pass; later calls send its `sid`."""
        data = await self._request(LOGIN, {})
        sid = data.get("sid")
        if not isinstance(sid, str) or not sid:
            raise Permanent("iCount auth/login answered without a sid", reason="no_sid")
        self._sid = sid

    async def _request(self, method_path: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method_path == LOGIN:
            credentials = {"cid": self._settings.cid, "user": self._settings.user}
            return await self._post(
                method_path, {**payload, **credentials, "pass": self._password}, {}
            )
        if self._token:
            return await self._post(
                method_path, payload, {"Authorization": f"Bearer {self._token}"}
            )
        sid = await self._session_id(stale=None)
        try:
            return await self._post(method_path, {**payload, "sid": sid}, {})
        except SessionExpired:
            sid = await self._session_id(stale=sid)
            return await self._post(method_path, {**payload, "sid": sid}, {})

    async def _session_id(self, *, stale: str | None) -> str:
        async with self._login_lock:
            if self._sid is None or self._sid == stale:
                await self.login()
            assert self._sid is not None
            return self._sid

    async def _post(
        self, method_path: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        """`_post_once`, with 429s and "Too many requests" waited out in line."""
        return await self._pacer.call(lambda: self._post_once(method_path, payload, headers))

    async def _post_once(
        self, method_path: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        total = self._settings.timeout_s
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=total * _CONNECT_SHARE)
        url = f"{self._base_url}/{method_path}"
        with observe_call("icount", method_path):
            try:
                async with self._session.post(
                    url, json=payload, headers=headers, timeout=timeout
                ) as response:
                    body = await response.read()
                    status, retry_after = response.status, response.headers.get("Retry-After")
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                what = f"iCount {method_path}: cannot connect ({type(exc).__name__})"
                raise Retryable(what) from exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                what = f"iCount {method_path}: no answer after sending ({type(exc).__name__})"
                if method_path in MUTATING:
                    raise OutcomeUnknown(what) from exc
                raise Retryable(what) from exc
            try:
                return decipher(status, body, retry_after, secrets=self._secrets)
            except (RateLimited, SessionExpired):
                raise  # a throttle or a stale session: the call was refused, not taken
            except Retryable as exc:  # a 5xx or a garbled answer to a charge it received
                if method_path == BILL:  # it may have charged the card before failing
                    raise OutcomeUnknown(f"iCount {method_path}: {exc}") from exc
                raise  # a document call repeats under its sanity_string
