"""The alerter against a real Redis, a real HTTP endpoint and a real SMTP server."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from handlers.errors import InvalidSignature
from handlers.sources import standard
from tests.alerting import SECRET, alert_hook, alert_settings, record_order
from tests.smtp_server import smtp_server
from worker.alerts.alerter import COOLDOWN, OUTCOMES, Alerter
from worker.ledger.ledger import Ledger

#: Luhn-valid: must never leave in an alert
CARD = "4111 1111 1111 1111"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def failure_rate_alerts(url: str, *, min_events: int, cooldown_s: float) -> dict[str, Any]:
    """Alerts on a failure rate of 50 % over 60 s only, no alert per failed event."""
    return {
        "webhook_url": url,
        "on_failure": False,
        "failure_rate": 0.5,
        "min_events": min_events,
        "window_s": 60,
        "cooldown_s": cooldown_s,
    }


async def test_a_failed_event_alerts_once_signed_and_by_email(
    redis_url: str, ledger: Ledger, session: aiohttp.ClientSession
) -> None:
    """One signed webhook and one email per failure episode, however often the worker
    reports it; the error is redacted; a later failure (an operator's retry) alerts again."""
    with smtp_server() as (port, inbox):
        async with alert_hook() as hook:
            alerts = {
                "webhook_url": hook.url,
                "webhook_secret": SECRET,
                "email_to": ["oncall@acme.example", "ops@acme.example"],
            }
            alerter = Alerter(alert_settings(redis_url, alerts, smtp_port=port), ledger, session)
            event = await record_order(ledger, 11)
            error = f"doc_refused: card {CARD} was declined"
            await ledger.set_event_state(event.event_id, "failed", error=error)
            for _ in range(2):
                await alerter.event_failed(
                    "acme",
                    event.event_id,
                    "failed",
                    error,
                    order_id=event.order_id,
                    order_number="#11",
                )
            assert (len(hook.received), len(inbox.messages)) == (1, 1)

            headers, body = hook.received[0]
            standard.verify(body, headers, [SECRET], datetime.now(UTC))
            other = "whsec_" + base64.b64encode(b"someone-else").decode()
            with pytest.raises(InvalidSignature):
                standard.verify(body, headers, [other], datetime.now(UTC))
            [payload] = hook.payloads()
            assert payload["type"] == "job_failed" and payload["tenant"] == "acme"
            assert (payload["event_id"], payload["order_id"], payload["order_number"]) == (
                event.event_id,
                event.order_id,
                "#11",
            )
            assert payload["state"] == "failed"
            assert payload["error"] == "doc_refused: card [card …1111] was declined"
            assert (payload["failed"], payload["finished"], payload["rate"]) == (1, 1, 1.0)
            assert payload["dashboard"] == f"/admin/#/events/{event.event_id}"
            assert datetime.fromisoformat(payload["at"]).tzinfo is not None
            assert "4111" not in body.decode()

            message = inbox.messages[0]
            assert message["To"] == "oncall@acme.example, ops@acme.example"
            assert message["From"] == "alerts@acme.example"
            assert event.event_id in message["Subject"]
            assert "[card …1111]" in message.get_payload() and "4111" not in message.get_payload()

            await ledger.set_event_state(event.event_id, "queued")  # jobs retry
            await ledger.set_event_state(event.event_id, "failed", error=error)
            await alerter.event_failed("acme", event.event_id, "failed", error)
            assert (len(hook.received), len(inbox.messages)) == (2, 2)


async def test_failure_rate_alerts_once_per_cooldown(
    redis_url: str, ledger: Ledger, session: aiohttp.ClientSession
) -> None:
    """Below min_events nothing; the crossing alerts once; within the cooldown nothing more;
    after it, the next finished event over the threshold alerts again."""
    async with alert_hook() as hook:
        alerts = failure_rate_alerts(hook.url, min_events=4, cooldown_s=0.3)
        alerter = Alerter(alert_settings(redis_url, alerts), ledger, session)
        for n in (1, 2, 3, 1):  # evt_f1 twice: one event counts once
            await alerter.event_failed("acme", f"evt_f{n}", "failed", "boom")
        assert hook.received == []  # 3 of 3 failed, but 3 < min_events
        await alerter.event_done("acme", "evt_d1")  # 3 of 4: crosses
        [crossing] = hook.payloads()
        assert crossing["type"] == "failure_rate" and crossing["tenant"] == "acme"
        assert (crossing["failed"], crossing["finished"], crossing["rate"]) == (3, 4, 0.75)
        assert (crossing["threshold"], crossing["window_s"]) == (0.5, 60)
        assert "event_id" not in crossing and "error" not in crossing
        assert crossing["dashboard"].startswith("/admin/#/events?tenant=acme")
        await alerter.event_failed("acme", "evt_f4", "needs_attention", "boom")
        assert len(hook.received) == 1  # still over, but cooling down
        await asyncio.sleep(0.4)
        await alerter.event_failed("acme", "evt_f5", "failed", "boom")
        assert [p["failed"] for p in hook.payloads()] == [3, 5]


async def test_under_the_threshold_and_outside_the_window_nothing_is_sent(
    redis_url: str, ledger: Ledger, session: aiohttp.ClientSession
) -> None:
    """2 of 5 failed is under 50%; events older than window_s no longer count."""
    now = [1_000_000.0]
    async with alert_hook() as hook:
        alerts = failure_rate_alerts(hook.url, min_events=2, cooldown_s=0)
        alerter = Alerter(alert_settings(redis_url, alerts), ledger, session, clock=lambda: now[0])
        for n in range(3):
            await alerter.event_done("acme", f"evt_d{n}")
        for n in range(2):
            await alerter.event_failed("acme", f"evt_f{n}", "failed", "boom")
        assert hook.received == []
        now[0] += 61  # the window has moved past all five
        await alerter.event_failed("acme", "evt_f9", "failed", "boom")
        assert hook.received == []  # 1 of 1, but under min_events: the old ones are gone
        assert await ledger.redis.zcard(OUTCOMES.format("acme", "done")) == 0
        assert await ledger.redis.pttl(OUTCOMES.format("acme", "failed")) <= 60_000
        assert not await ledger.redis.exists(COOLDOWN.format("acme"))


async def test_a_tenant_without_alerts_writes_nothing(
    redis_url: str, ledger: Ledger, session: aiohttp.ClientSession
) -> None:
    """No [alerts] table: no outcome is recorded, nothing is sent."""
    settings = alert_settings(redis_url, {})
    settings = settings.model_copy(
        update={"tenants": {"acme": settings.tenants["acme"].model_copy(update={"alerts": None})}}
    )
    alerter = Alerter(settings, ledger, session)
    await alerter.event_failed("acme", "evt_1", "failed", "boom")
    await alerter.event_done("unknown-tenant", "evt_2")
    assert await ledger.redis.keys("ib:alerts:*") == []
