"""iCash client: one `call` seam over aiohttp; the protocol itself lives in `wire`.

Every call is a form POST to `<base_url>/<method>` carrying `api_key`, a fresh
`nonce` and its `signature`, `WareHouseID`, `UserID` and (after `login`) `ses`.
The session is fetched lazily and once more when iCash says it is no longer
valid. iCash refuses a nonce not greater than the last one it saw for the key:
nonces come from `nonces` (a Redis counter per api_key in the worker), one client
sends one request at a time (a later nonce must not overtake an earlier one on the
wire), and a refused nonce (another process's overtook it) is tried again with a
new one, up to `NONCE_TRIES` times.

The bytes go through `worker.providers.http.send`, which maps transport errors onto the
error tree by what iCash may have done: nothing was sent (refused, DNS, connect timeout)
→ `Retryable`; sent but the answer was lost (read timeout, dropped connection) →
`OutcomeUnknown` for calls that change something, `Retryable` for reads. The secret key,
the session id and signatures never appear in an error message; nothing here logs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial
from typing import Any

import aiohttp

from worker.errors import Permanent
from worker.providers import http
from worker.providers.icash import wire
from worker.providers.icash.nonces import Nonces, ProcessNonces, key_id
from worker.providers.pacer import pacer_for, pacing_key
from worker.providers.session import SharedSession
from worker.settings import ICashSettings

#: sends of one call with fresh nonces while other processes' nonces overtake ours
NONCE_TRIES = 3
#: one in-process counter for clients built without a shared one (commands, tests)
_PROCESS_NONCES = ProcessNonces()


def _object(data: Any, method: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Permanent(f"iCash {method} answered an unexpected shape", reason="unexpected_answer")
    return data


class ICashClient:
    """A tenant's iCash account (one warehouse, one user), over a shared `ClientSession`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ICashSettings,
        nonces: Nonces | None = None,
        *,
        tenant: str | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._pacer = pacer_for(settings.base_url, pacing_key(tenant, key_id(settings.api_key)))
        self._base_url = settings.base_url.rstrip("/")
        self._secret = settings.secret_key.get_secret_value()
        self._nonces = nonces or _PROCESS_NONCES
        self._ses = SharedSession(self._open_session)
        self._send_lock = asyncio.Lock()

    async def login(self) -> None:
        """Open a session; later calls send its `session_id` as `ses`."""
        await self._ses.open()

    async def _open_session(self) -> str:
        data = _object(await self._send(wire.LOGIN, {}, None, False), wire.LOGIN)
        session_id = data.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            raise Permanent("iCash login answered without a session_id", reason="no_session")
        return session_id

    async def call(
        self, method: str, fields: Mapping[str, object], *, mutating: bool = False
    ) -> Any:
        """`method` with `fields`: the answer's `data`. `mutating` says a lost answer leaves
        the outcome unknown (`OutcomeUnknown`); a read's is `Retryable`."""
        return await self._request(method, fields, mutating=mutating)

    async def record(self, method: str, fields: Mapping[str, object]) -> dict[str, Any]:
        """A read answering one object (`get-operation`, `get-document`)."""
        return _object(await self._request(method, fields), method)

    async def rows(
        self, method: str, filters: Mapping[str, object]
    ) -> tuple[int, list[dict[str, Any]]]:
        """One page of a list method: (TotalRecords, the page's rows)."""
        data = _object(await self._request(method, filters), method)
        rows = data.get("Data") or []
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise Permanent(f"iCash {method} Data is not a list", reason="unexpected_answer")
        try:
            total = int(data.get("TotalRecords", len(rows)))
        except (TypeError, ValueError):
            total = len(rows)
        return total, rows

    async def _request(
        self, method: str, fields: Mapping[str, object], *, mutating: bool = False
    ) -> Any:
        ses = await self._ses.current()
        try:
            return await self._send(method, fields, ses, mutating)
        except wire.SessionExpired:
            ses = await self._ses.current(stale=ses)
            return await self._send(method, fields, ses, mutating)

    async def _send(
        self, method: str, fields: Mapping[str, object], ses: str | None, mutating: bool
    ) -> Any:
        for _ in range(NONCE_TRIES - 1):
            try:
                return await self._post(method, fields, ses=ses, mutating=mutating)
            except wire.NonceRejected:
                continue
        return await self._post(method, fields, ses=ses, mutating=mutating)

    async def _auth(self, ses: str | None) -> dict[str, object]:
        """The fields of `wire.AUTH_FIELDS`, with a fresh nonce and its signature."""
        settings = self._settings
        nonce = await self._nonces.next(settings.api_key)
        signature = wire.sign(nonce, settings.warehouse_id, settings.api_key, self._secret)
        values = (settings.api_key, nonce, signature, settings.warehouse_id, settings.user_id, ses)
        return dict(zip(wire.AUTH_FIELDS, values, strict=True))  # `ses` None is left out

    async def _post(
        self, method: str, fields: Mapping[str, object], *, ses: str | None, mutating: bool
    ) -> Any:
        """`_post_once`, with 429s waited out in line (a fresh nonce each time)."""
        return await self._pacer.call(
            lambda: self._post_once(method, fields, ses=ses, mutating=mutating)
        )

    async def _post_once(
        self, method: str, fields: Mapping[str, object], *, ses: str | None, mutating: bool
    ) -> Any:
        async with self._send_lock:  # nonce order on the wire = the order they were made
            auth = await self._auth(ses)
            secrets = (self._secret, self._settings.api_key, ses or "", str(auth["signature"]))
            call = http.Call(provider="icash", label="iCash", operation=method, mutating=mutating)
            return await http.send(  # timed once held: queueing is not latency
                self._session,
                "POST",
                f"{self._base_url}/{method}",
                call,
                partial(_decipher, with_session=ses is not None, secrets=secrets),
                timeout_s=self._settings.timeout_s,
                data=wire.form_fields({**fields, **auth}),
            )


def _decipher(answer: http.Answer, *, with_session: bool, secrets: tuple[str, ...]) -> Any:
    return wire.decipher(
        answer.status, answer.body, answer.retry_after, with_session=with_session, secrets=secrets
    )
