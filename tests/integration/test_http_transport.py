"""The provider transport (`worker.providers.http.send`) against real local sockets (issue #19):
nothing sent is `Retryable`; an answer lost after sending is `OutcomeUnknown` for a mutating
call and `Retryable` for a read; and a 429 whose `Retry-After` is an HTTP-date is waited out
until that date, by a real client through its pacer."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from worker.errors import OutcomeUnknown, Retryable
from worker.providers import http
from worker.providers.icount.client import ICountClient
from worker.providers.retry_after import retry_after_ms
from worker.settings import ICountSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SECRET = "s3cr3t-token-never-shown"
#: short, so a timeout test is quick; the connect share is half of it
TIMEOUT_S = 0.4
WRITE = http.Call(provider="test", label="Test", operation="doc/create", mutating=True)
READ = http.Call(provider="test", label="Test", operation="doc/info", mutating=False)


def keep(answer: http.Answer) -> http.Answer:
    return answer


async def send(url: str, call: http.Call) -> http.Answer:
    """POST through the transport with a secret in the URL, the headers and the body."""
    async with aiohttp.ClientSession() as session:
        return await http.send(
            session,
            "POST",
            f"{url}?token={SECRET}",
            call,
            keep,
            timeout_s=TIMEOUT_S,
            json={"pass": SECRET},
            headers={"Authorization": f"Bearer {SECRET}"},
        )


@contextlib.asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[str]:
    """`handler` for every path on a free port of 127.0.0.1; yields the base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def full_backlog() -> Iterator[str]:
    """A listener whose accept queue is full, so a new connect hangs (its SYN is dropped)."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = socket.socket()
            fillers.append(filler)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield f"http://127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def closed_port() -> str:
    """A port of 127.0.0.1 that nobody listens on: a connect is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def errors(kind: str) -> float:
    labels = {"provider": "test", "kind": kind}
    return REGISTRY.get_sample_value("invoicebridge_provider_errors_total", labels) or 0.0


def assert_clean(exc: BaseException) -> None:
    assert SECRET not in str(exc) and "token=" not in str(exc)


# --- nothing was sent -----------------------------------------------------------------


@pytest.mark.parametrize("call", [WRITE, READ], ids=["mutating", "read"])
async def test_a_refused_connection_is_retryable(call: http.Call) -> None:
    """Given nobody listening, when a call (even a mutating one) is sent, then Retryable."""
    with pytest.raises(Retryable) as caught:
        await send(closed_port(), call)
    assert "cannot connect (ClientConnectorError)" in str(caught.value)
    assert_clean(caught.value)


async def test_a_connect_timeout_is_retryable_even_for_a_mutating_call() -> None:
    """Given a listener that never completes the handshake, when a mutating call is sent,
    then Retryable after the connect share of the timeout: nothing reached the provider."""
    started = time.perf_counter()
    with full_backlog() as url, pytest.raises(Retryable) as caught:
        await send(url, WRITE)
    assert "cannot connect (ConnectionTimeoutError)" in str(caught.value)
    assert time.perf_counter() - started < TIMEOUT_S
    assert_clean(caught.value)


# --- sent, the answer lost ------------------------------------------------------------


async def hang(request: web.Request) -> web.StreamResponse:
    await request.read()
    await asyncio.sleep(TIMEOUT_S * 5)
    return web.json_response({})


async def hang_up(request: web.Request) -> web.StreamResponse:
    """Read the whole request, then drop the connection without answering."""
    await request.read()
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(TIMEOUT_S)
    return web.json_response({})


async def test_a_read_timeout_on_a_mutating_call_is_outcome_unknown() -> None:
    """Given a provider that takes the request and never answers, a mutating call is
    OutcomeUnknown, and counted once under that kind."""
    before = errors("OutcomeUnknown")
    async with server(hang) as url:
        with pytest.raises(OutcomeUnknown) as caught:
            await send(url, WRITE)
    assert "no answer after sending" in str(caught.value)
    assert errors("OutcomeUnknown") == before + 1
    assert_clean(caught.value)


async def test_a_read_timeout_on_a_read_is_retryable() -> None:
    async with server(hang) as url:
        with pytest.raises(Retryable) as caught:
            await send(url, READ)
    assert "no answer after sending" in str(caught.value)
    assert_clean(caught.value)


@pytest.mark.parametrize(
    ("call", "error"), [(WRITE, OutcomeUnknown), (READ, Retryable)], ids=["mutating", "read"]
)
async def test_a_disconnect_after_sending(call: http.Call, error: type[Exception]) -> None:
    """Given a provider that drops the connection after reading the request, a mutating
    call is OutcomeUnknown (it may have acted), a read Retryable."""
    async with server(hang_up) as url:
        with pytest.raises(error) as caught:
            await send(url, call)
    assert type(caught.value) is error
    assert "no answer after sending" in str(caught.value)
    assert_clean(caught.value)


# --- answers --------------------------------------------------------------------------


async def test_an_answer_carries_status_body_and_the_headers_a_wire_reads() -> None:
    async def throttled(request: web.Request) -> web.StreamResponse:
        headers = {"Retry-After": "1.5"}
        return web.json_response({"status": False}, status=429, headers=headers)

    async with server(throttled) as url:
        answer = await send(url, READ)
    assert (answer.status, answer.body) == (429, b'{"status": false}')
    assert answer.retry_after == "1.5" and retry_after_ms(answer.retry_after) == 1_500


async def test_a_429_with_an_http_date_is_waited_out_until_that_date() -> None:
    """Given iCount answering 429 with `Retry-After: <HTTP-date>` about 2 s ahead, the
    client's pacer holds the call until that date, and the repeat goes through."""
    arrivals: list[float] = []
    until: list[float] = []

    async def create(request: web.Request) -> web.StreamResponse:
        await request.read()
        arrivals.append(time.time())
        if len(arrivals) == 1:
            until.append(math.ceil(time.time()) + 2.0)
            date = datetime.fromtimestamp(until[0], UTC)
            headers = {"Retry-After": format_datetime(date, usegmt=True)}
            return web.json_response({}, status=429, headers=headers)
        return web.json_response({"status": True, "docnum": "30001"})

    async with server(create) as url, aiohttp.ClientSession() as session:
        settings = ICountSettings.model_validate({"base_url": url, "api_token": SECRET})
        made = await ICountClient(session, settings).create_document({"doctype": "invrec"})
    assert made["docnum"] == "30001" and len(arrivals) == 2
    assert until[0] - 0.05 <= arrivals[1] < until[0] + 0.5
    assert timedelta(seconds=arrivals[1] - arrivals[0]) > timedelta(seconds=1)
