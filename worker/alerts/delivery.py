"""Alert delivery: one tenant alert out by webhook and by email, each channel on its own.

An alert is a side note to a job, never part of it: a channel that is down is logged
(without URL, secret or address), counted, and left behind; nothing here raises.
Webhooks are signed the Standard Webhooks way so a receiver can use the reference
libraries: `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Mapping
from typing import Any, Literal

import aiohttp
import redis.asyncio as aioredis
import structlog

from worker.domain.whsec import PREFIX, whsec_key
from worker.errors import BridgeError
from worker.jobs.mailer import Mailer
from worker.ledger.keys import ALERT_DELIVERIES
from worker.settings import AlertSettings

log = structlog.get_logger("worker.alerts")

Channel = Literal["webhook", "email"]
DELIVERIES = ALERT_DELIVERIES  #: named in worker.ledger.keys
USER_AGENT = "invoicebridge-alerts/1"


class DeliveryFailed(Exception):
    """A channel did not take the alert; the message is safe to log (no URL, no secret)."""


def signing_key(secret: str) -> bytes:
    """`whsec_<base64>` is the Standard Webhooks form (the key is the decoded bytes); any
    other secret is used as its UTF-8 bytes.

    Raises:
        ValueError: a `whsec_` secret whose rest is not base64, padded or not (`whsec_key`).
    """
    if secret.startswith(PREFIX):
        return whsec_key(secret)
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def webhook_headers(settings: AlertSettings, body: bytes, now: float) -> dict[str, str]:
    """Content type plus, with a secret, the three Standard Webhooks headers."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if settings.webhook_secret is not None:
        msg_id, timestamp = f"alert_{uuid.uuid4().hex}", int(now)
        secret = settings.webhook_secret.get_secret_value()
        headers |= {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body),
        }
    return headers


def email_text(payload: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body. The subject holds only our own identifiers (no shop
    text, so no header injection); the body lists every field, then the JSON."""
    tenant = payload["tenant"]
    if payload["type"] == "job_failed":
        subject = f"[invoicebridge] {tenant}: event {payload['event_id']} {payload['state']}"
    else:
        percent = round(float(payload["rate"]) * 100)
        subject = f"[invoicebridge] {tenant}: {percent}% of recent events failed"
    lines = [f"{key}: {value}" for key, value in payload.items() if value is not None]
    body = "\n".join([*lines, "", json.dumps(payload, ensure_ascii=False, indent=2), ""])
    return subject, body


class Deliverer:
    """Sends alerts through a shared aiohttp session and per-tenant mailers."""

    def __init__(self, session: aiohttp.ClientSession, redis: aioredis.Redis) -> None:
        self.session = session
        self.redis = redis
        #: deliveries per (channel, "ok" | "failed") in this process
        self.counts: Counter[tuple[str, str]] = Counter()

    async def deliver(
        self,
        tenant: str,
        settings: AlertSettings,
        mailer: Mailer | None,
        payload: Mapping[str, Any],
    ) -> None:
        """Every configured channel at once; one failing does not stop the other."""
        sends = []
        if settings.webhook_url:
            sends.append(self._attempt(tenant, "webhook", payload, self._post(settings, payload)))
        if settings.email_to and mailer is not None:
            subject, text = email_text(payload)
            email = mailer.send_text(settings.email_to, subject, text)
            sends.append(self._attempt(tenant, "email", payload, email))
        await asyncio.gather(*sends)

    async def _post(self, settings: AlertSettings, payload: Mapping[str, Any]) -> None:
        assert settings.webhook_url is not None
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = webhook_headers(settings, body, time.time())
        timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        try:
            async with self.session.post(
                settings.webhook_url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                if not 200 <= response.status < 300:
                    raise DeliveryFailed(f"webhook answered {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"webhook unreachable: {type(exc).__name__}") from None

    async def _attempt(
        self, tenant: str, channel: Channel, payload: Mapping[str, Any], send: Awaitable[None]
    ) -> None:
        """Await one channel's send; log and count the outcome, never raise."""
        try:
            await send
        except Exception as exc:
            # ours say what failed; any other (a bad secret, a header the mail library
            # refuses, a bug) is named by its type only
            known = isinstance(exc, (DeliveryFailed, BridgeError))
            await self._count(tenant, channel, "failed")
            log.warning(
                "alert_delivery_failed",
                tenant=tenant,
                channel=channel,
                alert=payload["type"],
                error=str(exc) if known else type(exc).__name__,
            )
        else:
            await self._count(tenant, channel, "ok")
            log.info("alert_sent", tenant=tenant, channel=channel, alert=payload["type"])

    async def _count(self, tenant: str, channel: Channel, outcome: str) -> None:
        self.counts[(channel, outcome)] += 1
        try:
            await self.redis.hincrby(DELIVERIES.format(tenant), f"{channel}:{outcome}", 1)
        except Exception:  # the count is a convenience; Redis trouble shows elsewhere
            log.warning("alert_count_failed", tenant=tenant, channel=channel)
