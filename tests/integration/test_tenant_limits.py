"""Per-tenant limits shared through Redis: every process sees the same rate and the same
slots, an event over a limit waits without spending a retry, a dead holder's slot returns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from invoicebridge.samples import shopify as samples
from sandboxes.icount.app import RunningSandbox
from tests.integration.test_jobs import record, settings_for
from tests.tenants import set_faults
from worker.jobs import process as jobs
from worker.jobs.limits import TenantLimits
from worker.runtime.resources import Resources
from worker.settings import LimitSettings


@pytest.fixture
async def hosts(redis_url: str) -> AsyncIterator[tuple[TenantLimits, TenantLimits]]:
    """Two workers' limiters, each with its own Redis connection, as on two hosts."""
    clients = [aioredis.Redis.from_url(redis_url, decode_responses=True) for _ in range(2)]
    yield TenantLimits(clients[0], lease_ms=400), TenantLimits(clients[1], lease_ms=400)
    for client in clients:
        await client.aclose()


async def test_the_rate_is_shared_by_every_host(hosts: tuple[TenantLimits, TenantLimits]):
    one, two = hosts
    limits = LimitSettings(events_per_s=5, burst=2)
    assert (await one.admit("acme", limits)).admitted
    assert (await two.admit("acme", limits)).admitted  # the burst of two, across hosts
    refused = await one.admit("acme", limits)
    assert not refused.admitted and 0 < refused.wait_ms <= 200
    assert refused.reason == "tenant rate limit"
    assert (await two.admit("globex", limits)).admitted  # another tenant: its own rate
    await asyncio.sleep(refused.wait_ms / 1000 + 0.02)
    assert (await two.admit("acme", limits)).admitted


async def test_slots_are_shared_and_a_dead_holders_slot_comes_back(
    hosts: tuple[TenantLimits, TenantLimits],
) -> None:
    one, two = hosts
    limits = LimitSettings(max_concurrent_events=2)
    first, second = await one.admit("acme", limits), await two.admit("acme", limits)
    assert first.admitted and second.admitted
    refused = await one.admit("acme", limits)
    assert not refused.admitted and refused.reason == "tenant at its concurrency limit"
    await two.release("acme", second)
    third = await one.admit("acme", limits)
    assert third.admitted
    await asyncio.sleep(0.45)  # `first` and `third` never released: their holders died
    assert (await two.admit("acme", limits)).admitted


@pytest.fixture
async def one_at_a_time(redis_url: str, sandbox: RunningSandbox) -> AsyncIterator[jobs.Deps]:
    base = settings_for(redis_url, sandbox)
    tenant = base.tenants["acme"].model_copy(
        update={"limits": LimitSettings(max_concurrent_events=1)}
    )
    resources = Resources(base.model_copy(update={"tenants": {"acme": tenant}}))
    yield await resources.open()
    await resources.close()


async def test_an_event_over_the_limit_waits_without_spending_a_retry(
    one_at_a_time: jobs.Deps, sandbox: RunningSandbox
) -> None:
    deps = one_at_a_time
    first = await record(deps, samples.with_sale(samples.shopify_order(51)), topic="orders/paid")
    second = await record(deps, samples.with_sale(samples.shopify_order(52)), topic="orders/paid")
    await set_faults(sandbox, {"path": "doc/create", "plan": [{"latency_ms": 400}]})
    running = asyncio.create_task(jobs.process_event(deps, first.event_id))
    await asyncio.sleep(0.2)
    with pytest.raises(jobs.RetryLater, match="concurrency limit"):
        await jobs.process_event(deps, second.event_id)
    assert (await deps.ledger.event(second.event_id))["failures"] == "0"
    await running
    await jobs.process_event(deps, second.event_id)  # the slot is back
    assert (await deps.ledger.event(second.event_id))["state"] == "done"


async def test_a_running_jobs_slot_is_renewed_and_a_dead_ones_returns(
    hosts: tuple[TenantLimits, TenantLimits],
) -> None:
    """Renewed with the order lock while its job runs, a slot outlives its lease; once the
    renewals stop (the worker died), it returns within one lease."""
    one, two = hosts
    limits = LimitSettings(max_concurrent_events=1)
    held = await one.admit("acme", limits)
    assert held.admitted
    for _ in range(4):  # 4 × 200 ms: twice the 400 ms lease
        await asyncio.sleep(0.2)
        await one.renew("acme", held)
        assert not (await two.admit("acme", limits)).admitted, "still held while renewed"
    await asyncio.sleep(0.45)  # no renewal for a whole lease: the holder is gone
    assert (await two.admit("acme", limits)).admitted
