"""Records written before the canonical models were tightened (#15: bounded amounts, ISO 4217
currencies) and no longer valid: the worker fails the event once, naming the field and never
its value; the admin API still shows it; an operator's retry fails it the same way. Real
Redis, the iCount sandbox and the real receiver; the old records are written straight into
Redis as an older version left them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import pytest

from invoicebridge.samples import shopify as samples
from sandboxes.icount.app import RunningSandbox
from tests.integration.test_admin_api import AS_VIEWER, Client, call
from tests.integration.test_admin_api import settings_for as admin_settings
from tests.integration.test_jobs import record, sandbox_get, settings_for
from tests.integration.test_ops import seed
from tests.receiver_server import receiver_client
from worker.jobs import process as jobs
from worker.ledger.keys import EVENT, REFUNDS, SNAPSHOT
from worker.ledger.ledger import Ledger
from worker.ops import actions as ops
from worker.runtime.actors import ACTOR
from worker.runtime.resources import Resources

#: what an older version let through and this one refuses, and the field it is named by
OLD_SCHEMA = [({"total": "1E+999999999"}, "order.total"), ({"currency": "QQQ"}, "order.currency")]


async def old_payload(ledger: Ledger, event_id: str, **order: str) -> None:
    """Rewrite the stored event's order as a version before the bounds would have stored it."""
    key = EVENT.format(event_id)
    payload = json.loads(cast(str, await ledger.redis.hget(key, "payload")))
    payload["order"] |= order
    await ledger.redis.hset(key, "payload", json.dumps(payload))


@pytest.fixture
async def deps(redis_url: str, sandbox: RunningSandbox) -> AsyncIterator[jobs.Deps]:
    resources = Resources(settings_for(redis_url, sandbox))
    yield await resources.open()
    await resources.close()


async def no_send(_actor: str, _event_ids: Sequence[str]) -> None:
    """The operator's retry without a broker: the test runs the job itself."""


@pytest.mark.parametrize(("old", "field"), OLD_SCHEMA)
async def test_an_unreadable_stored_event_fails_once_with_the_field_not_the_value(
    deps: jobs.Deps,
    sandbox: RunningSandbox,
    old: dict[str, str],
    field: str,
) -> None:
    event = await record(deps, samples.shopify_order(21))
    await old_payload(deps.ledger, event.event_id, **old)
    await jobs.process_event(deps, event.event_id)  # no RetryLater, no ValidationError
    fields = await deps.ledger.event(event.event_id)
    assert (fields["state"], fields["failures"]) == ("failed", "0")
    error = fields["last_error"]
    assert error.startswith("stored_event_invalid: ") and f": {field}: " in error
    assert not any(value in error for value in old.values())
    assert await sandbox_get(sandbox, "documents") == []
    [found] = await ops.find_events(deps.ledger, states=["failed"], text="stored_event_invalid")
    assert found.event_id == event.event_id
    # a stale message, then an operator's retry: left alone, then failed the same way
    await jobs.process_event(deps, event.event_id)
    assert (
        await ops.retry(
            deps.ledger, [event.event_id], enqueue=no_send, who="oncall", actor_name=ACTOR
        )
        == 1
    )
    await jobs.process_event(deps, event.event_id)
    fields = await deps.ledger.event(event.event_id)
    assert fields["state"] == "failed" and fields["last_error"] == error
    assert await sandbox_get(sandbox, "documents") == []


@pytest.mark.parametrize("stored", ["snapshot", "refund"])
async def test_an_unreadable_snapshot_or_refund_fails_a_later_event_of_the_order_cleanly(
    deps: jobs.Deps,
    sandbox: RunningSandbox,
    stored: str,
) -> None:
    """The later event is readable but its order's stored record is not: it fails with the
    reason and changes nothing (planning from a part of the order could be wrong)."""
    order = samples.shopify_order(22, financial_status="pending")
    created = await record(deps, order)
    await jobs.process_event(deps, created.event_id)  # an invoice; the snapshot is kept
    redis, snapshot_key = deps.ledger.redis, SNAPSHOT.format("acme", "22")
    if stored == "snapshot":
        old = json.loads(cast(str, await redis.get(snapshot_key))) | {"currency": "QQQ"}
        await redis.set(snapshot_key, json.dumps(old))
        field = "currency"
    else:
        old = {"refund_id": "r1", "amount": "1E+999999999", "currency": "ILS"}
        await redis.hset(REFUNDS.format("acme", "22"), "r1", json.dumps(old))
        field = "amount"
    kept = await redis.get(snapshot_key)
    paid = await record(deps, {**order, "financial_status": "paid"}, topic="orders/paid")
    await jobs.process_event(deps, paid.event_id)  # no RetryLater, no ValidationError
    fields = await deps.ledger.event(paid.event_id)
    assert (fields["state"], fields["failures"]) == ("failed", "0")
    error = fields["last_error"]
    assert error.startswith(f"stored_{stored}_invalid: ") and f": {field}: " in error
    assert "QQQ" not in error and "1E+999999999" not in error
    assert [doc["doctype"] for doc in await sandbox_get(sandbox, "documents")] == ["invoice"]
    assert await redis.get(snapshot_key) == kept


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Client]:
    async with receiver_client(admin_settings(redis_url)) as test_client:
        yield test_client


async def test_the_admin_api_shows_an_unreadable_event_and_says_why(
    client: Client, ledger: Ledger
) -> None:
    eid = await seed(ledger, 1001, error="stored_event_invalid: ...")
    readable = await seed(ledger, 1002, state="done")
    await old_payload(ledger, eid, total="1E+999999999", currency="QQQ")
    detail: dict[str, Any] = await call(client, "GET", f"/events/{eid}", headers=AS_VIEWER)
    assert detail["event"]["state"] == "failed" and detail["event"]["order_id"] == "1001"
    assert detail["order_event"] is None
    unreadable = detail["order_event_unreadable"]
    assert (unreadable["reason"], unreadable["field"]) == ("stored_event_invalid", "order.currency")
    assert "1E+999999999" not in json.dumps(detail) and "QQQ" not in json.dumps(detail)
    good = await call(client, "GET", f"/events/{readable}")
    assert good["order_event"]["order"]["number"] and good["order_event_unreadable"] is None
    assert (await call(client, "GET", "/events"))["count"] == 2
    assert (await call(client, "GET", "/events?state=failed"))["events"][0]["event_id"] == eid
    assert (await call(client, "GET", "/overview"))["counts"]["failed"] == 1
    assert (await call(client, "POST", f"/events/{eid}/retry"))["retried"] == 1
