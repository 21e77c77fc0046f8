"""What a load run does, checked before anything is built or sent.

A plan is validated whole in its constructor, so a bad flag is a `ValueError` naming the
field before a single order is built; the CLI turns that into exit code 2. The target must
be loopback: the generator posts thousands of signed orders a second, and that is never
meant for someone else's server.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import urlsplit

from handlers.sources import standard

Source = Literal["shopify", "woocommerce", "stripe", "standard"]
SOURCES: tuple[str, ...] = get_args(Source)
#: the most orders one run may build (bodies are built in memory before the clock starts)
MAX_COUNT = 1_000_000
#: the longest run allowed; Stripe and Standard Webhooks signatures are re-signed past a minute
MAX_SECONDS = 3_600.0
MAX_CONCURRENCY = 4_096
MAX_RETRIES = 20
MAX_LINES = 50
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: the only hosts a load run may target."""
    if host.lower().rstrip(".") in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_url(url: str, field: str) -> str:
    """`url` without a trailing slash, if it is http(s) on a loopback host; else ValueError."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as exc:
        raise ValueError(f"{field}: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{field}: expected http://host:port, got {url!r}")
    if not is_loopback(parts.hostname):
        raise ValueError(
            f"{field}: {parts.hostname!r} is not loopback; the load generator only targets "
            "127.0.0.0/8, ::1 or localhost"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{field}: no query or fragment, please")
    return url.rstrip("/")


def _whole(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: expected a whole number from {low} to {high}, got {value!r}")
    return value


def _real(name: str, value: object, low: float, high: float, *, open_low: bool = False) -> float:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if (
        number is None
        or not math.isfinite(number)
        or number > high
        or number < low
        or (open_low and number == low)
    ):
        bound = f"above {low}" if open_low else f"from {low}"
        raise ValueError(f"{name}: expected a number {bound} to {high}, got {value!r}")
    return float(number)


def _check_secret(source: str, secret: object) -> None:
    if not isinstance(secret, str) or not secret:
        raise ValueError("secret: the tenant's webhook signing secret is required")
    if source == "standard":
        try:
            standard.sign(b"", secret, "msg", 0)
        except ValueError as exc:
            raise ValueError(f"secret: {exc}") from None


@dataclass(frozen=True)
class LoadPlan:
    """One bounded run: `count` distinct orders of `source`, plus `duplicates` x `count`
    re-deliveries (each byte-for-byte an earlier delivery, same event id), sent at `rate`
    deliveries per second (None: as fast as `concurrency` allows), for at most `max_seconds`.

    A non-2xx answer or a connection error is sent again, as a shop does: after 0.2 s, then
    doubling, `retries` attempts in all, waiting `Retry-After` on a 429. Order ids run from
    `first_order`, so runs against one ledger do not collide (the same ids again are
    re-deliveries, deduplicated by the receiver).
    """

    url: str
    source: str  #: one of SOURCES
    tenant: str
    secret: str
    count: int = 100
    rate: float | None = None
    concurrency: int = 32
    duplicates: float = 0.0
    max_seconds: float = 60.0
    retries: int = 8
    first_order: int = 1
    lines: int = 3
    path: str | None = None  #: default /webhooks/{source}/{tenant}

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", loopback_url(self.url, "url"))
        if self.source not in SOURCES:
            raise ValueError(f"source: expected one of {', '.join(SOURCES)}, got {self.source!r}")
        if not isinstance(self.tenant, str) or not self.tenant.strip() or "/" in self.tenant:
            raise ValueError(f"tenant: expected a tenant id, got {self.tenant!r}")
        _check_secret(self.source, self.secret)
        _whole("count", self.count, 1, MAX_COUNT)
        if self.rate is not None:
            _real("rate", self.rate, 0.0, 1_000_000.0, open_low=True)
        _whole("concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        _real("duplicates", self.duplicates, 0.0, 1.0)
        _real("max_seconds", self.max_seconds, 0.0, MAX_SECONDS, open_low=True)
        _whole("retries", self.retries, 1, MAX_RETRIES)
        _whole("first_order", self.first_order, 1, 2**53 - MAX_COUNT)
        _whole("lines", self.lines, 1, MAX_LINES)
        if self.path is not None and (not self.path.startswith("/") or "?" in self.path):
            raise ValueError(
                f"path: expected an absolute path like /webhooks/x/y, not {self.path!r}"
            )

    @property
    def target(self) -> str:
        """The URL every delivery is posted to."""
        return self.url + (self.path or f"/webhooks/{self.source}/{self.tenant}")

    @property
    def duplicate_count(self) -> int:
        """How many re-deliveries the run adds to its `count` originals."""
        return round(self.count * self.duplicates)

    @property
    def deliveries(self) -> int:
        """Every delivery the run plans: originals plus duplicates."""
        return self.count + self.duplicate_count

    def order_ids(self) -> range:
        return range(self.first_order, self.first_order + self.count)
