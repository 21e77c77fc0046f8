"""iCount client: one `_request` seam over aiohttp; the protocol itself lives in `wire`.

Auth: `Authorization: Bearer <api_token>` when a token is configured; otherwise
a `sid` from `auth/login` (cid/user/pass), fetched lazily and fetched again once
when iCount says the session is no longer valid.

The bytes go through `worker.providers.http.send`, which maps transport errors onto the
error tree by what the provider may have done: nothing was sent (refused, DNS, connect
timeout) → `Retryable`; sent but the answer was lost (read timeout, dropped connection) →
`OutcomeUnknown` for calls in `MUTATING`, `Retryable` for read-only calls. A charge (`cc/bill`)
answered with a 5xx or a body that is no answer is `OutcomeUnknown` too: iCount may
have charged the card before failing, so the charge is looked up, never blindly
repeated (docs/providers/icount.md D-17). Credentials never appear
in an error message; nothing here logs.

Document calls besides `doc/create`: `search_documents` and `document_info` (read-only; the
provider's look-up by our reference), `send_document_email` (`doc/email`, an issued document
emailed again; a refusal is `email_unsupported`).

Card calls: `stored_card` fetches a stored card's token, `bill` charges (`cc/bill` has
no duplicate guard: search `transactions` before billing again after a lost answer).
Their refusals are reworded from the reason code alone (`wire_charge.charge_error`),
so neither a token nor card data from iCount's own text reaches an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import partial
from typing import Any

import aiohttp

from worker.errors import OutcomeUnknown, Permanent, RateLimited, Retryable
from worker.providers import http
from worker.providers.icount.wire import (
    SessionExpired,
    decipher,
)
from worker.providers.icount.wire_charge import charge_error, stored_token
from worker.providers.icount.wire_docs import (
    NO_RESULTS_REASONS,
    build_doc_email,
    docnum_value,
    email_confirmed,
    info_fields,
    search_rows,
)
from worker.providers.pacer import pacer_for, pacing_key
from worker.providers.session import SharedSession
from worker.settings import ICountSettings

LOGIN = "auth/login"
#: the account's own details; read-only, so a cheap proof that the credentials work
APP_INFO = "app/info"
BILL = "cc/bill"
#: the stored-card look-up; iCount's name for it is unknown (providers.md A lists a
#: "get stored card token" method), so it is this one constant
STORED_CARD = "cc_storage/get"
TRANSACTIONS = "cc/transactions"
SEARCH = "doc/search"
INFO = "doc/info"
#: "Send document by email" (seed000's menu); path and fields from one public client that
#: checked them against the live API (docs/providers/icount.md F-DOCX-8)
EMAIL = "doc/email"
#: calls that change state at iCount; a lost answer leaves their outcome unknown
MUTATING = frozenset({"doc/create", "doc/cancel", "doc/close", EMAIL, BILL, "cc_storage/store"})


def _account(settings: ICountSettings) -> str:
    """The account behind the credentials: the cid, else a digest of the token (never one
    shared name for every token, nor the token itself)."""
    if settings.cid:
        return settings.cid
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]


class ICountClient:
    """A tenant's iCount account, reached over a shared `aiohttp.ClientSession`."""

    def __init__(
        self, session: aiohttp.ClientSession, settings: ICountSettings, *, tenant: str | None = None
    ) -> None:
        self._session = session
        self._settings = settings
        self.bank_account_id = settings.bank_account_id
        self.is_test = settings.is_test
        self._pacer = pacer_for(settings.base_url, pacing_key(tenant, _account(settings)))
        self._base_url = settings.base_url.rstrip("/")
        self._sid = SharedSession(self._open_session)
        token, password = settings.api_token, settings.pass_
        self._token = token.get_secret_value() if token else None
        self._password = password.get_secret_value() if password else None
        self._secrets = tuple(s for s in (self._token, self._password) if s)

    async def check(self) -> dict[str, Any]:
        """Log in and read `app/info` (the Bearer token, or `auth/login` with cid/user/pass
        first): the account's answer, or the refusal (`auth_failed`, ...) as `Permanent`."""
        return await self._request(APP_INFO, {})

    async def create_document(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create the document in `body` (or get the one its `sanity_string` already made):
        iCount's answer, which `wire.created_document` reads."""
        return await self._request("doc/create", body)

    async def search_documents(self, filters: dict[str, Any]) -> list[Mapping[str, Any]]:
        """The documents `doc/search` lists for `filters`; none is an empty list.

        Raises:
            Permanent: another refusal, e.g. `too_many_results` (more than iCount lists).
        """
        try:
            data = await self._request(SEARCH, filters)
        except Permanent as exc:
            if exc.reason in NO_RESULTS_REASONS:
                return []
            raise
        return search_rows(data)

    async def document_info(self, doctype: str, docnum: str) -> dict[str, Any]:
        """A document's fields (wherever iCount nests them), with its items and totals."""
        data = await self._request(INFO, {"doctype": doctype, "docnum": docnum_value(docnum)})
        return dict(info_fields(data))

    async def send_document_email(self, doctype: str, docnum: str, email: str) -> None:
        """Email the issued document `doctype` `docnum` to `email` (`doc/email`).

        Raises:
            Permanent: iCount refused (`email_unsupported`; its own reason in the message), or
                its answer does not name `email` as sent (`email_not_confirmed`).
            OutcomeUnknown: the answer was lost; the email may have gone out.
        """
        try:
            data = await self._request(EMAIL, build_doc_email(doctype, docnum, email))
        except Permanent as exc:
            what = f"iCount would not email {doctype} {docnum} ({exc.reason}): {exc}"
            raise Permanent(what, reason="email_unsupported") from exc
        if not email_confirmed(data, email):
            what = f"iCount did not confirm emailing {doctype} {docnum} to the customer"
            raise Permanent(what, reason="email_not_confirmed")

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
        await self._sid.open()

    async def _open_session(self) -> str:
        data = await self._request(LOGIN, {})
        sid = data.get("sid")
        if not isinstance(sid, str) or not sid:
            raise Permanent("iCount auth/login answered without a sid", reason="no_sid")
        return sid

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
        sid = await self._sid.current()
        try:
            return await self._post(method_path, {**payload, "sid": sid}, {})
        except SessionExpired:
            sid = await self._sid.current(stale=sid)
            return await self._post(method_path, {**payload, "sid": sid}, {})

    async def _post(
        self, method_path: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        """`_post_once`, with 429s and "Too many requests" waited out in line."""
        return await self._pacer.call(lambda: self._post_once(method_path, payload, headers))

    async def _post_once(
        self, method_path: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        call = http.Call(
            provider="icount",
            label="iCount",
            operation=method_path,
            mutating=method_path in MUTATING,
        )
        return await http.send(
            self._session,
            "POST",
            f"{self._base_url}/{method_path}",
            call,
            partial(self._decipher, method_path),
            timeout_s=self._settings.timeout_s,
            json=payload,
            headers=headers,
        )

    def _decipher(self, method_path: str, answer: http.Answer) -> dict[str, Any]:
        try:
            return decipher(answer.status, answer.body, answer.retry_after, secrets=self._secrets)
        except (RateLimited, SessionExpired):
            raise  # a throttle or a stale session: the call was refused, not taken
        except Retryable as exc:  # a 5xx or a garbled answer to a charge it received
            if method_path == BILL:  # it may have charged the card before failing
                raise OutcomeUnknown(f"iCount {method_path}: {exc}") from exc
            raise  # a document call repeats under its sanity_string
