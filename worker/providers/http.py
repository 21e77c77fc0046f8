"""The one HTTP transport under every provider client: bytes out, an `Answer` back.

A client keeps its own protocol (auth, signing, the envelope its `wire` deciphers) and
hands `send` the request and a `decode` function. `send` makes the exchange, maps a
transport failure onto the error tree by what the provider may have done, and times the
whole call, decoding included, with `worker.metrics.observe_call` (so an error `decode`
raises is counted under its class, as a refused call should be):

    nothing was sent (refused, DNS, connect timeout)  → Retryable
    sent, the answer lost (read timeout, dropped)     → OutcomeUnknown when `mutating`,
                                                        Retryable for a read

The connect phase gets `CONNECT_SHARE` of the timeout, so a connect timeout (aiohttp's
`ConnectionTimeoutError`) is told apart from a read timeout (the total timer alone raises a
bare `TimeoutError`). Messages name the provider, the call and the exception's class only:
never a URL's query, a header or a body, so no credential can reach one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from worker.errors import OutcomeUnknown, Retryable
from worker.metrics import observe_call

#: share of the total timeout allowed for the TCP connect (see the module docstring)
CONNECT_SHARE = 0.5

_T = TypeVar("_T")


@dataclass(frozen=True)
class Answer:
    """What came back: the status, the whole body, and the headers a `wire` reads."""

    status: int
    body: bytes
    #: the raw `Retry-After` header, if any (each wire reads it with `retry_after`)
    retry_after: str | None = None


@dataclass(frozen=True)
class Call:
    """Who is called, for metrics and messages: `provider` is the metrics label ("icount"),
    `label` its name in messages ("iCount"), `operation` the low-cardinality metrics
    operation and `what` the call's name in messages (defaults to `operation`)."""

    provider: str
    label: str
    operation: str
    mutating: bool
    what: str = ""


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    call: Call,
    decode: Callable[[Answer], _T],
    *,
    timeout_s: float,
    json: Any = None,
    data: Any = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> _T:
    """Send one request and return `decode(answer)`, timed and counted as one provider call.

    Raises:
        Retryable: nothing was sent (refused, DNS, connect timeout), or the answer of a
            read was lost.
        OutcomeUnknown: the answer of a `mutating` call was lost after it was sent.
        (and whatever `decode` raises)
    """
    with observe_call(call.provider, call.operation):
        options = {"json": json, "data": data, "headers": headers, "params": params}
        answer = await exchange(session, method, url, call, timeout_s=timeout_s, **options)
        return decode(answer)


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    call: Call,
    *,
    timeout_s: float,
    **options: Any,
) -> Answer:
    """The untimed exchange under `send`: the `Answer`, or the mapped transport error."""
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=timeout_s * CONNECT_SHARE)
    what = f"{call.label} {call.what or call.operation}"
    try:
        async with session.request(method, url, timeout=timeout, **options) as response:
            body = await response.read()
            return Answer(
                status=response.status,
                body=body,
                retry_after=response.headers.get("Retry-After"),
            )
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        raise Retryable(f"{what}: cannot connect ({type(exc).__name__})") from exc
    except (TimeoutError, aiohttp.ClientError) as exc:
        message = f"{what}: no answer after sending ({type(exc).__name__})"
        if call.mutating:
            raise OutcomeUnknown(message) from exc
        raise Retryable(message) from exc
