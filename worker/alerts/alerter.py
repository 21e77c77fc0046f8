"""Alerts: tell a tenant when an event fails for good, or when too many of its events fail.

The worker calls `Alerter.event_failed` / `event_done` right after it writes an event's
final state. Each finished event is recorded per tenant in Redis (one sorted set per
outcome, trimmed to the tenant's window) by one Lua script that also judges the failure
rate and takes the cooldown, so any number of worker processes on any number of hosts
agree on one alert per crossing. A failed event alerts once per failure episode: the
episode is the event's `updated_at` as the failure was written, so a second call for the
same failure is silent while an operator's retry that fails again alerts again.

Nothing here fails a job: alerting is best-effort by design, and every error (Redis,
webhook, SMTP) is logged and counted, never raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
import structlog

from worker.alerts.delivery import Deliverer
from worker.domain.redaction import redact_text
from worker.jobs.mailer import Mailer
from worker.ledger.keys import ALERT_COOLDOWN, ALERT_OUTCOMES, ALERT_SENT, EVENT
from worker.ledger.ledger import Ledger
from worker.settings import AlertSettings, Settings

log = structlog.get_logger("worker.alerts")

# Redis keys (named in worker.ledger.keys)
OUTCOMES = ALERT_OUTCOMES
COOLDOWN = ALERT_COOLDOWN
SENT = ALERT_SENT

#: how long a failure episode's marker is kept; long past any redelivery of its message
SENT_TTL_S = 30 * 86_400
#: the longest error text an alert carries
MAX_ERROR = 1_000

Outcome = Literal["done", "failed"]
AlertType = Literal["job_failed", "failure_rate"]

# KEYS: done zset, failed zset, cooldown key.
# ARGV: event id, outcome, now ms, window ms, min events, rate ('' = off), cooldown ms.
# An event counts once, with its latest outcome. Returns {failed, finished, alert 0|1}.
_RECORD = """
local mine, other = KEYS[1], KEYS[2]
if ARGV[2] == 'failed' then mine, other = KEYS[2], KEYS[1] end
redis.call('ZADD', mine, ARGV[3], ARGV[1])
redis.call('ZREM', other, ARGV[1])
local cutoff = '(' .. (tonumber(ARGV[3]) - tonumber(ARGV[4]))
for i = 1, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', cutoff)
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
end
local failed = redis.call('ZCARD', KEYS[2])
local finished = failed + redis.call('ZCARD', KEYS[1])
local alert = 0
if ARGV[6] ~= '' and finished >= tonumber(ARGV[5])
    and failed >= tonumber(ARGV[6]) * finished - 1e-9 then
  if tonumber(ARGV[7]) <= 0 or redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[7]) then
    alert = 1
  end
end
return {failed, finished, alert}
"""


@dataclass(frozen=True)
class Window:
    """A tenant's finished events within its window, as the last record left them."""

    failed: int
    finished: int
    #: the failure rate is at or over the threshold and this call won the cooldown
    rate_alert: bool = False

    @property
    def rate(self) -> float:
        return round(self.failed / self.finished, 4) if self.finished else 0.0


@dataclass(frozen=True)
class Failure:
    """What a job_failed alert says about the event."""

    event_id: str
    state: str
    error: str
    order_id: str | None = None
    order_number: str | None = None


def dashboard_path(tenant: str, event_id: str | None) -> str:
    """Where in the admin dashboard a person looks next."""
    if event_id is not None:
        return f"/admin/#/events/{quote(event_id, safe='')}"
    return f"/admin/#/events?tenant={quote(tenant, safe='')}&state=failed,needs_attention"


def build_payload(
    kind: AlertType,
    tenant: str,
    alerts: AlertSettings,
    window: Window,
    now: float,
    failure: Failure | None = None,
) -> dict[str, Any]:
    """The alert's JSON body: identifiers, a redacted error, the window's numbers; no order
    contents, no customer data, no secrets."""
    payload: dict[str, Any] = {"type": kind, "tenant": tenant}
    if failure is not None:
        payload |= {
            "event_id": failure.event_id,
            "order_id": failure.order_id,
            "order_number": failure.order_number,
            "state": failure.state,
            "error": redact_text(failure.error)[:MAX_ERROR],
        }
    else:
        payload["threshold"] = alerts.failure_rate
    return payload | {
        "failed": window.failed,
        "finished": window.finished,
        "rate": window.rate,
        "window_s": alerts.window_s,
        "at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "dashboard": dashboard_path(tenant, failure.event_id if failure else None),
    }


class Alerter:
    """One per worker process: records outcomes, decides, and hands alerts to `Deliverer`."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        session: aiohttp.ClientSession,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.redis = ledger.redis
        self.delivery = Deliverer(session, ledger.redis)
        self.clock = clock
        self._record = ledger.redis.register_script(_RECORD)
        self._mailers: dict[str, Mailer] = {}

    async def event_done(self, tenant: str, event_id: str) -> None:
        """Count a done event toward the tenant's failure rate (a done event can still tip
        it, by bringing the window up to `min_events`)."""
        alerts = self._alerts(tenant)
        if alerts is None:
            return
        try:
            await self._finished(tenant, alerts, event_id, None)
        except Exception as exc:  # alerting never fails the job
            log.warning("alert_error", tenant=tenant, error=type(exc).__name__)

    async def event_failed(
        self,
        tenant: str,
        event_id: str,
        state: str,
        error: str,
        order_id: str | None = None,
        order_number: str | None = None,
    ) -> None:
        """Count a failed / needs_attention event; alert on it (once per failure episode)
        and on the failure rate it may tip over."""
        alerts = self._alerts(tenant)
        if alerts is None:
            return
        failure = Failure(event_id, state, error, order_id, order_number)
        try:
            await self._finished(tenant, alerts, event_id, failure)
        except Exception as exc:  # alerting never fails the job
            log.warning("alert_error", tenant=tenant, error=type(exc).__name__)

    def _alerts(self, tenant: str) -> AlertSettings | None:
        settings = self.settings.tenants.get(tenant)
        return settings.alerts if settings is not None else None

    async def _finished(
        self, tenant: str, alerts: AlertSettings, event_id: str, failure: Failure | None
    ) -> None:
        now = self.clock()
        window = await self.record(tenant, alerts, event_id, "failed" if failure else "done", now)
        if failure is not None and alerts.on_failure and await self._first_alert(event_id):
            payload = build_payload("job_failed", tenant, alerts, window, now, failure)
            await self.delivery.deliver(tenant, alerts, self._mailer(tenant), payload)
        if window.rate_alert:
            payload = build_payload("failure_rate", tenant, alerts, window, now)
            await self.delivery.deliver(tenant, alerts, self._mailer(tenant), payload)

    async def record(
        self, tenant: str, alerts: AlertSettings, event_id: str, outcome: Outcome, now: float
    ) -> Window:
        """Record one outcome and judge the window, atomically (one script)."""
        keys = [
            OUTCOMES.format(tenant, "done"),
            OUTCOMES.format(tenant, "failed"),
            COOLDOWN.format(tenant),
        ]
        rate = "" if alerts.failure_rate is None else repr(alerts.failure_rate)
        window_ms = max(1, int(alerts.window_s * 1000))
        cooldown_ms = int(alerts.cooldown_s * 1000)
        args: list[str | int] = [
            event_id,
            outcome,
            int(now * 1000),
            window_ms,
            alerts.min_events,
            rate,
            cooldown_ms,
        ]
        failed, finished, alert = await self._record(keys=keys, args=args)
        return Window(int(failed), int(finished), bool(alert))

    async def _first_alert(self, event_id: str) -> bool:
        """True once per failure episode of the event, across calls and processes."""
        episode = await self.redis.hget(EVENT.format(event_id), "updated_at") or "0"
        marked = await self.redis.set(SENT.format(event_id, episode), "1", nx=True, ex=SENT_TTL_S)
        return bool(marked)

    def _mailer(self, tenant: str) -> Mailer | None:
        smtp = self.settings.tenants[tenant].smtp
        if smtp is None:
            return None
        if tenant not in self._mailers:
            self._mailers[tenant] = Mailer(smtp)
        return self._mailers[tenant]
