"""iDoklad's HTTP answers, pure: the JSON of a success, or the error each status maps to.

Split from `worker.providers.idoklad.wire`, which re-exports every public name here.
No I/O; error texts are scrubbed of the caller's secrets and of card-like data.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from worker.domain.redaction import redact_secrets
from worker.errors import Permanent, RateLimited, Retryable
from worker.providers.idoklad.codec import loads
from worker.providers.retry_after import retry_after_or

#: wait after a 429 without a usable `Retry-After`, in ms (providers.md D.2.3 suggests 60 s)
RATE_LIMIT_DELAY_MS = 60_000
_REASONS = {402: "subscription_required", 403: "downgrade_required", 404: "not_found"}
_TOKEN_ERRORS = frozenset(
    {
        "invalid_client",
        "invalid_scope",
        "invalid_grant",
        "unsupported_grant_type",
        "invalid_request",
    }
)


class TokenRejected(Permanent):
    """HTTP 401: the bearer token is expired or unknown; the client refreshes it once."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="auth_failed")


class MalformedAnswer(Retryable):
    """A 2xx answer that is not JSON; after a mutating call the client makes it OutcomeUnknown."""


def _model_errors(body: bytes) -> str:
    try:
        data = loads(body)
    except ValueError:
        return body[:200].decode(errors="replace")
    if not isinstance(data, Mapping):
        return str(data)
    state = data.get("ModelState")
    fields = state.items() if isinstance(state, Mapping) else ()
    details = "; ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in fields)
    return " ".join(part for part in (str(data.get("Message") or ""), details) if part)


def decipher(
    status: int, body: bytes, retry_after: str | None = None, *, secrets: Collection[str] = ()
) -> Any:
    """The parsed JSON of a 2xx answer (None when empty), or the mapped error.

    Raises:
        RateLimited: 429 (delay from `Retry-After`). Retryable: 5xx.
        MalformedAnswer: a 2xx body that is not JSON.
        TokenRejected: 401. Permanent: 400 `invalid_model` (with the model errors,
            redacted), 402 `subscription_required`, 403 `downgrade_required`,
            404 `not_found`, other 4xx `http_<status>`.
    """
    if 200 <= status < 300:
        try:
            return loads(body) if body.strip() else None
        except ValueError:
            raise MalformedAnswer(f"iDoklad answered HTTP {status} with a non-JSON body") from None
    if status == 429:
        raise RateLimited(
            "iDoklad's API limit was exceeded",
            delay_ms=retry_after_or(retry_after, RATE_LIMIT_DELAY_MS),
        )
    if status >= 500:
        raise Retryable(f"iDoklad answered HTTP {status}")
    if status == 400:
        detail = redact_secrets(_model_errors(body), secrets)[:500]
        raise Permanent(f"iDoklad refused the model: {detail}", reason="invalid_model")
    if status == 401:
        raise TokenRejected("iDoklad refused the access token (HTTP 401)")
    reason = _REASONS.get(status, f"http_{status}")
    raise Permanent(f"iDoklad answered HTTP {status} ({reason})", reason=reason)


def decipher_token(status: int, body: bytes, retry_after: str | None = None) -> tuple[str, int]:
    """`(access_token, expires_in)` from the token endpoint, or the mapped error.

    Raises:
        Permanent: 400/401 (`auth_failed`, naming only a known OAuth error code).
        RateLimited: 429. Retryable: 5xx or a malformed success.
    """
    data: Any = None
    try:
        data = loads(body)
    except ValueError:
        pass
    if status == 200 and isinstance(data, Mapping):
        token, expires = data.get("access_token"), data.get("expires_in")
        if isinstance(token, str) and token and isinstance(expires, int) and expires > 0:
            return token, expires
        raise Retryable("iDoklad's token answer has no access_token / expires_in")
    if status == 429:
        delay_ms = retry_after_or(retry_after, RATE_LIMIT_DELAY_MS)
        raise RateLimited("iDoklad's token endpoint is rate limited", delay_ms=delay_ms)
    if status in (400, 401):
        code = data.get("error") if isinstance(data, Mapping) else None
        shown = code if code in _TOKEN_ERRORS else "unknown error"
        raise Permanent(f"iDoklad refused the client credentials ({shown})", reason="auth_failed")
    raise Retryable(f"iDoklad's token endpoint answered HTTP {status}")
