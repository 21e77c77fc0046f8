"""Profiles of the hot paths with pyinstrument: the receiver's request path in process, and
the pure parse and map functions. Text call trees go to benchmarks/profiles/.

The receiver runs as `invoicebridge serve` builds it (`build_receiver`, JSON logging at
info) against a private redis-server, and aiohttp's TestClient posts signed Shopify
webhooks to it from the same event loop. The sampler watches the main thread with
async_mode "disabled", so a coroutine waiting for Redis counts as idle (`select`), not as
the coroutine's time: the shares are CPU on the event loop's thread. The dramatiq send runs
in a worker thread the sampler does not see; the process CPU per request counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import structlog
from aiohttp.test_utils import TestClient, TestServer
from pyinstrument import Profiler

from benchmarks import micro_cases as cases
from benchmarks.profiling import Steps, Summary, save_text, summarise
from invoicebridge.samples import shopify as samples
from invoicebridge.serve import build_receiver
from invoicebridge.stack.local import free_port
from tests.conftest import start_redis
from worker.logs import configure_logging
from worker.settings import Settings

SECRET = "shpss_profile_secret"  # noqa: S105 (signs our own test webhooks)
URL = "/webhooks/shopify/acme"
RECEIVER_STEPS: dict[str, Steps] = {
    "aiohttp server, whole request": (("aiohttp/web_protocol.py", "_handle_request"),),
    "receive_webhook (the handler)": (("handlers/webhooks.py", "receive_webhook"),),
    "verify": (("handlers/sources/shopify.py", "verify"),),
    "parse (JSON + pydantic)": (("handlers/sources/shopify.py", "parse"),),
    "to_item (OrderEvent)": (("handlers/deliveries.py", "to_item"),),
    "ledger.record": (("worker/ledger/ledger.py", "record"),),
    "ledger.mark_queued": (("worker/ledger/ledger.py", "mark_queued"),),
    "send (dramatiq's dispatch script)": (("worker/runtime/broker.py", "send"),),
    "log line (structlog)": (("structlog/_native.py", "meth"),),
    "metrics middleware (own time)": (("handlers/metrics.py", "observe"),),
    "aiohttp test client": (("aiohttp/client.py", "_request"),),
    "idle in select()": (("selectors.py", "select"),),
}
PARSE_STEPS: dict[str, Steps] = {
    "verify (all sources)": (("handlers/sources/", "verify"),),
    "json.loads (Decimal floats)": (("json/__init__.py", "loads"),),
    "pydantic model_validate (wire models)": (("pydantic/main.py", "model_validate"),),
    "pydantic __init__ (canonical models)": (("pydantic/main.py", "__init__"),),
    "to_item (OrderEvent)": (("handlers/deliveries.py", "to_item"),),
}
MAP_STEPS: dict[str, Steps] = {
    "iCount build_document_request": (("icount/wire.py", "build_document_request"),),
    "iDoklad build_invoice": (("idoklad/wire.py", "build_invoice"),),
    "iCash sale_items": (("icash/sale.py", "sale_items"),),
    "vat.reconcile": (("worker/domain/vat.py", "reconcile"),),
    "encoding (json.dumps, iDoklad dumps, form)": (
        ("json/__init__.py", "dumps"),
        ("idoklad/wire.py", "dumps"),
        ("icash/wire.py", "form_fields"),
        ("urllib/parse.py", "urlencode"),
    ),
}
Delivered = list[tuple[bytes, dict[str, str]]]
PASSES = 5
_LOG_FILES: list[IO[str]] = []  # kept open: structlog caches its logger on first use


def _settings(redis_url: str) -> Settings:
    icount = {"cid": "c", "user": "u", "pass": "p", "base_url": "http://127.0.0.1:9"}
    return Settings.model_validate(
        {
            "redis": {"url": redis_url},
            "tenants": {
                "acme": {
                    "source": "shopify",
                    "secrets": [SECRET],
                    "provider": "icount",
                    "icount": icount,
                    "rate_limit_per_s": 1e9,
                    "rate_limit_burst": 1e9,
                }
            },
        }
    )


def _deliveries(count: int) -> Delivered:
    """`count` distinct signed `orders/paid` webhooks of the sample's two-line order."""
    out = []
    for n in range(count):
        body = samples.encode_body(samples.shopify_order(7_000_000_000 + n))
        out.append(
            (
                body,
                samples.headers_for(body, topic="orders/paid", secret=SECRET, event_id=f"prof-{n}"),
            )
        )
    return out


async def _post(
    client: TestClient[Any, Any], batch: Iterable[tuple[bytes, dict[str, str]]]
) -> None:
    async def one(body: bytes, headers: dict[str, str]) -> None:
        async with client.post(URL, data=body, headers=headers) as answer:
            assert answer.status == 200, await answer.text()

    await asyncio.gather(*(one(body, headers) for body, headers in batch))


async def _post_all(
    client: TestClient[Any, Any], deliveries: Delivered, concurrency: int
) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(deliveries), concurrency):
        await _post(client, deliveries[start : start + concurrency])
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "requests": len(deliveries),
        "requests_per_s": len(deliveries) / wall,
        "cpu_us_per_request": cpu / len(deliveries) * 1e6,
    }


async def _serve_and_post(
    settings: Settings, deliveries: Delivered, profiler: Profiler, concurrency: int
) -> dict[str, float]:
    """Warm up on one batch, time half the rest without the profiler in `PASSES` passes (the
    figures), then post the other half under it (the shares): sampling slows every call."""
    app = await build_receiver(settings)
    async with TestClient(TestServer(app)) as client:
        await _post(client, deliveries[:concurrency])  # connections, Lua scripts, caches
        half = (len(deliveries) + concurrency) // 2
        timed = deliveries[concurrency:half]
        step = -(-len(timed) // PASSES)
        passes = [
            await _post_all(client, timed[n : n + step], concurrency)
            for n in range(0, len(timed), step)
        ]
        with profiler:
            await _post_all(client, deliveries[half:], concurrency)
    # the median pass: a burst of another process's work on this shared machine moves one
    # pass, not the figure
    return {key: statistics.median(p[key] for p in passes) for key in passes[0]}


def _quiet_json_logging(workdir: Path) -> None:
    """The receiver's logging set-up (`configure_logging`), writing to a file, not stderr."""
    log_file = (workdir / "receiver.log").open("w", encoding="utf-8")
    _LOG_FILES.append(log_file)
    with contextlib.redirect_stderr(log_file):
        configure_logging("info")


def profile_receiver(workdir: Path, name: str, count: int = 6000, concurrency: int = 8) -> Summary:
    """Post `count` signed Shopify webhooks to the in-process receiver, half of them under
    pyinstrument."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    redis = start_redis(workdir, port)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    _quiet_json_logging(workdir)
    try:
        profiler = Profiler(interval=0.0005, async_mode="disabled")
        settings = _settings(f"redis://127.0.0.1:{port}/0")
        work = _serve_and_post(settings, _deliveries(count), profiler, concurrency)
        figures = asyncio.run(work)
    finally:
        redis.terminate()
        redis.wait(10)
        structlog.reset_defaults()  # loggers cached on first use keep writing to the file
        root.handlers[:] = handlers
        root.setLevel(level)
    save_text(profiler, name)
    summary = summarise(profiler, RECEIVER_STEPS)
    summary.figures = figures
    return summary


def _profile(
    name: str, work: Callable[[], object], steps: dict[str, Steps], rounds: int
) -> Summary:
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    started = time.perf_counter()
    with profiler:
        for _ in range(rounds):
            work()
    elapsed = time.perf_counter() - started
    save_text(profiler, name)
    summary = summarise(profiler, steps)
    summary.figures = {"us_per_round": elapsed / rounds * 1e6}
    return summary


def profile_parse(name: str, rounds: int = 400) -> Summary:
    """Verify, parse and validate a 50-line order from each of the four sources."""
    deliveries = [cases.delivery(source) for source in cases.SOURCES]

    def work() -> None:
        for item in deliveries:
            cases.receive(item)

    return _profile(name, work, PARSE_STEPS, rounds)


def profile_map(name: str, rounds: int = 300) -> Summary:
    """Map the 50-line canonical order to each provider's request body, and encode it."""
    request = cases.document_request(cases.canonical_event())

    def work() -> None:
        for build, encode in cases.PROVIDERS.values():
            encode(build(request))

    return _profile(name, work, MAP_STEPS, rounds)
