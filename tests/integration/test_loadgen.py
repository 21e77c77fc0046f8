"""The load generator over real HTTP: against the real receiver on the real Redis, against a
bare aiohttp app (its own speed, retries, Retry-After, the time bound), and reconciliation
against the iCount sandbox's real API and a real ledger."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from handlers.deliveries import to_item
from handlers.sources import get_source
from invoicebridge.loadgen import LoadPlan, build_deliveries, reconcile, run_load, wait_quiet
from invoicebridge.loadgen.payloads import Delivery
from invoicebridge.loadgen.report import DeliveryResult, LoadReport
from invoicebridge.loadgen.runner import expectations
from invoicebridge.serve import build_receiver
from sandboxes.icount.app import RunningSandbox
from tests.integration.test_receiver import SECRET, settings_for
from tests.receiver_server import ReceiverTestServer
from worker.domain.events import OrderEvent
from worker.domain.idempotency import sanity_string
from worker.ledger.ledger import Ledger
from worker.providers.icount.client import ICountClient
from worker.providers.icount.wire import build_document_request
from worker.settings import DocumentSettings, ICountSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    async with TestServer(app) as server:
        yield str(server.make_url("")).rstrip("/")


@pytest.fixture
async def bare_url() -> AsyncIterator[str]:
    """An aiohttp app that reads the body and answers 200: the floor any receiver sits on."""

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "accepted"})

    async for url in serve(ok):
        yield url


@pytest.fixture
async def receiver_url(redis_url: str) -> AsyncIterator[str]:
    """The real receiver (ledger + dramatiq broker on the real Redis), rate limit out of the way."""
    settings = settings_for(redis_url, rate_limit_per_s=1e6, rate_limit_burst=1e6)
    async with ReceiverTestServer(await build_receiver(settings)) as server:
        yield str(server.make_url("")).rstrip("/")


def shopify_plan(url: str, **fields: object) -> LoadPlan:
    values: dict[str, object] = {
        "url": url,
        "source": "shopify",
        "tenant": "acme",
        "secret": SECRET,
    } | fields
    return LoadPlan(**values)  # type: ignore[arg-type]


async def test_real_receiver_acknowledges_every_order_and_dedupes_the_repeats(
    receiver_url: str, redis_url: str
) -> None:
    """300 orders + 30% re-deliveries, 32 at a time: every order acknowledged, each original
    accepted once, every repeat answered `duplicate`, exactly 300 events in the ledger."""
    plan = shopify_plan(receiver_url, count=300, duplicates=0.3, first_order=10_000)
    report = await run_load(plan)
    assert not report.truncated and report.sent == 390 and report.duplicates_sent == 90
    assert report.statuses == {"200": 390}
    assert report.answers == {"accepted": 300, "duplicate": 90}
    assert report.acknowledged == {str(n) for n in range(10_000, 10_300)}
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await raw.zcard("ib:events") == 300
        ids = {d.event_id for d in build_deliveries(plan)}
        assert set(await raw.zrange("ib:events", 0, -1)) == ids
        assert await raw.hlen("invoicebridge:events.msgs") == 300  # one message per order
    finally:
        await raw.aclose()
    print(
        f"\nreal receiver in-process: {report.rate:,.0f} deliveries/s, "
        f"p50 {report.latency_ms()['p50']} ms, p99 {report.latency_ms()['p99']} ms"
    )


async def test_the_runner_is_fast_against_a_bare_app(bare_url: str) -> None:
    """2,000 requests against a handler that only answers 200 (in this same process)."""
    plan = shopify_plan(bare_url, count=2_000, concurrency=32)
    deliveries = build_deliveries(plan)  # before the clock, as the CLI does
    report = await run_load(plan, deliveries)
    assert report.statuses == {"200": 2_000} and report.attempts == 2_000
    assert report.rate > 500, f"only {report.rate:.0f}/s"
    print(
        f"\nbare app in-process: {report.rate:,.0f} requests/s, p50 {report.latency_ms()['p50']} ms"
    )


async def test_a_paced_run_keeps_to_its_rate_and_its_time_bound(bare_url: str) -> None:
    """At 50/s with a 1 s bound: about 50 sent, the rest left unsent and the run truncated."""
    report = await run_load(shopify_plan(bare_url, count=500, rate=50.0, max_seconds=1.0))
    assert report.truncated
    assert 45 <= report.sent <= 51
    assert report.elapsed < 1.5
    assert len(report.not_acknowledged) == 500 - report.sent


async def test_failures_are_retried_with_backoff_and_retry_after_is_obeyed() -> None:
    """Each order's first answer is a 503 (or a 429 asking for 1 s): all end acknowledged."""
    seen: dict[str, int] = {}

    async def flaky(request: web.Request) -> web.Response:
        body = await request.read()
        seen[body.decode()] = seen.get(body.decode(), 0) + 1
        if seen[body.decode()] > 1:
            return web.json_response({"status": "accepted"})
        if b'"id": 3' in body:
            return web.json_response({}, status=429, headers={"Retry-After": "1"})
        return web.json_response({}, status=503)

    async for url in serve(flaky):
        started = time.monotonic()
        report = await run_load(shopify_plan(url, count=5, first_order=1))
        took = time.monotonic() - started
    assert report.statuses == {"200": 5} and report.attempts == 10
    assert report.attempt_statuses == {"200": 5, "503": 4, "429": 1}
    assert 1.0 <= took < 3.0  # the 429 waited its second; the 503s only 0.2 s
    slow = next(r for r in report.results if r.order_id == "3")
    assert slow.latency >= 1.0 and slow.ack_latency is not None and slow.ack_latency < 0.5


async def test_a_request_that_never_ends_is_cut_at_the_time_bound() -> None:
    """A receiver that hangs: the run still ends at `max_seconds`, each delivery a timeout."""

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(2.5)
        return web.json_response({"status": "accepted"})

    async for url in serve(hang):
        started = time.monotonic()
        report = await run_load(shopify_plan(url, count=2, max_seconds=1.0))
        took = time.monotonic() - started
    assert took < 1.5
    assert report.acknowledged == set() and report.sent == 2
    assert all(status.startswith("error:") and "Timeout" in status for status in report.statuses)


async def test_a_receiver_that_is_down_is_reported_not_acknowledged() -> None:
    """Connection refused on every attempt: each delivery tries `retries` times, then says why."""
    report = await run_load(shopify_plan("http://127.0.0.1:9", count=3, retries=3))
    assert report.statuses == {"error:ClientConnectorError": 3} and report.attempts == 9
    assert report.acknowledged == set() and report.not_acknowledged == ["1", "2", "3"]


# --- reconciliation against the iCount sandbox and a real ledger ---------------------------


def event_of(delivery: Delivery) -> OrderEvent:
    source = get_source("shopify")
    assert source is not None
    item = to_item(source.parse(delivery.body, delivery.headers), "acme", "shopify")
    assert isinstance(item, OrderEvent)
    return item


async def issue(client: ICountClient, event: OrderEvent, step: str) -> None:
    """Make the order's document at iCount as the worker would, through the real API."""
    assert event.order is not None
    body = build_document_request(
        event.order,
        doctype=step,
        documents=DocumentSettings(),
        sanity=sanity_string("acme", event.order_id, step),
        issue_date=date.today(),
    )
    await client.create_document(body)


async def test_reconcile_tells_one_document_from_missing_doubled_wrong_and_failed(
    sandbox: RunningSandbox, ledger: Ledger, redis_url: str
) -> None:
    """Six acknowledged orders and one that never was, each with a different fate."""
    plan = shopify_plan("http://127.0.0.1:9", count=7, first_order=1)
    deliveries = build_deliveries(plan)
    events = [event_of(d) for d in deliveries]
    settings = ICountSettings(base_url=sandbox.api_url, api_token="API3E8-sandbox-token")
    async with aiohttp.ClientSession() as http:
        client = ICountClient(http, settings)
        for event in events[:3] + events[6:]:  # orders 1, 2, 3 and 7 (never acknowledged)
            await issue(client, event, "invrec")
        await issue(client, events[1], "invoice")  # order 2: a second sale document
    for event in events[3:5]:  # orders 4 and 5 reached the ledger; 6 did not
        await ledger.record(event)
    await ledger.set_event_state(events[3].event_id, "failed", error="validation: no lines")
    expected = expectations(deliveries)
    expected["3"] = replace(expected["3"], total=Decimal("0.01"))
    acked = [DeliveryResult(str(n), False, "200", "accepted", 1, 0.01, 0.01) for n in range(1, 7)]
    report = LoadReport(plan, datetime.now(UTC).timestamp(), 1.0, expected, acked)
    checked = await reconcile(report, sandbox_url=sandbox.url, redis_url=redis_url)
    assert checked.acknowledged == 6 and checked.with_one_document == ["1", "3"]
    assert checked.doubled == ["2"]
    assert list(checked.wrong_total) == ["3"] and "expected 0.01" in checked.wrong_total["3"]
    assert checked.failed_visible == {"4": "failed: validation: no lines"}
    assert checked.missing == ["5", "6"]
    assert checked.ledger_states == {"failed": 1, "received": 1, "absent": 4}
    assert checked.unacknowledged_with_document == ["7"]
    assert checked.emails_missing == [] and checked.emails_doubled == []
    assert not checked.ok
    assert dict(checked.table())["doubled"] == "1: 2"


async def test_wait_quiet_waits_for_busy_events_and_gives_up_at_its_timeout(
    ledger: Ledger, redis_url: str
) -> None:
    event = event_of(build_deliveries(shopify_plan("http://127.0.0.1:9", count=1))[0])
    await ledger.record(event)
    started = time.monotonic()
    assert await wait_quiet(redis_url, 0.3, settle=0.1) == (False, await ledger.count_by_state())
    assert 0.3 <= time.monotonic() - started < 1.0
    await ledger.set_event_state(event.event_id, "done")
    quiet, counts = await wait_quiet(redis_url, 5, settle=0.1)
    assert quiet and counts["done"] == 1 and counts["received"] == 0
