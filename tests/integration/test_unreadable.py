"""A signed delivery is never lost to our own parser (issue #18): the real receiver records
it as it came and answers 2xx; the worker that reads it keeps one the parser cannot read as
`unreadable` (alerted, listed, its body masked), and a replay reads it once the parser knows
its shape; an unsigned one is never kept. Real Redis, the iCount sandbox, the receiver app
as production builds it, the worker's job run in-process with the receiver's parsers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from handlers.sources import shopify
from invoicebridge.reading import read_delivery
from invoicebridge.replay import replay_event
from invoicebridge.samples import shopify as samples
from invoicebridge.samples import standard as samples_standard
from invoicebridge.serve import build_receiver
from sandboxes.icount.app import RunningSandbox
from tests.alerting import alert_hook
from tests.integration.test_jobs import sandbox_get
from tests.receiver_server import ReceiverTestServer
from tests.tenants import icount_login, worker_settings
from worker.jobs import process as jobs
from worker.ledger.keys import EVENT
from worker.ops import actions as ops
from worker.runtime.resources import Resources
from worker.settings import Settings

URL = "/webhooks/shopify/acme"
#: Luhn-valid: must never be kept, even in a delivery kept raw
CARD = "4111 1111 1111 1111"
#: the tenants' signing secrets
SHOPIFY_SECRET, WHSEC = "shpss_unreadable", samples_standard.new_secret()


def settings_for(redis_url: str, sandbox: RunningSandbox, hook_url: str) -> Settings:
    """The iCount tenant `acme` (Shopify, alerts to `hook_url`) and a Standard one, `std`."""
    tenant = {"provider": "icount", "icount": icount_login(sandbox.api_url)}
    return worker_settings(
        redis_url,
        {
            "acme": {
                **tenant,
                "source": "shopify",
                "secret": SHOPIFY_SECRET,
                "alerts": {"webhook_url": hook_url},
            },
            "std": {**tenant, "source": "standard", "secret": WHSEC},
        },
    )


def future_order(order_id: int) -> dict[str, Any]:
    """An order in a shape this parser does not know: `total_price` as a money object (as a
    later API version might send it), and a card number in a note."""
    order = samples.with_sale(samples.shopify_order(order_id))
    order["total_price"] = {"amount": order["total_price"], "currency_code": order["currency"]}
    order["note"] = f"paid with {CARD}"
    return order


def signed(payload: dict[str, Any], secret: str = SHOPIFY_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, samples.headers_for(body, topic="orders/paid", secret=secret, event_id="e1")


@pytest.fixture
async def setup(
    redis_url: str, sandbox: RunningSandbox
) -> AsyncIterator[tuple[TestClient[Any, Any], jobs.Deps, Any]]:
    async with alert_hook() as hook:
        settings = settings_for(redis_url, sandbox, hook.url)
        app = await build_receiver(settings)
        resources = Resources(settings, read=read_delivery)
        deps = await resources.open()
        async with TestClient(ReceiverTestServer(app)) as client:
            yield client, deps, hook
        await resources.close()


async def no_send(_actor: str, _event_ids: Sequence[str]) -> None:
    """The replay's queue message: the test runs the job itself."""


def newer_parser(original: Any) -> Any:
    """The parser once it knows the shape: a money object's amount is the total."""

    def parse(body: bytes, headers: Mapping[str, str]) -> Any:
        data = json.loads(body)
        if isinstance(data.get("total_price"), dict):
            data["total_price"] = data["total_price"]["amount"]
        return original(json.dumps(data).encode(), headers)

    return parse


async def test_an_unreadable_signed_delivery_is_kept_alerted_and_replayed_to_done(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any],
    sandbox: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, deps, hook = setup
    order = future_order(3301)
    body, headers = signed(order)
    answers = [await client.post(URL, data=body, headers=headers) for _ in range(2)]
    assert [a.status for a in answers] == [200, 200]
    first, again = [await answer.json() for answer in answers]
    assert (first["status"], again["status"]) == ("accepted", "duplicate")
    event_id = first["event_id"]
    assert again["event_id"] == event_id  # a re-delivery: one event

    await jobs.process_event(deps, event_id)  # the worker reads it
    fields = await deps.ledger.event(event_id)
    assert fields["state"] == "unreadable" and fields["topic"] == "orders/paid"
    total = order["total_price"]["amount"]
    assert "total_price" in fields["last_error"] and total not in fields["last_error"]
    headers = json.loads(fields["headers"])
    assert headers["x-shopify-topic"] == "orders/paid"
    assert not any("hmac" in name for name in headers)
    assert CARD not in fields["body"] and "1111" in fields["body"]  # masked, last four kept
    await jobs.process_event(deps, event_id)  # a message again: it stays as it is
    assert (await deps.ledger.event(event_id))["state"] == "unreadable"
    [listed] = await ops.find_events(deps.ledger, states=["unreadable"])
    assert listed.event_id == event_id
    for _ in range(50):  # the worker that read it sent the alert
        if hook.payloads():
            break
        await asyncio.sleep(0.05)
    [alert] = hook.payloads()
    assert (alert["event_id"], alert["state"]) == (event_id, "unreadable")

    with pytest.raises(ops.NotAllowed, match="still unreadable"):
        await replay_event(deps.ledger, event_id, enqueue=no_send, who="oncall", actor_name="x")
    assert (await deps.ledger.event(event_id))["state"] == "unreadable"

    monkeypatch.setattr(shopify, "parse", newer_parser(shopify.parse))
    state = await replay_event(deps.ledger, event_id, enqueue=no_send, who="oncall", actor_name="x")
    assert state == "queued"
    assert not {"body", "headers", "raw"} & set(await deps.ledger.event(event_id))  # read now
    await jobs.process_event(deps, event_id)
    fields = await deps.ledger.event(event_id)
    assert fields["state"] == "done" and fields["order_id"] == "3301"
    [document] = await sandbox_get(sandbox, "documents")
    assert str(document["totalwithvat"]) == total


async def test_an_unsigned_unreadable_delivery_is_never_kept(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any], raw: aioredis.Redis
) -> None:
    client, _, _ = setup
    body, headers = signed(future_order(3302), secret="not-the-tenants")
    answer = await client.post(URL, data=body, headers=headers)
    assert answer.status == 401
    assert [key async for key in raw.scan_iter(EVENT.format("*"))] == []


async def test_a_standard_sender_still_gets_its_422(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any], raw: aioredis.Redis
) -> None:
    """The Standard source's senders are the merchant's own systems: a schema violation is
    answered 422 naming the field, and nothing is kept (they fix it and send again)."""
    client, _, _ = setup
    data = samples_standard.order_data("s-1", lines=(("Mug", "10.00", 1),))
    data["order"]["total"] = {"amount": "10.00"}
    body = json.dumps(samples_standard.envelope("order.paid", data)).encode()
    headers = samples_standard.headers_for(body, WHSEC, msg_id="msg-s-1")
    answer = await client.post("/webhooks/standard/std", data=body, headers=headers)
    assert answer.status == 422
    assert "total" in (await answer.json())["detail"]
    assert [key async for key in raw.scan_iter(EVENT.format("*"))] == []


async def test_a_body_with_a_lone_surrogate_escape_is_kept_not_refused(
    setup: tuple[TestClient[Any, Any], jobs.Deps, Any],
) -> None:
    """JSON may carry `\\ud800`, which Redis cannot store as text: the kept body keeps it as
    an escape, and the delivery is answered 2xx and then kept like any other unreadable
    one."""
    client, deps, _ = setup
    order = future_order(3303)
    order["note"] = "\ud800"
    body = json.dumps(order).encode()  # ASCII: the escape travels as the six characters
    headers = samples.headers_for(body, topic="orders/paid", secret=SHOPIFY_SECRET, event_id="e3")
    answer = await client.post(URL, data=body, headers=headers)
    assert answer.status == 200 and (await answer.json())["status"] == "accepted"
    event_id = (await answer.json())["event_id"]
    await jobs.process_event(deps, event_id)
    fields = await deps.ledger.event(event_id)
    assert fields["state"] == "unreadable" and "\\ud800" in fields["body"]
