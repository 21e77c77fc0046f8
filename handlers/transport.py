"""The receiver's HTTP transport: how a connection is read before any handler runs.

aiohttp's `RequestHandler` answers its own errors (a bad request line, a header line too
long, broken chunking) in plain text, and logs them with the start of the offending line,
which can be a signature. It has no deadline for a request's head either: a client that
sends its headers a byte at a time holds a connection until the idle keep-alive timeout.
`ReceiverRequestHandler` answers those errors as problem bodies, logs only the status and
the error's class, and closes a connection whose head is not complete `header_timeout_s`
after it opened or after the head's first byte, with a 408 problem. The body has its own
deadline (`read_body`).

It is installed through public seams as far as aiohttp allows: `ReceiverServer` is a
`web.Server` whose `__call__` builds the handler, and `ReceiverRunner` an `AppRunner` whose
`_make_server` (the one private method overridden) lets aiohttp start the app, then serves
it with a `ReceiverServer`. `check_aiohttp()` fails loudly at start-up if an aiohttp
upgrade removed what this relies on (tests/integration/test_transport.py does too).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web

from handlers.errors import MalformedBody, RequestTimeout
from handlers.problems import PROBLEM_TYPE, problem_body, problem_response

#: seconds a request's head (request line and headers) may take from its first byte
HEADER_TIMEOUT = web.AppKey("header_timeout_s", float)
#: seconds a handler waits for the whole body once it starts reading it
BODY_TIMEOUT = web.AppKey("body_timeout_s", float)
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 30.0
#: idle keep-alive between requests, longer than a load balancer's (60 s on most), as
#: `web.run_app` had it
KEEPALIVE_TIMEOUT_S = 75.0
#: what the handler uses of aiohttp's own state: the count of request heads parsed, the
#: queue of parsed requests, the future it waits on when idle, and how long it drains an
#: unread body after answering
_HANDLER_STATE = ("_request_count", "_messages", "_waiter", "_lingering_time")

log = structlog.get_logger("handlers.transport")
Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def check_aiohttp() -> None:
    """Raise RuntimeError unless aiohttp still has what `ReceiverRequestHandler` uses."""
    missing = [name for name in _HANDLER_STATE if name not in web.RequestHandler.__slots__]
    if not callable(getattr(web.AppRunner, "_make_server", None)):
        missing.append("AppRunner._make_server")
    if missing:
        raise RuntimeError(f"aiohttp changed, handlers/transport.py needs a look: {missing}")


def _raw_problem(status: int, detail: str) -> bytes:
    """A whole HTTP/1.1 problem answer as bytes, for a connection no request owns yet."""
    phrase = HTTPStatus(status).phrase
    body = json.dumps(problem_body(status, phrase, detail)).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: {PROBLEM_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ReceiverRequestHandler(web.RequestHandler):
    """aiohttp's connection handler with problem bodies for its own errors and a deadline
    for each request's head."""

    def __init__(
        self,
        manager: web.Server,
        *,
        loop: asyncio.AbstractEventLoop,
        header_timeout_s: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._head_loop = loop
        self._header_timeout_s = header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None
        self._last_body: Any = None  #: the StreamReader of the newest request parsed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """A new connection's first head is due within the timeout too: one that opens and
        sends nothing is closed then, not only at the idle keep-alive timeout."""
        super().connection_made(transport)
        self._head_timer = self._head_loop.call_later(self._header_timeout_s, self._head_late)

    def data_received(self, data: bytes) -> None:
        heads = self._request_count
        super().data_received(data)
        if self._request_count != heads:  # a head is complete: its body has its own deadline
            self._stop_head_clock()
            self._last_body = self._messages[-1][1] if self._messages else None
        elif data and self._head_timer is None and self._reading_head():
            self._head_timer = self._head_loop.call_later(self._header_timeout_s, self._head_late)

    def _reading_head(self) -> bool:
        """Whether bytes arriving now belong to a request's head (not to the last body)."""
        return self._last_body is None or bool(self._last_body.is_eof())

    def _stop_head_clock(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport is None:
            return
        if self._waiter is None or self._waiter.done():  # answering a request: look again later
            self._head_timer = self._head_loop.call_later(1.0, self._head_late)
            return
        log.info("request_refused", status=408, reason="HeaderTimeout")
        detail = f"the request's headers did not arrive within {self._header_timeout_s:g} s"
        self.transport.write(_raw_problem(408, detail))
        self.force_close()

    def drop_unread_body(self) -> None:
        """Close once the answer is out, without draining the rest of the body first (for
        up to `lingering_time`): for a body that stalled, the rest is not coming."""
        self._lingering_time = 0.0

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A problem body for what aiohttp could not read (4xx) or a handler let escape (5xx).

        The log line has the status and the error's class, never `message` or the error's
        text: for a header line too long they hold its start, which may be a signature."""
        reason = "none" if exc is None else type(exc).__name__
        if status >= 500:
            log.error("request_failed", status=status, reason=reason, exc_info=exc)
        else:
            log.info("request_refused", status=status, reason=reason)
        if request.writer.output_size > 0:  # part of an answer is out: nothing else can go
            raise ConnectionError("an answer was under way; the connection is dropped")
        phrase = HTTPStatus(status).phrase
        if status >= 500:
            detail = "the receiver failed to answer; nothing was recorded, send it again"
        else:
            detail = f"the request could not be read as HTTP/1.1 ({reason})"
        response = problem_response(status, phrase, detail)
        response.headers["Cache-Control"] = "no-store"
        response.force_close()
        return response


class ReceiverServer(web.Server):
    """A `web.Server` whose connections get a `ReceiverRequestHandler`."""

    def __init__(
        self,
        handler: Handler,
        *,
        header_timeout_s: float,
        request_factory: Any = None,
        handler_cancellation: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            handler,
            request_factory=request_factory,
            handler_cancellation=handler_cancellation,
            loop=loop,
            **kwargs,
        )
        self.header_timeout_s = header_timeout_s
        self._handler_loop = loop or asyncio.get_running_loop()
        self._handler_kwargs = kwargs

    def __call__(self) -> web.RequestHandler:
        # no fallback: web.Server quietly drops every argument a RequestHandler refuses
        return ReceiverRequestHandler(
            self,
            loop=self._handler_loop,
            header_timeout_s=self.header_timeout_s,
            **self._handler_kwargs,
        )


class ReceiverRunner(web.AppRunner):
    """An `AppRunner` that serves the app with a `ReceiverServer`: never inflates a body,
    keeps idle connections `KEEPALIVE_TIMEOUT_S`, and times a request's head out after
    `app[HEADER_TIMEOUT]` seconds. Other keyword arguments are AppRunner's and
    RequestHandler's (`access_log=None`, `shutdown_timeout=30`, ...); connection settings
    are given here, not as the app's `handler_args`, which this runner does not read."""

    #: arguments web.Server takes for itself rather than handing them to each connection
    _SERVER_ARGS = ("handle_signals", "shutdown_timeout", "handler_cancellation")

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        check_aiohttp()
        super().__init__(app, **kwargs)
        handler_args = {k: v for k, v in kwargs.items() if k not in self._SERVER_ARGS}
        self._handler_args = {
            "keepalive_timeout": KEEPALIVE_TIMEOUT_S,
            **handler_args,
            "auto_decompress": False,
        }

    async def _make_server(self) -> web.Server:
        started = await super()._make_server()  # aiohttp starts the app up and freezes it
        return ReceiverServer(
            started.request_handler,
            header_timeout_s=self.app.get(HEADER_TIMEOUT, DEFAULT_HEADER_TIMEOUT_S),
            request_factory=started.request_factory,
            handler_cancellation=started.handler_cancellation,
            **self._handler_args,
        )


async def read_body(request: web.Request, timeout_s: float) -> bytes:
    """The whole body, within `timeout_s` of starting to read it.

    Raises:
        RequestTimeout (408): it did not all arrive in time.
        MalformedBody (400): aiohttp could not read it (broken chunking, a short body), or
            the client closed the connection before it all arrived.
        web.HTTPRequestEntityTooLarge: over the app's `client_max_size`.
    """
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        if isinstance(request.protocol, ReceiverRequestHandler):
            request.protocol.drop_unread_body()
        raise RequestTimeout(f"the body did not arrive within {timeout_s:g} s") from None
    except web.RequestPayloadError:
        raise MalformedBody("the body could not be read (its framing is broken)") from None
    except ConnectionResetError:  # the client left mid-body: its fault, not a 5xx of ours
        raise MalformedBody("the connection closed before the whole body arrived") from None
