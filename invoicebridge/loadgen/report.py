"""What a run saw: every delivery's final answer, and what each order must end up as.

The report keeps one `DeliveryResult` per delivery and, per order, what reconciliation
needs to judge it (`Expected`: the ledger's event id and the total its document must
show); the bodies themselves are not kept. `as_dict()` is the JSON the CLI prints; it
names no secret.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from invoicebridge.loadgen.pacing import percentile
from invoicebridge.loadgen.plan import LoadPlan

#: at most this many order ids are listed by name in `as_dict()` (the counts are always whole)
LISTED = 100


@dataclass(frozen=True)
class Expected:
    """What one order of the run must end as: one document for `total` in `currency`."""

    event_id: str
    total: Decimal
    currency: str


@dataclass(frozen=True)
class DeliveryResult:
    """The end of one delivery, after its retries.

    `status` is the last HTTP status ("200", "429"…) or `error:<ExceptionClass>` when no
    answer came; `answer` is the receiver's `status` field ("accepted", "duplicate"…).
    `latency` runs from the first attempt's send to the final answer; `ack_latency` is the
    acknowledged attempt's own round trip (None when none was acknowledged).
    """

    order_id: str
    duplicate: bool
    status: str
    answer: str | None
    attempts: int
    latency: float
    ack_latency: float | None

    @property
    def acknowledged(self) -> bool:
        return self.status.startswith("2") and len(self.status) == 3


@dataclass
class LoadReport:
    """A finished run: counts, statuses, acknowledged orders, latencies and rate."""

    plan: LoadPlan
    started: float  #: unix time the first delivery was due
    elapsed: float  #: seconds from the start to the last answer
    expected: dict[str, Expected]  #: every order of the plan, by order id
    results: list[DeliveryResult] = field(default_factory=list)
    truncated: bool = False  #: `max_seconds` ran out before every delivery was sent
    attempt_statuses: Counter[str] = field(default_factory=Counter)  #: every attempt's answer

    @property
    def planned(self) -> int:
        return self.plan.deliveries

    @property
    def sent(self) -> int:
        """Deliveries sent at least once, duplicates included."""
        return len(self.results)

    @property
    def deliveries(self) -> int:
        """Deliveries sent, duplicates included (the same as `sent`)."""
        return self.sent

    @property
    def duplicates_sent(self) -> int:
        return sum(1 for result in self.results if result.duplicate)

    @property
    def attempts(self) -> int:
        return sum(result.attempts for result in self.results)

    @property
    def statuses(self) -> Counter[str]:
        """Final status of each delivery sent: "200", "429", "error:ClientConnectorError"…"""
        return Counter(result.status for result in self.results)

    @property
    def answers(self) -> Counter[str]:
        """The receiver's `status` field of each delivery's final answer, where it gave one."""
        return Counter(result.answer for result in self.results if result.answer is not None)

    @property
    def acknowledged(self) -> set[str]:
        """Order ids with at least one 2xx answer."""
        return {result.order_id for result in self.results if result.acknowledged}

    @property
    def not_acknowledged(self) -> list[str]:
        """Order ids of the plan that never got a 2xx (unsent ones included)."""
        acked = self.acknowledged
        return [order_id for order_id in self.expected if order_id not in acked]

    @property
    def latencies(self) -> list[float]:
        """Seconds from first send to final answer, of the acknowledged deliveries."""
        return [result.latency for result in self.results if result.acknowledged]

    @property
    def ack_latencies(self) -> list[float]:
        """Round trip of the attempt that was acknowledged, of each acknowledged delivery."""
        return [r.ack_latency for r in self.results if r.ack_latency is not None]

    @property
    def rate(self) -> float:
        """Deliveries answered per second (their retries included in the time)."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def attempt_rate(self) -> float:
        """Requests per second, retries included."""
        return self.attempts / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float, *, ack_attempt: bool = False) -> float | None:
        """The `p`th percentile (0-100) of `latencies` in seconds (or of `ack_latencies`)."""
        return percentile(self.ack_latencies if ack_attempt else self.latencies, p)

    def latency_ms(self) -> dict[str, float | None]:
        """p50, p95, p99 and max of `latencies`, in milliseconds."""
        marks = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
        return {name: _ms(self.percentile(p)) for name, p in marks.items()}

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (no secret, no bodies; long id lists cut to LISTED)."""
        plan = {**asdict(self.plan), "secret": "<redacted>", "target": self.plan.target}
        missing = self.not_acknowledged
        return {
            "plan": plan,
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(),
            "elapsed_s": round(self.elapsed, 4),
            "planned": self.planned,
            "sent": self.sent,
            "duplicates_sent": self.duplicates_sent,
            "attempts": self.attempts,
            "truncated": self.truncated,
            "statuses": dict(self.statuses),
            "attempt_statuses": dict(self.attempt_statuses),
            "answers": dict(self.answers),
            "orders": len(self.expected),
            "acknowledged": len(self.acknowledged),
            "not_acknowledged": len(missing),
            "not_acknowledged_ids": missing[:LISTED],
            "rate_per_s": round(self.rate, 1),
            "attempt_rate_per_s": round(self.attempt_rate, 1),
            "latency_ms": self.latency_ms(),
            "ack_attempt_latency_ms": {
                "p50": _ms(self.percentile(50, ack_attempt=True)),
                "p99": _ms(self.percentile(99, ack_attempt=True)),
            },
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
