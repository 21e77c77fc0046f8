"""The webhook rate limit as `serve` wires it from the settings: off unless a tenant sets one
(a flash sale is taken whole, and Redis keeps no rate for the tenant), and when set, its
burst defaults to a minute's worth of the rate."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from invoicebridge.serve import build_receiver
from tests.integration.test_receiver import URL, settings_for, signed
from tests.receiver_server import ReceiverTestServer
from worker.ledger.keys import EVENTS, WEBHOOK_RATE

#: more than a burst of 200 and faster than 50/s, the limit this replaced
FLASH_SALE = 300


async def test_without_a_limit_a_flash_sale_is_taken_whole(redis_url: str) -> None:
    """Every delivery of the burst is accepted and recorded; no rate key is ever written,
    so the record script did no GCRA work for the tenant."""
    app = await build_receiver(settings_for(redis_url))
    async with TestClient(ReceiverTestServer(app)) as client:
        deliveries = [signed(order_id) for order_id in range(1, FLASH_SALE + 1)]
        answers = await asyncio.gather(
            *(client.post(URL, data=body, headers=headers) for body, headers in deliveries)
        )
        assert [r.status for r in answers] == [200] * FLASH_SALE
    raw = aioredis.Redis.from_url(redis_url)
    try:
        assert await raw.zcard(EVENTS) == FLASH_SALE
        assert await raw.exists(WEBHOOK_RATE.format("acme")) == 0
    finally:
        await raw.aclose()


async def test_a_rate_alone_gets_a_minute_of_it_as_its_burst(redis_url: str) -> None:
    """rate_limit_per_s = 0.1 and no burst: six at once (a minute's worth), the seventh 429,
    counted in Redis."""
    app = await build_receiver(settings_for(redis_url, rate_limit_per_s=0.1))
    async with TestClient(ReceiverTestServer(app)) as client:
        statuses = []
        for order_id in range(1, 8):
            body, headers = signed(order_id)
            statuses.append((await client.post(URL, data=body, headers=headers)).status)
    assert statuses == [200] * 6 + [429]
    raw = aioredis.Redis.from_url(redis_url)
    try:
        assert await raw.zcard(EVENTS) == 6
        assert await raw.exists(WEBHOOK_RATE.format("acme")) == 1
    finally:
        await raw.aclose()
