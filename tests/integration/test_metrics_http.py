"""The receiver's `/metrics` against a real Redis: webhooks by source and status, latency,
ledger states counted at scrape time, and a scrape that still answers with Redis down."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from handlers.app import create_app
from handlers.deps import Enqueue, ReceiverDeps, StateCounts, TenantAuth
from handlers.metrics import METRICS
from invoicebridge.samples import shopify as samples
from invoicebridge.serve import build_receiver
from tests.conftest import free_port
from tests.receiver_server import ReceiverTestServer
from worker.domain.states import EVENT_STATES
from worker.ledger.ledger import Ledger
from worker.settings import Settings

Client = TestClient[web.Request, web.Application]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
SECRET = "shpss_metrics_secret"


def settings_for(redis_url: str) -> Settings:
    icount = {"cid": "c", "user": "u", "pass": "p", "base_url": "http://127.0.0.1:9"}
    tenant = {"source": "shopify", "secrets": [SECRET], "provider": "icount", "icount": icount}
    return Settings.model_validate({"redis": {"url": redis_url}, "tenants": {"acme": tenant}})


def shopify_delivery(order_id: int, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(samples.shopify_order(order_id)).encode()
    return body, samples.headers_for(
        body, topic="orders/create", secret=secret, event_id=f"evt-{order_id}"
    )


async def scrape(client: Client) -> Samples:
    """Every sample of `/metrics`, keyed by (name, sorted labels)."""
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(await response.text())
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def events(found: Samples) -> dict[str, float]:
    return {dict(k[1])["state"]: v for k, v in found.items() if k[0] == "invoicebridge_events"}


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Client]:
    """The receiver as `serve` builds it: real ledger (and its `count_by_state`), real broker."""
    app = await build_receiver(settings_for(redis_url))
    async with TestClient(ReceiverTestServer(app)) as test_client:
        yield test_client


async def test_webhooks_are_counted_by_source_and_status(client: Client) -> None:
    """A signed delivery (200), an unsigned one (401) and an unknown source (404, "other")."""
    body, headers = shopify_delivery(1001)
    assert (await client.post("/webhooks/shopify/acme", data=body, headers=headers)).status == 200
    unsigned = {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}
    assert (await client.post("/webhooks/shopify/acme", data=body, headers=unsigned)).status == 401
    assert (await client.post("/webhooks/no-such-shop/acme", data=body)).status == 404
    assert (await client.get("/healthz")).status == 200  # not a webhook: not counted

    found = await scrape(client)
    total = "invoicebridge_webhooks_total"
    assert value(found, total, source="shopify", status="200") == 1
    assert value(found, total, source="shopify", status="401") == 1
    assert value(found, total, source="other", status="404") == 1
    assert sum(v for k, v in found.items() if k[0] == total) == 3
    seconds = "invoicebridge_webhook_duration_seconds"
    assert value(found, seconds + "_count", source="shopify") == 2
    assert value(found, seconds + "_count", source="other") == 1
    assert (value(found, seconds + "_sum", source="shopify") or 0) > 0


async def test_events_gauge_follows_the_ledger(client: Client, ledger: Ledger) -> None:
    """Every known state is exported, from the ledger at scrape time; an emptied state is 0."""
    body, headers = shopify_delivery(2002)
    response = await client.post("/webhooks/shopify/acme", data=body, headers=headers)
    event_id = (await response.json())["event_id"]

    found = await scrape(client)
    assert value(found, "invoicebridge_ledger_up") == 1
    assert set(events(found)) == set(EVENT_STATES)
    assert events(found) == await ledger.count_by_state()
    assert events(found)["queued"] == 1 and sum(events(found).values()) == 1

    await ledger.set_event_state(event_id, "done")
    after = events(await scrape(client))
    assert (after["queued"], after["done"]) == (0, 1)


@pytest.fixture
async def down() -> AsyncIterator[Ledger]:
    """A real ledger client of a Redis that is not there (nothing listens on the port)."""
    store = Ledger.from_url(f"redis://127.0.0.1:{free_port()}/0")
    yield store
    await store.close()


def receiver(store: Ledger, enqueue: Enqueue, state_counts: StateCounts | None) -> web.Application:
    tenants = {"acme": TenantAuth(source="shopify", secrets=(SECRET,))}
    return create_app(
        ReceiverDeps(tenants=tenants, store=store, enqueue=enqueue, state_counts=state_counts)
    )


async def test_scrape_answers_with_the_ledger_down(ledger: Ledger, down: Ledger) -> None:
    """State counts unavailable: 200 with `ledger_up 0`, no stale counts, the rest as usual."""
    queued: list[str] = []

    async def enqueue(event_id: str) -> None:
        queued.append(event_id)

    async with TestClient(
        ReceiverTestServer(receiver(ledger, enqueue, down.count_by_state))
    ) as client:
        body, headers = shopify_delivery(3003)
        response = await client.post("/webhooks/shopify/acme", data=body, headers=headers)
        assert response.status == 200
        found = await scrape(client)
    assert len(queued) == 1
    assert value(found, "invoicebridge_ledger_up") == 0
    assert events(found) == {}
    assert value(found, "invoicebridge_webhooks_total", source="shopify", status="200") == 1


@pytest.mark.parametrize("broken", ["store", "enqueue"])
async def test_the_status_counted_is_the_status_answered(
    ledger: Ledger, down: Ledger, broken: str
) -> None:
    """A ledger outage is answered (and counted) 503; an unexpected exception 500.
    Without `state_counts` there are no ledger gauges at all."""

    async def enqueue(_event_id: str) -> None:
        raise RuntimeError("a bug in the enqueue path")

    store, expected = (down, 503) if broken == "store" else (ledger, 500)
    async with TestClient(ReceiverTestServer(receiver(store, enqueue, None))) as client:
        body, headers = shopify_delivery(4004)
        response = await client.post("/webhooks/shopify/acme", data=body, headers=headers)
        assert response.status == expected
        found = await scrape(client)
    total = "invoicebridge_webhooks_total"
    assert value(found, total, source="shopify", status=str(expected)) == 1
    assert not any(k[0].startswith(("invoicebridge_events", "invoicebridge_ledger")) for k in found)


async def test_each_app_has_its_own_registry(redis_url: str) -> None:
    """Two receivers in one process: no clash in a global registry, no shared counts."""
    first = await build_receiver(settings_for(redis_url))
    second = await build_receiver(settings_for(redis_url))
    assert first[METRICS].registry is not second[METRICS].registry
    async with (
        TestClient(ReceiverTestServer(first)) as one,
        TestClient(ReceiverTestServer(second)) as two,
    ):
        body, headers = shopify_delivery(5005)
        await one.post("/webhooks/shopify/acme", data=body, headers=headers)
        total = "invoicebridge_webhooks_total"
        assert value(await scrape(one), total, source="shopify", status="200") == 1
        assert value(await scrape(two), total, source="shopify", status="200") is None
