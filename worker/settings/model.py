"""Settings: one TOML file, validated once per entrypoint into frozen pydantic models.

The infrastructure's tables (Redis, the queue, RabbitMQ, the receiver, admin, metrics) are
here with the checks that span tables; a tenant's are in `worker.settings.tenant`, and the
secret references (`env:NAME`, `file:PATH`) in `worker.settings.secrets`. Only these modules
read `os.environ`. Everything is importable from `worker.settings`.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from worker.settings.secrets import Secret, Strict, resolve_secret
from worker.settings.tenant import (
    AlertSettings,
    DocumentSettings,
    ICashSettings,
    ICountSettings,
    IDokladSettings,
    LimitSettings,
    SmtpSettings,
    TenantSettings,
)

__all__ = [
    "CONFIG_ENV",
    "MIN_HEARTBEAT_TIMEOUT_MS",
    "PREFETCH_ENV",
    "AdminSettings",
    "AdminToken",
    "AlertSettings",
    "DocumentSettings",
    "ICashSettings",
    "ICountSettings",
    "IDokladSettings",
    "LimitSettings",
    "LoggingSettings",
    "MetricsSettings",
    "QueueSettings",
    "RabbitMQSettings",
    "ReceiverSettings",
    "RedisSettings",
    "Secret",
    "Settings",
    "SettingsError",
    "SmtpSettings",
    "TenantSettings",
    "export_config_path",
    "load_settings",
    "resolve_secret",
]

CONFIG_ENV = "INVOICEBRIDGE_CONFIG"
#: dramatiq's own variable for how many messages a worker process fetches ahead of its
#: threads; `invoicebridge worker` sets it to the thread count (worker/runtime/maintenance.py)
PREFETCH_ENV = "dramatiq_queue_prefetch"
#: dramatiq's consumers beat at least once a second (its default worker timeout): a few of
#: those may go by before a worker is called dead
MIN_HEARTBEAT_TIMEOUT_MS = 3_000


class SettingsError(Exception):
    """The configuration cannot be used; the message names the file and the bad key."""


class RedisSettings(Strict):
    """The ledger's Redis (and the queue's, on the Redis broker): one server named by `url`,
    or a primary found through Redis Sentinel, which promotes a replica when it fails."""

    url: str = "redis://127.0.0.1:6379/0"
    #: `host:port` of each sentinel; when set, `url` is not used
    sentinels: tuple[Annotated[str, Field(pattern=r"^[^:\s]+:[0-9]{1,5}$")], ...] = ()
    #: the name the sentinels monitor the primary under (`sentinel monitor <service> ...`)
    service: str = "invoicebridge"
    db: int = Field(default=0, ge=0)
    #: the primary's and replicas' password, under Sentinel (with `url`, write it in the URL)
    password: Secret | None = None
    sentinel_password: Secret | None = None
    socket_timeout_s: float = Field(default=5.0, gt=0)
    #: a webhook is answered 200 only once everything written for it is on this many
    #: replicas (Redis WAIT), so a fail-over cannot lose an event the shop was told we have
    min_replicas: int = Field(default=0, ge=0)
    #: how long the receiver waits for those replicas before answering 503 (send again)
    replica_timeout_ms: int = Field(default=1_000, ge=1)

    @model_validator(mode="after")
    def _one_way_in(self) -> RedisSettings:
        if self.sentinels and self.url != RedisSettings.model_fields["url"].default:
            raise ValueError("set either url or sentinels, not both")
        if not self.sentinels and (self.password or self.sentinel_password):
            raise ValueError(
                "password and sentinel_password go with sentinels; "
                "with url, write the password in the URL"
            )
        return self

    def where(self) -> str:
        """Where the ledger is, for messages: the URL without its password, or the sentinels."""
        if self.sentinels:
            return f"sentinel service {self.service!r} via {', '.join(self.sentinels)}"
        return re.sub(r"//[^@/]*@", "//***@", self.url)


class QueueSettings(Strict):
    """Dramatiq knobs; defaults are dramatiq's own except where noted."""

    #: where the messages go: Redis (the ledger's server) or RabbitMQ ([rabbitmq] url);
    #: the ledger stays in Redis either way
    broker: Literal["redis", "rabbitmq"] = "redis"
    namespace: str = "invoicebridge"
    max_retries: int = Field(default=12, ge=0)
    min_backoff_ms: int = Field(default=1_000, ge=1)
    max_backoff_ms: int = Field(default=300_000, ge=1)
    time_limit_ms: int = Field(default=120_000, ge=1_000)
    #: a worker that missed heartbeats this long is dead and its messages are requeued
    heartbeat_timeout_ms: int = Field(default=60_000, ge=1_000)

    @model_validator(mode="after")
    def _live_workers_look_alive(self) -> QueueSettings:
        """Refuse a heartbeat timeout a live worker can miss: an idle dramatiq consumer
        beats about once a second, so anything near that takes a live worker for dead and
        hands the messages it is running to another, each run twice."""
        if self.heartbeat_timeout_ms < MIN_HEARTBEAT_TIMEOUT_MS:
            raise ValueError(
                f"heartbeat_timeout_ms ({self.heartbeat_timeout_ms}) must be at least "
                f"{MIN_HEARTBEAT_TIMEOUT_MS}: workers beat about once a second, and one "
                "taken for dead has its running messages run again by another"
            )
        return self

    #: per million broker calls, how often to look for dead workers' messages
    maintenance_chance: int = Field(default=1_000, ge=1, le=1_000_000)
    #: how long one worker may hold an order without renewing it (every third of it, while
    #: the event runs): a dead worker's orders are free again within this. None (the
    #: default): the heartbeat timeout, so they are free by the time its messages come back
    order_lock_ttl_ms: int | None = Field(default=None, ge=1_000)

    @property
    def lock_ttl_ms(self) -> int:
        """The order lock's TTL in force."""
        return self.order_lock_ttl_ms or self.heartbeat_timeout_ms


class RabbitMQSettings(Strict):
    """The AMQP broker, when `queue.broker = "rabbitmq"`: durable queues, persistent messages,
    publisher confirms. Several URLs separated by `;` are tried in turn (a cluster)."""

    url: Secret  #: amqp://user:password@host:5672/vhost — a secret, it carries the password
    #: the server's `consumer_timeout` (RabbitMQ's default: 30 min): a delivery unacknowledged
    #: this long is taken back and given to another worker, so a job must end well before it
    consumer_timeout_ms: int = Field(default=1_800_000, ge=1_000)


class ReceiverSettings(Strict):
    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    #: a request's head (request line and headers) must arrive within this of its first
    #: byte, or the connection is closed with a 408 (a client sending them a byte at a time)
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    #: a body must arrive within this of the receiver starting to read it, or 408
    body_timeout_s: float = Field(default=30.0, gt=0, le=600)
    #: events recorded but not queued (receiver crash) are queued again after this long
    requeue_after_s: float = Field(default=30.0, gt=0)
    #: an event still to run that no worker has touched this long, with no message for it in
    #: the queue (lost in a Redis fail-over or crash), is sent again (worker/runtime/rescue.py);
    #: 0: never. Redis broker only.
    rescue_after_s: float = Field(default=900.0, ge=0)


class LoggingSettings(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: JSON lines for a log collector, console lines for a person; `auto`: console when
    #: stderr is a terminal
    format: Literal["auto", "json", "console"] = "auto"


class AdminToken(Strict):
    """A bearer token for the admin API and dashboard. A `viewer` reads; an `operator` also
    retries, discards, resolves, replays and pauses."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$")]
    token: Secret
    role: Literal["viewer", "operator"] = "operator"

    @model_validator(mode="after")
    def _long_enough(self) -> AdminToken:
        if len(self.token.get_secret_value()) < 16:
            raise ValueError("an admin token must be at least 16 characters")
        return self


class AdminSettings(Strict):
    """Who may use `/admin/api/` and the dashboard; with no tokens, nobody may."""

    tokens: tuple[AdminToken, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> AdminSettings:
        names = [token.name for token in self.tokens]
        if len(names) != len(set(names)):
            raise ValueError("admin token names must be unique")
        return self


class MetricsSettings(Strict):
    """Prometheus: the receiver serves `/metrics`; workers run dramatiq's exposition server."""

    worker_enabled: bool = True
    worker_host: str = "127.0.0.1"
    worker_port: int = Field(default=9191, ge=1, le=65535)


class Settings(Strict):
    redis: RedisSettings = RedisSettings()
    queue: QueueSettings = QueueSettings()
    receiver: ReceiverSettings = ReceiverSettings()
    logging: LoggingSettings = LoggingSettings()
    rabbitmq: RabbitMQSettings | None = None
    admin: AdminSettings = AdminSettings()
    metrics: MetricsSettings = MetricsSettings()
    tenants: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")], TenantSettings]

    @model_validator(mode="after")
    def _broker_is_configured(self) -> Settings:
        if self.queue.broker == "rabbitmq" and self.rabbitmq is None:
            raise ValueError('queue.broker is "rabbitmq" but there is no [rabbitmq] table')
        return self

    @model_validator(mode="after")
    def _no_job_outlives_its_delivery(self) -> Settings:
        """Refuse a job time limit RabbitMQ would not wait for: it would redeliver the message
        to a second worker while the first still runs it."""
        if self.queue.broker == "rabbitmq" and self.rabbitmq is not None:
            timeout = self.rabbitmq.consumer_timeout_ms
            if self.queue.time_limit_ms >= timeout:
                raise ValueError(
                    f"queue.time_limit_ms ({self.queue.time_limit_ms}) must be shorter than "
                    f"rabbitmq.consumer_timeout_ms ({timeout}), or RabbitMQ redelivers a "
                    "message while a worker still runs it"
                )
        return self

    @model_validator(mode="after")
    def _rescue_waits_out_every_pause(self) -> Settings:
        """Refuse a rescue delay shorter than an event may legitimately go untouched (its
        longest backoff, then its run): such events would be sent twice, again and again."""
        rescue, queue = self.receiver.rescue_after_s, self.queue
        longest_s = (queue.max_backoff_ms + queue.time_limit_ms) / 1000
        if rescue and rescue <= longest_s:
            raise ValueError(
                f"receiver.rescue_after_s ({rescue:g}) must be longer than queue.max_backoff_ms "
                f"+ queue.time_limit_ms ({longest_s:g} s), or 0 to turn the rescue off"
            )
        return self

    @model_validator(mode="after")
    def _no_call_outlives_its_job(self) -> Settings:
        """Refuse a job time limit shorter than a call the job may make: dramatiq would cut
        the call off mid-flight every time, its outcome unknown, and run it again and again."""
        limit_s = self.queue.time_limit_ms / 1000
        for tid, tenant in self.tenants.items():
            tables = (getattr(tenant, tenant.provider), tenant.smtp)
            longest = max(table.timeout_s for table in tables if table is not None)
            if longest >= limit_s:
                raise ValueError(
                    f"queue.time_limit_ms ({self.queue.time_limit_ms}) must be longer than "
                    f"tenant {tid}'s longest call timeout ({longest:g} s)"
                )
        return self


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{key}: {message}")
    return "; ".join(lines)


def export_config_path(path: str | Path) -> None:
    """Name the configuration file for child processes (dramatiq forks its workers)."""
    os.environ[CONFIG_ENV] = str(Path(path).resolve())


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and validate the TOML file at `path`, or at `$INVOICEBRIDGE_CONFIG`.

    Raises:
        SettingsError: no file named, unreadable file, bad TOML, or a bad key.
    """
    if path is None:
        path = os.environ.get(CONFIG_ENV)
        if not path:
            raise SettingsError(f"no configuration: pass --config or set {CONFIG_ENV}")
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(f"{path}: {_describe(exc)}") from None
