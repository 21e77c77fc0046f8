"""The receiver's transport over real sockets, served as `serve` serves it (ReceiverRunner)
against a real Redis (issue #15): compressed bodies are refused at once and never inflated
(defects 1, 3a); aiohttp's own errors are problem bodies whose log line holds no header
(9a, 9b); slow heads and bodies are timed out (9c); and /healthz stays quick while a 1 MB
gzip request is in flight (the benchmark's bound). Nothing refused leaves a trace in Redis."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis
import structlog
from aiohttp import web

from benchmarks.compressed import bomb_request, gzip_bomb
from handlers.transport import ReceiverRequestHandler, ReceiverRunner, check_aiohttp
from invoicebridge.samples import shopify as samples
from invoicebridge.serve import build_receiver
from tests.raw_http import Answer, exchange, read_answer, request_bytes
from tests.receiver_server import serving
from worker.settings import Settings

SECRET = "transport-test-secret"
ADMIN = "admin-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
WHSEC = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SHOP = "/webhooks/shopify/shop"
#: short deadlines, so that the tests of them are quick
HEADER_TIMEOUT_S = BODY_TIMEOUT_S = 0.5
#: 900 MiB of zeros in about 930 KB of gzip, as the harness sent
BOMB_MIB = 900


def receiver_settings(redis_url: str) -> Settings:
    icount = {"cid": "c", "user": "u", "pass": "p", "base_url": "http://127.0.0.1:9"}
    sources = {"shop": "shopify", "woo": "woocommerce", "pay": "stripe", "any": "standard"}
    tenants: dict[str, dict[str, object]] = {
        tid: {
            "source": source,
            "secret": WHSEC if source == "standard" else SECRET,
            "provider": "icount",
            "icount": icount,
        }
        for tid, source in sources.items()
    }
    # the WooCommerce tenant's allowance is two deliveries, so a ping that counted would show
    tenants["woo"] |= {"rate_limit_per_s": 0.01, "rate_limit_burst": 2}
    tokens = [
        {"name": "oncall", "token": ADMIN, "role": "operator"},
        {"name": "auditor", "token": VIEWER, "role": "viewer"},
    ]
    receiver = {"header_timeout_s": HEADER_TIMEOUT_S, "body_timeout_s": BODY_TIMEOUT_S}
    return Settings.model_validate(
        {
            "redis": {"url": redis_url},
            "receiver": receiver,
            "admin": {"tokens": tokens},
            "tenants": tenants,
        }
    )


@dataclass(frozen=True)
class Receiver:
    port: int
    redis: aioredis.Redis

    async def ledger_keys(self) -> list[str]:
        """Every ledger key, and whether any message was queued: what a refusal must not add."""
        keys = sorted(str(key) for key in await self.redis.keys("ib:*"))
        return keys + [str(key) for key in await self.redis.keys("invoicebridge:*.msgs")]

    async def send(self, raw: bytes, timeout: float = 5.0) -> Answer:
        return await exchange(self.port, raw, timeout)


@contextlib.asynccontextmanager
async def running_receiver(redis_url: str) -> AsyncIterator[Receiver]:
    """The receiver of `receiver_settings`, served by a ReceiverRunner on a real port."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        async with serving(await build_receiver(receiver_settings(redis_url))) as (_, port):
            yield Receiver(port, client)
    finally:
        await client.aclose()


@pytest.fixture
async def receiver(redis_url: str) -> AsyncIterator[Receiver]:
    async with running_receiver(redis_url) as served:
        yield served


def assert_problem(answer: Answer, status: int) -> dict[str, object]:
    assert answer.status == status, answer
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["cache-control"] == "no-store"
    problem = answer.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    return dict(problem)


def signed_shopify(order_id: int = 7) -> tuple[bytes, dict[str, str | bytes]]:
    body = json.dumps(samples.shopify_order(order_id)).encode()
    headers = samples.headers_for(body, topic="orders/create", secret=SECRET, event_id="e-7")
    return body, {**headers, "Content-Type": "application/json"}


# --- defect 1, 3a: compressed bodies --------------------------------------------------


async def test_a_gzip_bomb_is_refused_415_at_once_and_nobody_waits(receiver: Receiver) -> None:
    """900 MiB of gzip in about 930 KB: 415 before the body is read, well under a second,
    /healthz answers straight after, and nothing is recorded."""
    bomb = gzip_bomb(BOMB_MIB)
    started = time.perf_counter()
    answer = await receiver.send(bomb_request(SHOP, bomb) + bomb)
    assert time.perf_counter() - started < 1.0
    assert "identity" in str(assert_problem(answer, 415)["detail"])
    started = time.perf_counter()
    health = await receiver.send(request_bytes("GET", "/healthz", {}))
    assert health.status == 200 and time.perf_counter() - started < 0.2
    assert await receiver.ledger_keys() == []


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "x-gzip", "gzip, identity"])
async def test_any_content_encoding_but_identity_is_415_even_on_a_plain_body(
    receiver: Receiver, encoding: str
) -> None:
    """A validly signed body that is not compressed at all, labelled compressed (3a): 415,
    never the 500 of a failed inflate; nothing recorded."""
    body, headers = signed_shopify()
    raw = request_bytes("POST", SHOP, {**headers, "Content-Encoding": encoding}, body)
    assert_problem(await receiver.send(raw), 415)
    assert await receiver.ledger_keys() == []


async def test_content_encoding_identity_is_accepted(receiver: Receiver) -> None:
    body, headers = signed_shopify()
    raw = request_bytes("POST", SHOP, {**headers, "Content-Encoding": "identity"}, body)
    answer = await receiver.send(raw)
    assert answer.status == 200 and answer.json()["status"] == "accepted"


# --- 9a, 9b: aiohttp's own errors -------------------------------------------------------

LOW_LEVEL = {
    "bad request line": b"NOT HTTP AT ALL\r\n\r\n",
    "bad method": b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "header without a colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    "two content lengths": b"POST " + SHOP.encode() + b" HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "non-ascii in the path": b"GET /heal\xffthz HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("raw", LOW_LEVEL.values(), ids=LOW_LEVEL.keys())
async def test_what_aiohttp_cannot_parse_is_a_400_problem(receiver: Receiver, raw: bytes) -> None:
    """aiohttp answers these before any middleware runs: still problem+json (9b)."""
    problem = assert_problem(await receiver.send(raw), 400)
    assert problem["title"] == "Bad Request"
    assert await receiver.ledger_keys() == []


async def test_broken_chunking_in_a_body_is_a_400_problem(receiver: Receiver) -> None:
    _, headers = signed_shopify()
    head = {**headers, "Transfer-Encoding": "chunked"}
    raw = request_bytes("POST", SHOP, head) + b"zz\r\n{}\r\n0\r\n\r\n"
    assert_problem(await receiver.send(raw), 400)
    assert await receiver.ledger_keys() == []


async def test_a_too_long_header_is_a_problem_and_its_value_is_never_logged(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A signature header over aiohttp's 8 KB line limit: a 400 problem; the log line says
    status and reason class, not the header's start (9a)."""
    signature = "c2lnbmF0dXJl" * 1000  # 12 KB of a "signature"
    raw = request_bytes("POST", SHOP, {"X-Shopify-Hmac-Sha256": signature}, b"{}")
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        problem = assert_problem(await receiver.send(raw), 400)
    assert "LineTooLong" in str(problem["detail"]) and signature[:24] not in str(problem)
    assert {"status": 400, "reason": "LineTooLong"}.items() <= logs[-1].items()
    assert signature[:24] not in repr(logs) and signature[:24] not in caplog.text
    assert await receiver.ledger_keys() == []


# --- 9c: slow heads and slow bodies --------------------------------------------------


async def test_a_head_sent_a_byte_at_a_time_is_cut_off_with_a_408(receiver: Receiver) -> None:
    """Slowloris: a header line trickling in is answered 408 and closed about
    `header_timeout_s` after its first byte, not left open for the keep-alive timeout."""
    reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
    head = request_bytes("POST", SHOP, {"X-Padding": "x" * 200})

    async def trickle() -> None:
        for byte in head:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)

    sender = asyncio.create_task(trickle())
    started = time.perf_counter()
    try:
        async with asyncio.timeout(3):
            answer = await read_answer(reader)
            assert await reader.read() == b""  # and the connection is closed
    finally:
        sender.cancel()
        writer.close()
    assert HEADER_TIMEOUT_S <= time.perf_counter() - started < HEADER_TIMEOUT_S + 1
    assert_problem(answer, 408)
    assert await receiver.ledger_keys() == []


async def test_a_body_that_stalls_is_a_408_and_the_connection_is_closed(
    receiver: Receiver,
) -> None:
    body, headers = signed_shopify()
    raw = request_bytes("POST", SHOP, {**headers, "Content-Length": str(len(body))})
    reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
    try:
        writer.write(raw + body[:10])  # the rest never comes
        async with asyncio.timeout(3):
            answer = await read_answer(reader)
            assert await reader.read() == b""
    finally:
        writer.close()
    assert "did not arrive" in str(assert_problem(answer, 408)["detail"])
    assert await receiver.ledger_keys() == []


async def test_a_client_leaving_mid_body_is_no_error_of_ours(receiver: Receiver) -> None:
    """A client that closes its connection after part of the body is logged as a refusal
    (400), not as a 500 with a traceback, so nobody can pump the 5xx rate from outside."""
    body, headers = signed_shopify()
    raw = request_bytes("POST", SHOP, {**headers, "Content-Length": str(len(body))})
    with structlog.testing.capture_logs() as logs:
        _, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
        writer.write(raw + body[:1])
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        for _ in range(50):  # until the receiver has noticed
            if any(entry.get("status") for entry in logs):
                break
            await asyncio.sleep(0.02)
    statuses = [entry["status"] for entry in logs if "status" in entry]
    assert statuses == [400], logs
    assert not any(entry.get("log_level") == "error" for entry in logs), logs
    assert await receiver.ledger_keys() == []


async def test_an_idle_connection_is_not_cut_by_the_header_timeout(receiver: Receiver) -> None:
    """Idle keep-alive (a load balancer's pooled connection) is not a slow head: after a
    request and twice the header timeout without a byte, a request on it is still served."""
    reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
    try:
        for _ in range(2):
            writer.write(request_bytes("GET", "/healthz", {}))
            async with asyncio.timeout(3):
                assert (await read_answer(reader)).status == 200
            await asyncio.sleep(HEADER_TIMEOUT_S * 2)
    finally:
        writer.close()


async def test_a_connection_that_never_sends_a_head_is_closed_with_a_408(
    receiver: Receiver,
) -> None:
    """A connection opened and left silent (a slowloris holding sockets) is answered 408 and
    closed `header_timeout_s` after it opened, not kept for the idle keep-alive timeout."""
    reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(3):
            answer = await read_answer(reader)
            assert await reader.read() == b""
    finally:
        writer.close()
    assert HEADER_TIMEOUT_S <= time.perf_counter() - started < HEADER_TIMEOUT_S + 1
    assert_problem(answer, 408)


# --- the hook into aiohttp, and the benchmark's bound --------------------------------


async def echo_length(request: web.Request) -> web.Response:
    return web.json_response({"length": len(await request.read())})


async def crash(_request: web.Request) -> web.Response:
    raise RuntimeError("a bug")


async def test_the_aiohttp_hooks_the_transport_needs_are_still_there() -> None:
    """Fails loudly when an aiohttp upgrade moves what handlers/transport.py relies on: a
    ReceiverRunner's connections are ReceiverRequestHandlers, and a body is read as sent,
    never inflated (even on a route with no Content-Encoding guard)."""
    check_aiohttp()
    assert "auto_decompress" in inspect.signature(web.RequestHandler.__init__).parameters
    app = web.Application()
    app.router.add_post("/echo", echo_length)
    app.router.add_get("/crash", crash)
    runner = ReceiverRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = gzip.compress(b"x" * 10_000)
        writer.write(request_bytes("POST", "/echo", {"Content-Encoding": "gzip"}, body))
        assert (await read_answer(reader)).json() == {"length": len(body)}
        assert runner.server is not None
        [connection] = runner.server.connections
        assert isinstance(connection, ReceiverRequestHandler)
        writer.close()
        # what escapes a handler is aiohttp's 500: a problem body too
        problem = assert_problem(await exchange(port, request_bytes("GET", "/crash", {})), 500)
        assert "a bug" not in json.dumps(problem)
    finally:
        await runner.cleanup()


async def test_healthz_stays_quick_while_a_1mb_gzip_request_is_in_flight(
    receiver: Receiver,
) -> None:
    """The benchmark's bound, over 20 probes: none slower than 100 ms while a gzip bomb's
    megabyte is still being sent (the receiver refused it and is draining it)."""
    bomb = gzip_bomb(BOMB_MIB)
    reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)

    async def send_slowly() -> None:
        writer.write(bomb_request(SHOP, bomb))
        for start in range(0, len(bomb), 128 * 1024):  # 8 pieces over 0.8 s
            writer.write(bomb[start : start + 128 * 1024])
            await asyncio.sleep(0.1)

    sender = asyncio.create_task(send_slowly())
    probe_reader, probe_writer = await asyncio.open_connection("127.0.0.1", receiver.port)
    latencies = []
    try:
        await asyncio.sleep(0.1)
        for _ in range(20):
            started = time.perf_counter()
            probe_writer.write(request_bytes("GET", "/healthz", {}))
            assert (await read_answer(probe_reader)).status == 200
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)
        in_flight = not sender.done()
        assert max(latencies) < 0.1, latencies
        assert in_flight, "the gzip request was sent before the probes were done"
        assert (await read_answer(reader)).status == 415
    finally:
        sender.cancel()
        writer.close()
        probe_writer.close()
    assert await receiver.ledger_keys() == []
