"""The order lock is renewed while an event runs: a provider slower than the lock's TTL does
not let a second worker into the same order; a dead worker's lock still expires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from invoicebridge.samples import shopify as samples
from sandboxes.icount.app import RunningSandbox
from tests.integration.test_jobs import record, sandbox_get, settings_for
from tests.tenants import set_faults
from worker.jobs import process as jobs
from worker.runtime.resources import Resources


@pytest.fixture
async def slow_deps(redis_url: str, sandbox: RunningSandbox) -> AsyncIterator[jobs.Deps]:
    """A one-second order lock and an iCount client patient enough for a 2.5 s answer."""
    base = settings_for(redis_url, sandbox)
    tenant = base.tenants["acme"]
    icount = tenant.icount.model_copy(update={"timeout_s": 10.0})  # type: ignore[union-attr]
    settings = base.model_copy(
        update={
            "queue": base.queue.model_copy(update={"order_lock_ttl_ms": 1000}),
            "tenants": {"acme": tenant.model_copy(update={"icount": icount})},
        }
    )
    resources = Resources(settings)
    yield await resources.open()
    await resources.close()


async def test_a_slow_provider_keeps_the_order_locked(
    slow_deps: jobs.Deps, sandbox: RunningSandbox
) -> None:
    order = samples.with_sale(samples.shopify_order(41))
    first = await record(slow_deps, order, topic="orders/paid")
    second = await record(slow_deps, order, topic="orders/updated")
    await set_faults(sandbox, {"path": "doc/create", "plan": [{"latency_ms": 2500}]})
    running = asyncio.create_task(jobs.process_event(slow_deps, first.event_id))
    await asyncio.sleep(1.6)  # past the TTL: without renewal the lock would be gone
    with pytest.raises(jobs.RetryLater, match="order busy"):
        await jobs.process_event(slow_deps, second.event_id)
    await running
    await jobs.process_event(slow_deps, second.event_id)  # now free: finds the step done
    assert len(await sandbox_get(sandbox, "documents")) == 1


async def test_a_dead_workers_lock_expires_within_its_ttl(slow_deps: jobs.Deps) -> None:
    lock = slow_deps.ledger.order_lock("acme", "42", ttl_s=1.0)
    assert await lock.acquire()  # taken, then never renewed: as if its worker died
    again = slow_deps.ledger.order_lock("acme", "42", ttl_s=1.0)
    assert not await again.acquire()
    await asyncio.sleep(1.1)
    assert await again.acquire()
