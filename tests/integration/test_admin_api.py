"""The admin API on the real receiver, ledger and Dramatiq broker: auth, every operation, and
bad arguments that are refused without changing anything."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from handlers.admin.api import admin_api
from handlers.admin.backend import AdminBackend
from tests.integration.test_ops import MESSAGES, seed, step
from tests.receiver_server import receiver_client
from worker.ledger.ledger import Ledger
from worker.settings import Settings

Client = TestClient[web.Request, web.Application]
OPERATOR, VIEWER = "op-token-0123456789abcdef", "view-token-0123456789abcdef"
AS_OPERATOR = {"Authorization": f"Bearer {OPERATOR}"}
AS_VIEWER = {"Authorization": f"Bearer {VIEWER}"}
API = "/admin/api"


def settings_for(redis_url: str) -> Settings:
    tenant = {
        "source": "shopify",
        "secret": "s",
        "provider": "icount",
        "icount": {"api_token": "t", "base_url": "http://127.0.0.1:9"},
    }
    tokens = [
        {"name": "oncall", "token": OPERATOR, "role": "operator"},
        {"name": "auditor", "token": VIEWER, "role": "viewer"},
    ]
    return Settings.model_validate(
        {
            "redis": {"url": redis_url},
            "admin": {"tokens": tokens},
            "tenants": {"acme": tenant, "globex": tenant},
        }
    )


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Client]:
    async with receiver_client(settings_for(redis_url)) as test_client:
        yield test_client


async def call(
    client: Client,
    method: str,
    path: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    response = await client.request(method, API + path, headers=headers or AS_OPERATOR, **kwargs)
    body = await response.json(content_type=None)
    assert response.status == status, body
    if status >= 400:
        assert response.content_type == "application/problem+json" and body["status"] == status
    return body


async def queued_messages(ledger: Ledger) -> int:
    return int(await ledger.redis.hlen(MESSAGES))


async def test_openapi_document_is_public_and_names_every_route(client: Client) -> None:
    doc = await call(client, "GET", "/openapi.json", headers={})
    assert doc["openapi"].startswith("3.1") and doc["components"]["securitySchemes"]["bearer"]
    served = set()
    for route in admin_api(cast(AdminBackend, None), ()).router.routes():
        assert route.resource is not None
        served.add(route.resource.canonical)
    assert served - {"/openapi.json"} == set(doc["paths"])


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Basic {OPERATOR}"},
    ],
)
async def test_without_a_valid_token_everything_is_401(client: Client, headers: dict[str, str]):
    for method, path in (("GET", "/events"), ("GET", "/overview"), ("POST", "/retry")):
        response = await client.request(method, API + path, headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert OPERATOR not in await response.text()


async def test_a_viewer_reads_but_may_not_act(client: Client, ledger: Ledger) -> None:
    eid = await seed(ledger, 1001, error="Permanent: refused")
    assert (await call(client, "GET", "/whoami", headers=AS_VIEWER))["role"] == "viewer"
    assert (await call(client, "GET", "/events", headers=AS_VIEWER))["count"] == 1
    for path, body in (
        (f"/events/{eid}/retry", None),
        (f"/events/{eid}/resolve", {"note": "x"}),
        ("/retry", {"failed": True}),
        ("/tenants/acme/pause", None),
    ):
        await call(client, "POST", path, 403, headers=AS_VIEWER, json=body)
    assert (await ledger.event(eid))["state"] == "failed" and await queued_messages(ledger) == 0
    assert (await call(client, "GET", "/actions"))["actions"] == []


async def test_list_filters_and_refuses_bad_arguments(client: Client, ledger: Ledger) -> None:
    await seed(ledger, 1001, error="iCount: bad vat id")
    await seed(ledger, 1002, state="done")
    await seed(ledger, 1003, tenant="globex", error="timeout")
    found = await call(client, "GET", "/events?state=failed&tenant=acme")
    assert [e["order_id"] for e in found["events"]] == ["1001"]
    assert (await call(client, "GET", "/events?q=VAT"))["events"][0]["order_id"] == "1001"
    assert (await call(client, "GET", "/events?order=%231002"))["events"][0]["state"] == "done"
    assert (await call(client, "GET", "/events?since=1h&limit=2"))["count"] == 2
    for query in ("state=broken", "since=yesterday", "limit=0", "limit=5000"):
        problem = await call(client, "GET", f"/events?{query}", 422)
        assert problem["detail"]
    problem = await call(client, "GET", "/events?limit=x", 400)  # not a number at all
    assert problem["detail"] == "limit: a whole number from 1 to 1000"


async def test_show_gives_the_event_its_order_and_each_attempt(client: Client, ledger: Ledger):
    eid = await seed(ledger, 1001, error="Permanent: refused")
    await step(ledger, eid, "1001", "invrec", error="Permanent: refused")
    detail = await call(client, "GET", f"/events/{eid}")
    assert detail["event"]["state"] == "failed" and detail["order_event"]["order"]["number"]
    [invrec] = detail["steps"]
    assert invrec["attempts_log"][0]["error"] == "Permanent: refused"
    await call(client, "GET", "/events/evt_nope", 404)


async def test_retry_one_queues_it_and_logs_who(client: Client, ledger: Ledger) -> None:
    eid = await seed(ledger, 1001, error="Permanent: refused")
    done = await seed(ledger, 1002, state="done")
    assert (await call(client, "POST", f"/events/{eid}/retry"))["retried"] == 1
    assert (await ledger.event(eid))["state"] == "queued" and await queued_messages(ledger) == 1
    assert "replay" in (await call(client, "POST", f"/events/{done}/retry", 409))["detail"]
    await call(client, "POST", "/events/evt_nope/retry", 404)
    [action] = (await call(client, "GET", "/actions"))["actions"]
    assert (action["action"], action["who"], action["event_id"]) == ("retry", "oncall", eid)


async def test_bulk_retry_by_tenant_and_by_ids(client: Client, ledger: Ledger) -> None:
    acme = [await seed(ledger, n, error="x") for n in range(1, 6)]
    globex = {await seed(ledger, n, tenant="globex", error="x") for n in range(6, 9)}
    outcome = await call(client, "POST", "/retry", json={"failed": True, "tenant": "globex"})
    assert (outcome["matched"], outcome["retried"]) == (3, 3)
    assert {
        e["event_id"] for e in (await call(client, "GET", "/events?state=queued"))["events"]
    } == globex
    assert await queued_messages(ledger) == 3
    done = await seed(ledger, 9, state="done")
    outcome = await call(client, "POST", "/retry", json={"event_ids": [*acme[:2], done, "evt_x"]})
    assert outcome["retried"] == 2 and outcome["skipped"] == {done: "done", "evt_x": "unknown"}
    assert (await ledger.count_by_state())["failed"] == 3


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"failed": true, "event_ids": ["a"]}', 422),
        (b"{}", 422),
        (b'{"event_ids": ["a"], "tenant": "acme"}', 422),
        (b'{"failed": true, "since": "soon"}', 422),
        (b'{"failed": true, "colour": "red"}', 422),
        (b"[1]", 400),
    ],
)
async def test_bad_bulk_retry_changes_nothing(
    client: Client, ledger: Ledger, body: bytes, status: int
) -> None:
    eid = await seed(ledger, 1001, error="x")
    await call(
        client,
        "POST",
        "/retry",
        status,
        data=body,
        headers=AS_OPERATOR | {"Content-Type": "application/json"},
    )
    assert (await ledger.event(eid))["state"] == "failed" and await queued_messages(ledger) == 0


async def test_discard_resolve_and_replay(client: Client, ledger: Ledger) -> None:
    failed, other, done = (
        await seed(ledger, 1, error="x"),
        await seed(ledger, 2, error="y"),
        await seed(ledger, 3, state="done"),
    )
    await call(client, "POST", f"/events/{failed}/resolve", 422, json={})
    await call(client, "POST", f"/events/{failed}/resolve", json={"note": "issued by hand"})
    await call(client, "POST", f"/events/{other}/discard", json={"note": "test order"})
    states = [(await ledger.event(i))["state"] for i in (failed, other)]
    assert states == ["resolved", "discarded"]
    await call(client, "POST", f"/events/{failed}/discard", 409, json={"note": "again"})
    await call(client, "POST", f"/events/{failed}/replay", 409)
    await call(client, "POST", f"/events/{done}/replay")
    assert (await ledger.event(done))["state"] == "queued" and await queued_messages(ledger) == 1
    notes = [a["note"] for a in (await call(client, "GET", "/actions"))["actions"]]
    assert notes == ["", "test order", "issued by hand"]


async def test_pause_resume_and_tenants(client: Client, ledger: Ledger) -> None:
    await seed(ledger, 1, error="x")
    await seed(ledger, 2, state="needs_attention", tenant="globex")
    assert (await call(client, "POST", "/tenants/acme/pause"))["changed"] is True
    assert (await call(client, "POST", "/tenants/acme/pause"))["changed"] is False
    await call(client, "POST", "/tenants/initech/pause", 404)
    tenants = {t["tenant"]: t for t in (await call(client, "GET", "/tenants"))["tenants"]}
    assert tenants["acme"]["paused"] and not tenants["globex"]["paused"]
    assert (tenants["acme"]["failed"], tenants["globex"]["needs_attention"]) == (1, 1)
    await call(client, "POST", "/tenants/acme/resume")
    assert not (await call(client, "GET", "/tenants"))["tenants"][0]["paused"]


async def test_overview_counts_throughput_and_queue(client: Client, ledger: Ledger) -> None:
    await seed(ledger, 1, error="x")
    await ledger.set_event_state(await seed(ledger, 2, state="running"), "done")
    await call(client, "POST", "/retry", json={"failed": True})
    view = await call(client, "GET", "/overview?hours=6")
    assert view["counts"]["queued"] == 1 and view["counts"]["done"] == 1
    assert len(view["hours"]) == 6 and sum(h["done"] for h in view["hours"]) == 1
    assert view["queue"]["ready"] == 1 and view["queue"]["dead_lettered"] == 0
    assert {t["tenant"] for t in view["tenants"]} == {"acme", "globex"}
    await call(client, "GET", "/overview?hours=0", 422)
    assert json.dumps(view).count(OPERATOR) == 0
