"""Driving a LocalStack from a test or the demo: post webhooks, script sandbox faults, read
the ledger, wait for it to go quiet. Loopback HTTP only."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import urllib.error
import urllib.request
from typing import Any, cast

import redis

from invoicebridge.loadgen.ledger import wait_quiet
from invoicebridge.samples import shopify as samples
from worker.domain.states import EVENT_STATES
from worker.ledger.keys import JOB, STATE

#: where ports for the stack's servers are drawn: below the kernel's ephemeral range
#: (32768-60999 on Linux), which every outgoing connection draws from. A port picked now
#: and bound by a child process seconds later (after RabbitMQ has started, say) is then
#: never taken meanwhile by some client's connection, as a port from bind(0) can be.
_LOW_PORTS = range(20_000, 32_768)


#: ports this process has handed out (a stack picks all of its ports before binding any)
_handed_out: set[int] = set()


def _ephemeral_floor() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):  # not Linux: assume the usual floor
        return _LOW_PORTS.stop


def free_port() -> int:
    """A loopback TCP port nothing listens on, outside the ephemeral range when possible."""
    candidates = range(_LOW_PORTS.start, min(_LOW_PORTS.stop, _ephemeral_floor()))
    for _ in range(50):
        port = random.choice(candidates) if candidates else 0  # noqa: S311 (not a secret)
        if port in _handed_out:  # picked before, maybe not bound yet: never twice
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            _handed_out.add(chosen)
            return chosen
    with socket.socket() as sock:  # a crowded range: whatever the kernel gives
        sock.bind(("127.0.0.1", 0))
        fallback: int = sock.getsockname()[1]
        return fallback


def http_json(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, Any]:
    """One loopback HTTP call; returns (status, parsed JSON or None)."""
    request = urllib.request.Request(  # noqa: S310 (loopback http only)
        url, data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback)
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


class StackDriving:
    """The LocalStack's side that talks to it once it runs."""

    secret: str
    tenant: str
    receiver_url: str
    urls: dict[str, str]
    signatures_sent: list[str]

    @property
    def redis_url(self) -> str:
        raise NotImplementedError

    def redis_client(self, *, decode: bool = True) -> redis.Redis:
        raise NotImplementedError

    # -- driving it -----------------------------------------------------------------

    def post_order(
        self,
        payload: dict[str, Any],
        *,
        topic: str = "orders/create",
        event_id: str | None = None,
        secret: str | None = None,
        tenant: str | None = None,
    ) -> tuple[int, Any]:
        """POST a signed Shopify order webhook to a Shopify tenant (default: the iCount one)."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = samples.headers_for(
            body,
            topic=topic,
            secret=secret or self.secret,
            event_id=event_id or f"{payload['id']}-{topic}",
        )
        return self.post("shopify", tenant or self.tenant, body, headers)

    def post(
        self, source: str, tenant: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, Any]:
        """POST a webhook as `source` would; the signature is remembered for log checks."""
        for name in ("X-Shopify-Hmac-Sha256", "X-WC-Webhook-Signature", "Stripe-Signature"):
            if name in headers:
                self.signatures_sent.append(headers[name].rpartition("v1=")[2])
        if "webhook-signature" in headers:
            self.signatures_sent.append(headers["webhook-signature"].partition(",")[2])
        return http_json("POST", f"{self.receiver_url}/webhooks/{source}/{tenant}", body, headers)

    def sandbox(self, what: str, provider: str = "icount") -> Any:
        """GET /_sandbox/<what> of a provider sandbox (or "smtp", the mail catcher)."""
        return http_json("GET", f"{self.urls[provider]}/_sandbox/{what}")[1]

    def set_faults(self, fault: dict[str, Any], provider: str = "icount") -> None:
        status, _ = http_json(
            "POST",
            self.urls[provider] + "/_sandbox/faults",
            json.dumps(fault).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200, f"sandbox refused fault {fault}"

    def ledger_states(self) -> dict[str, int]:
        """The states that hold events, with how many (the ledger's per-state index)."""
        client = self.redis_client()
        try:
            with client.pipeline(transaction=False) as pipe:
                for state in EVENT_STATES:
                    pipe.zcard(STATE.format(state))
                counts = pipe.execute()
            return {state: n for state, n in zip(EVENT_STATES, counts, strict=True) if n}
        finally:
            client.close()

    def job(self, key: str) -> dict[str, str]:
        """The ledger's record of one job step (empty if never started)."""
        client = self.redis_client()
        try:
            return cast(dict[str, str], client.hgetall(JOB.format(key)))
        finally:
            client.close()

    def wait_quiet(self, timeout: float = 60, settle: float = 1.0) -> dict[str, int]:
        """Wait until no event is waiting or running, and stays so for `settle` seconds;
        the states that hold events. Raises TimeoutError when `timeout` runs out first."""
        quiet, counts = asyncio.run(wait_quiet(self.redis_url, timeout, settle=settle))
        if not quiet:
            raise TimeoutError(f"still busy after {timeout}s: {self.ledger_states()}")
        return {state: n for state, n in counts.items() if n}
