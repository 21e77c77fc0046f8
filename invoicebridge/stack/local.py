"""A whole invoicebridge on one machine, as real processes: private Redis, iCount sandbox,
receiver and workers. The demo runs on it and the end-to-end tests drive it."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypedDict

import redis

from invoicebridge.stack import rabbitmq as stack_rabbitmq
from invoicebridge.stack import sentinel as stack_sentinel
from invoicebridge.stack.config import render_config, stack_tenants
from invoicebridge.stack.driving import StackDriving, free_port, http_json
from worker.domain.states import BUSY_STATES
from worker.runtime.broker import workers_among


@dataclass
class StackOptions:
    workers: int = 2
    threads: int = 4
    icount_timeout_s: float = 2.0  #: every provider client's timeout, despite the name
    time_limit_ms: int = 20_000
    #: an event with no queue message for this long is sent again (worker/runtime/rescue.py);
    #: it must be longer than max_backoff_ms + time_limit_ms
    rescue_after_s: float = 25.0
    heartbeat_timeout_ms: int = 3_000
    #: None: the settings' defaults (the lock TTL follows the heartbeat timeout; dramatiq's
    #: own maintenance on 0.1 % of broker calls, the clocked pass doing the rest)
    order_lock_ttl_ms: int | None = 4_000
    maintenance_chance: int | None = 1_000_000
    min_backoff_ms: int = 200
    max_backoff_ms: int = 2_000
    log_level: str = "info"
    charge_settle_s: float = 2.0
    #: how long a paid order's document waits for its transaction id to arrive in a later
    #: event (Shopify `order_transactions/create`): short, so a run that never sends it
    #: shows needs_attention soon
    payment_details_wait_s: float = 30.0
    #: dramatiq's exposition server; off when several `invoicebridge worker` share a host
    worker_metrics: bool = True
    #: "redis" or "rabbitmq" (a private rabbitmq-server is started for it)
    broker: str = "redis"
    #: each tenant's webhook rate limit, all receivers together (burst: 2 s of it, at least
    #: 200); None, as in the settings: no limit
    rate_limit_per_s: float | None = None
    #: "single", or "sentinel": a primary, two replicas and three sentinels, the receiver
    #: answering only once a webhook's record is on a replica
    redis: str = "single"


class ShopTarget(TypedDict):
    """The `LoadPlan` fields that send Shopify orders to a stack's tenant."""

    url: str
    source: str
    tenant: str
    secret: str


@dataclass
class LocalStack(StackDriving):
    """Start with `up()`, stop with `down()`; every process logs to `workdir`."""

    workdir: Path
    options: StackOptions = field(default_factory=StackOptions)
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    #: the Standard Webhooks tenant's secret: whsec_ + base64 of random bytes
    whsec: str = field(
        default_factory=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    )
    tenant: str = "acme"
    #: where Redis and the sandboxes listen, and the receiver: loopback, unless the stack is
    #: spread over network namespaces (invoicebridge.stack.cluster)
    db_host: str = "127.0.0.1"
    receiver_host: str = "127.0.0.1"
    #: bearer tokens for the admin API and dashboard: an operator's and a viewer's
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    viewer_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    signatures_sent: list[str] = field(default_factory=list)  #: so tests can grep logs for them

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.redis_port, self.sandbox_port, self.receiver_port = (
            free_port(),
            free_port(),
            free_port(),
        )
        db = self.db_host
        sentinel = self.options.redis == "sentinel"
        #: the Redis servers by port, the first one the primary to begin with
        self.redis_nodes = {self.redis_port: "redis"}
        if sentinel:
            self.redis_nodes |= {free_port(): f"redis-{i}" for i in (1, 2)}
        self.sentinel_ports = [free_port() for _ in range(3)] if sentinel else []
        self.sandbox_url = f"http://{db}:{self.sandbox_port}"
        self.smtp_port = free_port()
        self.urls = {
            "icount": self.sandbox_url,
            "idoklad": f"http://{db}:{free_port()}",
            "icash": f"http://{db}:{free_port()}",
            "smtp": f"http://{db}:{free_port()}",
        }
        self.receiver_url = f"http://{self.receiver_host}:{self.receiver_port}"
        self.worker_metrics_port = free_port()  #: each stack's workers expose metrics apart
        self.rabbitmq_port = free_port()
        self.rabbitmq_url = stack_rabbitmq.amqp_url(self.db_host, self.rabbitmq_port)
        self.worker_metrics_url = f"http://127.0.0.1:{self.worker_metrics_port}/metrics"
        self.config = self.workdir / "config.toml"

    # -- processes ------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Start `argv` as `name`. Without `env`, the caller's environment less its
        INVOICEBRIDGE_* variables: the stack's processes run on the stack's settings."""
        if env is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICEBRIDGE_")}
        env = {**env, "PYTHONUNBUFFERED": "1"}
        with (self.workdir / f"{name}.log").open("ab") as log:  # the child keeps its own copy
            self.procs[name] = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    @property
    def redis_url(self) -> str:
        """The primary's URL (under Sentinel, as of the last `fail_over`)."""
        return f"redis://{self.db_host}:{self.redis_port}/0"

    def redis_client(self, *, decode: bool = True) -> redis.Redis:
        """A client of the stack's Redis (the caller closes it)."""
        return redis.Redis(host=self.db_host, port=self.redis_port, decode_responses=decode)

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "invoicebridge.cli", *args]

    def start_rabbitmq(self) -> None:
        """A private rabbitmq-server (about ten seconds to boot)."""
        port, dist = self.rabbitmq_port, free_port()
        env = stack_rabbitmq.server_env(self.workdir, self.db_host, port, dist)
        self.spawn("rabbitmq", [stack_rabbitmq.server_binary()], env=env)
        self.wait_ready(lambda: stack_rabbitmq.answers(self.rabbitmq_url), "rabbitmq", 90)

    def start_redis(self) -> None:
        """The stack's Redis: one server, or the primary, replicas and sentinels."""
        self.spawn(
            "redis", stack_sentinel.data_node_argv(self.db_host, self.redis_port, self.workdir)
        )
        self.wait_ready(lambda: self.redis_client().ping(), "redis")
        if not self.sentinel_ports:
            return
        for port, name in self.redis_nodes.items():
            if port != self.redis_port:
                argv = stack_sentinel.data_node_argv(
                    self.db_host, port, self.workdir, replica_of=self.redis_port
                )
                self.spawn(name, argv)
        replicas = len(self.redis_nodes) - 1
        # the sentinels learn the replicas from the primary's INFO: have them all there first
        in_sync = partial(stack_sentinel.replicas_online, self.redis_client, replicas)
        self.wait_ready(in_sync, "redis", timeout=60)
        for i, port in enumerate(self.sentinel_ports):
            argv = stack_sentinel.sentinel_argv(self.db_host, port, self.workdir, self.redis_port)
            self.spawn(f"sentinel-{i}", argv)
        ready = partial(
            stack_sentinel.sentinels_ready, self.db_host, self.sentinel_ports, replicas=replicas
        )
        self.wait_ready(ready, "sentinel-0", timeout=60)

    def fail_over(self, timeout: float = 30) -> tuple[int, int]:
        """SIGKILL the Redis primary, wait for the sentinels to promote a replica, then start
        the old primary again as a replica of the new one and wait until it has caught up.
        Returns (old port, new port)."""
        host, sentinels = self.db_host, self.sentinel_ports
        old = stack_sentinel.primary_port(host, sentinels)
        if old is None:
            raise RuntimeError("no sentinel names a primary")
        self.kill(self.redis_nodes[old])
        deadline = time.monotonic() + timeout
        while (new := stack_sentinel.primary_port(host, sentinels)) in (old, None):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sentinels promoted no replica within {timeout} s")
            time.sleep(0.1)
        # every sentinel, not only the first: a client asks them in turn, and one that has not
        # heard of the promotion yet would still name the old primary
        while any(stack_sentinel.primary_port(host, [port]) != new for port in sentinels):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sentinels did not agree on {new} within {timeout} s")
            time.sleep(0.1)
        self.redis_port = new
        argv = stack_sentinel.data_node_argv(host, old, self.workdir, replica_of=new)
        self.spawn(self.redis_nodes[old], argv)
        caught_up = partial(stack_sentinel.replica_caught_up, host, old)
        self.wait_ready(caught_up, self.redis_nodes[old], timeout=timeout)
        return old, new

    def start_sandboxes(self) -> None:
        """The three provider sandboxes and the mail catcher, each its own process."""
        for name, url in self.urls.items():
            port = url.rpartition(":")[2]
            extra = (
                ["--port", str(self.smtp_port), "--http-port", port]
                if name == "smtp"
                else ["--port", port]
            )
            self.spawn(name, self._cli("sandbox", name, "--host", self.db_host, *extra))
        for name, url in self.urls.items():
            probe = "/_sandbox/emails" if name == "smtp" else "/_sandbox/documents"
            self.wait_ready(lambda u=url + probe: http_json("GET", u)[0] == 200, name)

    def start_receiver(self, name: str = "receiver", host: str = "", port: int = 0) -> str:
        """A receiver process named `name` (default: the stack's own address); its URL."""
        host, port = host or self.receiver_host, port or self.receiver_port
        config = ["--config", str(self.config), "--host", host, "--port", str(port)]
        self.spawn(name, self._cli("serve", *config))
        url = f"http://{host}:{port}"
        self.wait_ready(lambda: http_json("GET", url + "/readyz")[0] == 200, name)
        return url

    def start_workers(self, name: str = "workers") -> None:
        """One `invoicebridge worker` (dramatiq's parent and its processes) named `name`."""
        self.spawn(
            name,
            self._cli(
                "worker",
                "--config",
                str(self.config),
                "--processes",
                str(self.options.workers),
                "--threads",
                str(self.options.threads),
                "--shutdown-timeout",
                "5",
            ),
        )

    def kill_workers(self, name: str = "workers") -> None:
        """SIGKILL every process of one `invoicebridge worker` at once, as a crashed host would."""
        self.kill(name)

    def kill(self, name: str) -> None:
        """SIGKILL a process we started, and everything it started."""
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def up(self) -> LocalStack:
        if self.options.broker == "rabbitmq":
            self.start_rabbitmq()
        self.start_redis()
        self.start_sandboxes()
        self.write_config()
        self.start_receiver()
        self.start_workers()
        return self

    def wait_workers(self, processes: int, timeout: float = 30) -> None:
        """Wait until `processes` dramatiq worker processes are consuming (their heartbeats)."""
        client = self.redis_client()
        beats = "invoicebridge:__heartbeats__"

        def consuming() -> bool:
            return workers_among(client.zrange(beats, 0, -1)) >= processes

        try:
            self.wait_ready(consuming, "workers", timeout)
        finally:
            client.close()

    def down(self) -> None:
        workers = [name for name in self.procs if name.startswith("workers")]
        receivers = [name for name in self.procs if name.startswith("receiver")]
        for name in (*receivers, *workers, *self.urls, "rabbitmq", "redis"):
            self.stop(name)
        for name in list(self.procs):  # replicas and sentinels
            self.stop(name)

    def stop(self, name: str, timeout: float = 15) -> None:
        """Stop a process we started, gracefully; SIGKILL what is left after `timeout`."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        # SIGTERM to the process only: dramatiq's parent passes it on to its workers, and
        # a worker signalled twice (by the group and by its parent) hangs in its handler
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):  # anything left of the group
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def wait_ready(self, ready: Any, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except Exception:  # noqa: S110 (not up yet)
                pass
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not start; see {self.workdir / (name + '.log')}")

    def write_config(self) -> None:
        self.config.write_text(render_config(self))

    def shopify_target(self, url: str | None = None) -> ShopTarget:
        """Where a load of Shopify orders goes, `LoadPlan(**stack.shopify_target(), count=…)`:
        this stack's receiver (or `url`), signed for its tenant."""
        url = url or self.receiver_url
        return ShopTarget(url=url, source="shopify", tenant=self.tenant, secret=self.secret)

    def tenants(self) -> dict[str, tuple[str, str]]:
        """Tenant id -> (source, provider): one shop per source, one per provider."""
        return stack_tenants(self.tenant)


@contextmanager
def running_stack(workdir: Path, options: StackOptions | None = None) -> Iterator[LocalStack]:
    stack = LocalStack(workdir, options or StackOptions())
    try:
        yield stack.up()
    finally:
        stack.down()


__all__ = [
    "BUSY_STATES",
    "LocalStack",
    "ShopTarget",
    "StackOptions",
    "free_port",
    "http_json",
    "running_stack",
]
