"""Alerts through `worker.jobs.process.process_event`: the iCount sandbox over real HTTP refuses the
document (its fault plan, not a stub), the job fails for good, and the alert arrives at a real
HTTP endpoint and a real SMTP server. A channel that is down changes nothing about the job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from handlers.sources import standard
from sandboxes.icount.app import RunningSandbox
from tests.alerting import SECRET, Hook, alert_hook, alert_settings, record_order
from tests.conftest import free_port
from tests.smtp_server import smtp_server
from tests.tenants import set_faults
from worker.alerts.delivery import DELIVERIES
from worker.jobs import process as jobs
from worker.runtime.resources import Resources


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    async with alert_hook() as running:
        yield running


async def open_deps(
    redis_url: str, sandbox: RunningSandbox, webhook_url: str, smtp_port: int
) -> tuple[Resources, jobs.Deps]:
    """Deps as a worker process opens them (`Resources.open` builds the alerter)."""
    alerts = {
        "webhook_url": webhook_url,
        "webhook_secret": SECRET,
        "email_to": ["oncall@acme.example"],
        "failure_rate": None,
    }
    settings = alert_settings(redis_url, alerts, smtp_port=smtp_port, icount_url=sandbox.api_url)
    resources = Resources(settings)
    return resources, await resources.open()


async def test_a_refused_document_fails_the_job_and_alerts_once(
    redis_url: str, sandbox: RunningSandbox, hook: Hook
) -> None:
    """iCount refuses (400): the event is failed, one signed alert and one email go out;
    running the settled event again, or reporting it again, sends nothing more; a done
    job sends no failure alert."""
    await set_faults(sandbox, {"path": "doc/create", "plan": [400]})
    with smtp_server() as (port, inbox):
        resources, deps = await open_deps(redis_url, sandbox, hook.url, port)
        try:
            event = await record_order(deps.ledger, 21)
            await jobs.process_event(deps, event.event_id)
            await jobs.process_event(deps, event.event_id)  # a redelivered message
            fields = await deps.ledger.event(event.event_id)
            assert deps.alerter is not None
            await deps.alerter.event_failed("acme", event.event_id, "failed", fields["last_error"])
            done = await record_order(deps.ledger, 22)
            await jobs.process_event(deps, done.event_id)
            assert (await deps.ledger.event(done.event_id))["state"] == "done"
        finally:
            await resources.close()
    assert fields["state"] == "failed"
    assert (len(hook.received), len(inbox.messages)) == (1, 1)
    headers, body = hook.received[0]
    standard.verify(body, headers, [SECRET], datetime.now(UTC))
    [payload] = hook.payloads()
    assert payload["type"] == "job_failed" and payload["state"] == "failed"
    assert (payload["event_id"], payload["order_id"]) == (event.event_id, "21")
    assert payload["error"] == fields["last_error"]
    assert event.event_id in inbox.messages[0]["Subject"]


async def test_exhausted_retries_alert(redis_url: str, sandbox: RunningSandbox, hook: Hook) -> None:
    """5xx until max_retries (2) is spent: the third run fails the event, and alerts."""
    await set_faults(sandbox, {"path": "doc/create", "plan": [503, 503, 503]})
    with smtp_server() as (port, _inbox):
        resources, deps = await open_deps(redis_url, sandbox, hook.url, port)
        try:
            event = await record_order(deps.ledger, 23)
            for _ in range(2):
                with pytest.raises(jobs.RetryLater):
                    await jobs.process_event(deps, event.event_id)
            assert hook.received == []  # retrying is not failing
            await jobs.process_event(deps, event.event_id)
        finally:
            await resources.close()
    [payload] = hook.payloads()
    assert payload["state"] == "failed" and payload["error"].startswith("retries exhausted")


@pytest.mark.parametrize("down", ["webhook-closed", "webhook-500", "smtp-closed"])
async def test_a_channel_down_changes_nothing_for_the_job(
    redis_url: str, sandbox: RunningSandbox, hook: Hook, down: str
) -> None:
    """A closed port, a 500 or a dead SMTP server: the job ends as it would have, without
    retry; the other channel still delivers; the failed delivery is counted."""
    await set_faults(sandbox, {"path": "doc/create", "plan": [400]})
    hook.status = 500 if down == "webhook-500" else 200
    url = f"http://127.0.0.1:{free_port()}/alerts" if down == "webhook-closed" else hook.url
    with smtp_server() as (port, inbox):
        smtp_port = free_port() if down == "smtp-closed" else port
        resources, deps = await open_deps(redis_url, sandbox, url, smtp_port)
        try:
            event = await record_order(deps.ledger, 24)
            with capture_logs() as logs:
                await jobs.process_event(deps, event.event_id)  # returns: no RetryLater
            state = (await deps.ledger.event(event.event_id))["state"]
            counts = await deps.ledger.redis.hgetall(DELIVERIES.format("acme"))
        finally:
            await resources.close()
    assert state == "failed"
    [warning] = [entry for entry in logs if entry["event"] == "alert_delivery_failed"]
    assert warning["log_level"] == "warning" and url not in str(warning)
    if down == "smtp-closed":
        assert inbox.messages == [] and len(hook.received) == 1
        assert counts == {"webhook:ok": "1", "email:failed": "1"}
    else:
        assert len(inbox.messages) == 1
        assert counts == {"webhook:failed": "1", "email:ok": "1"}
