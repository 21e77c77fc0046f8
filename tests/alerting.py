"""Helpers for the alert tests: a real HTTP server that keeps the alerts posted to it, a
tenant's settings with alerts, and an event recorded in the ledger the way the receiver does."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from handlers.deliveries import to_item
from handlers.sources import shopify
from invoicebridge.samples import shopify as samples
from tests.tenants import icount_login, worker_settings
from worker.domain.events import OrderEvent
from worker.ledger.ledger import Ledger
from worker.settings import Settings

#: a Standard Webhooks signing secret: `whsec_` + base64 of the key
SECRET = "whsec_" + base64.b64encode(b"alert-signing-key-for-tests-0123").decode()
#: the shop's webhook secret in these settings
SHOP_SECRET = "s"


@dataclass
class Hook:
    """An alert endpoint on 127.0.0.1; `status` is what it answers."""

    url: str = ""
    status: int = 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@asynccontextmanager
async def alert_hook(status: int = 200) -> AsyncIterator[Hook]:
    """A real aiohttp server on a free port that records each POST /alerts."""
    hook = Hook(status=status)

    async def receive(request: web.Request) -> web.Response:
        hook.received.append((dict(request.headers), await request.read()))
        return web.Response(status=hook.status)

    app = web.Application()
    app.router.add_post("/alerts", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}/alerts"
    try:
        yield hook
    finally:
        await runner.cleanup()


def alert_settings(
    redis_url: str,
    alerts: dict[str, Any],
    *,
    smtp_port: int | None = None,
    icount_url: str = "http://127.0.0.1:9/api/v3.php",
) -> Settings:
    """One tenant, `acme` (Shopify to iCount), with `alerts` and, given a port, SMTP."""
    tenant: dict[str, Any] = {
        "source": "shopify",
        "secret": SHOP_SECRET,
        "provider": "icount",
        "icount": icount_login(icount_url),
        "alerts": alerts,
    }
    if smtp_port is not None:
        tenant["smtp"] = {
            "host": "127.0.0.1",
            "port": smtp_port,
            "sender": "alerts@acme.example",
            "starttls": False,
            "timeout_s": 2,
        }
    return worker_settings(redis_url, {"acme": tenant})


async def record_order(ledger: Ledger, order_id: int, topic: str = "orders/create") -> OrderEvent:
    """Record a signed Shopify order event for `acme` the way the receiver does."""
    body = json.dumps(samples.with_sale(samples.shopify_order(order_id))).encode()
    headers = samples.headers_for(
        body, topic=topic, secret=SHOP_SECRET, event_id=f"{order_id}-{topic}"
    )
    item = to_item(shopify.parse(body, headers), "acme", "shopify")
    assert isinstance(item, OrderEvent)
    await ledger.record(item)
    return item
