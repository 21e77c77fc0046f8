"""The load generator's pure parts: plan validation, pacing arithmetic, the report's figures,
and deliveries for every source that the receiver's own source modules accept."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from handlers.deliveries import to_item
from handlers.errors import InvalidSignature
from handlers.sources import get_source
from invoicebridge.loadgen import LoadPlan, build_deliveries, due, percentile, schedule
from invoicebridge.loadgen.pacing import FIRST_BACKOFF_S, MAX_WAIT_S, backoff, retry_after_seconds
from invoicebridge.loadgen.payloads import RESIGN_AFTER_S, Delivery, current_headers
from invoicebridge.loadgen.report import DeliveryResult, Expected, LoadReport
from invoicebridge.samples.standard import new_secret
from worker.domain.events import EventKind, OrderEvent

WHSEC = new_secret()
SECRETS = {
    "shopify": "shpss_x",
    "woocommerce": "wc-secret",
    "stripe": "whsec_abc",
    "standard": WHSEC,
}


def plan(**fields: Any) -> LoadPlan:
    values: dict[str, Any] = {
        "url": "http://127.0.0.1:8080",
        "source": "shopify",
        "tenant": "acme",
        "secret": "s",
    } | fields
    return LoadPlan(**values)


# --- the plan ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://127.5.6.7:1/", "http://[::1]:8080", "https://localhost"],
)
def test_loopback_targets_are_accepted(url: str) -> None:
    assert plan(url=url).url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1:8080", "http://example.com", "http://[::2]:80", "http://0.0.0.0:8080",
     "http://127.0.0.1.example.com", "ftp://127.0.0.1", "127.0.0.1:8080", "http://127.0.0.1:x"],
)  # fmt: skip  # a table of invalid (field, value) cases
def test_anything_but_loopback_is_refused_naming_the_url(url: str) -> None:
    with pytest.raises(ValueError, match=r"^url: "):
        plan(url=url)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("source", "paypal"),
        ("tenant", ""),
        ("tenant", "a/b"),
        ("secret", ""),
        ("count", 0),
        ("count", 2.5),
        ("count", True),
        ("rate", 0),
        ("rate", -5.0),
        ("rate", float("nan")),
        ("concurrency", 0),
        ("duplicates", -0.1),
        ("duplicates", 1.01),
        ("max_seconds", 0),
        ("max_seconds", float("inf")),
        ("retries", 0),
        ("first_order", 0),
        ("lines", 0),
        ("lines", 51),
        ("path", "webhooks/x"),
        ("path", "/x?y=1"),
    ],
)
def test_every_field_is_validated_and_named(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        plan(**{field: value})


def test_a_standard_secret_must_be_whsec_base64() -> None:
    with pytest.raises(ValueError, match=r"^secret: "):
        plan(source="standard", secret="whsec_not base64!")
    assert plan(source="standard", secret=WHSEC).secret == WHSEC


def test_target_counts_and_order_ids() -> None:
    p = plan(count=10, duplicates=0.3, first_order=500)
    assert p.target == "http://127.0.0.1:8080/webhooks/shopify/acme"
    assert (p.duplicate_count, p.deliveries) == (3, 13)
    assert list(p.order_ids()) == list(range(500, 510))
    assert plan(path="/elsewhere").target == "http://127.0.0.1:8080/elsewhere"


# --- pacing --------------------------------------------------------------------------------


def test_schedule_sends_every_original_once_in_order_and_repeats_after_the_original() -> None:
    order = schedule(1000, 300, seed=7)
    assert len(order) == 1300
    firsts: dict[int, int] = {}
    for position, index in enumerate(order):
        firsts.setdefault(index, position)
    assert sorted(firsts) == list(range(1000))
    assert list(firsts) == list(range(1000))  # originals go out in ascending order
    assert sum(Counter(order).values()) - len(firsts) == 300
    assert schedule(1000, 300, seed=7) == order  # deterministic
    assert schedule(5, 0) == [0, 1, 2, 3, 4]


def test_schedule_with_one_order_repeats_only_it() -> None:
    assert schedule(1, 3) == [0, 0, 0, 0]


def test_due_times_are_start_plus_index_over_rate_so_nothing_drifts() -> None:
    assert [due(100.0, i, 4.0) for i in range(5)] == [100.0, 100.25, 100.5, 100.75, 101.0]
    assert due(100.0, 10_000, 1000.0) == pytest.approx(110.0)
    assert due(100.0, 123, None) == 100.0


def test_backoff_doubles_from_a_fifth_of_a_second_and_obeys_retry_after() -> None:
    assert [backoff(n) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.6, 3.2]
    assert backoff(1) == FIRST_BACKOFF_S
    assert backoff(3, retry_after=2.0) == 2.0
    assert backoff(30) == MAX_WAIT_S and backoff(1, retry_after=3600) == MAX_WAIT_S
    with pytest.raises(ValueError):
        backoff(0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("1", 1.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        (None, None),
        ("soon", None),
        ("-1", None),
        ("inf", None),
    ],
)
def test_retry_after_header(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


def test_percentile_interpolates_like_numpy() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(values, 101)


# --- the report ----------------------------------------------------------------------------


def result(
    order_id: str,
    status: str = "200",
    *,
    duplicate: bool = False,
    latency: float = 0.01,
    answer: str | None = "accepted",
    attempts: int = 1,
) -> DeliveryResult:
    acked = status.startswith("2")
    return DeliveryResult(
        order_id,
        duplicate,
        status,
        answer if acked else None,
        attempts,
        latency,
        latency / attempts if acked else None,
    )


def test_report_counts_acknowledged_orders_statuses_and_latencies() -> None:
    expected = {str(n): Expected(f"evt_{n}", Decimal("10.00"), "ILS") for n in (1, 2, 3)}
    results = [
        result("1", latency=0.010),
        result("1", duplicate=True, answer="duplicate", latency=0.030),
        result("2", "503", attempts=8, latency=25.0),
        result("3", "error:ClientConnectorError", attempts=8, latency=25.0),
    ]
    report = LoadReport(plan(count=3, secret="top-secret"), time.time(), 2.0, expected, results)
    assert report.acknowledged == {"1"}
    assert report.not_acknowledged == ["2", "3"]
    assert report.statuses == Counter({"200": 2, "503": 1, "error:ClientConnectorError": 1})
    assert report.answers == Counter({"accepted": 1, "duplicate": 1})
    assert (report.sent, report.duplicates_sent, report.attempts) == (4, 1, 18)
    assert report.rate == 2.0 and report.attempt_rate == 9.0
    assert report.percentile(50) == pytest.approx(0.020)
    data = json.loads(json.dumps(report.as_dict()))
    assert data["latency_ms"]["max"] == pytest.approx(30.0)
    assert data["not_acknowledged_ids"] == ["2", "3"]
    assert "top-secret" not in json.dumps(data)


# --- deliveries ----------------------------------------------------------------------------


def receive(source: str, delivery: Delivery, tenant: str = "acme") -> OrderEvent:
    """What the receiver does with a delivery before the ledger: verify, parse, to an event."""
    module = get_source(source)
    assert module is not None
    module.verify(delivery.body, delivery.headers, [SECRETS[source]], datetime.now(UTC))
    parsed = module.parse(delivery.body, delivery.headers)
    item = to_item(parsed, tenant, source)
    assert isinstance(item, OrderEvent)
    return item


@pytest.mark.parametrize("source", sorted(SECRETS))
def test_every_source_builds_deliveries_the_receiver_accepts(source: str) -> None:
    """Signed as the receiver verifies; one paid order each; event key, event id, order id
    and total exactly as the receiver derives them."""
    deliveries = build_deliveries(
        plan(source=source, secret=SECRETS[source], count=30, first_order=4_000, lines=4)
    )
    assert [d.order_id for d in deliveries] == [str(n) for n in range(4_000, 4_030)]
    assert len({d.event_id for d in deliveries}) == 30
    for delivery in deliveries:
        event = receive(source, delivery)
        assert event.delivery_id == delivery.event_key
        assert event.event_id == delivery.event_id
        assert event.order_id == delivery.order_id
        assert event.kind in (EventKind.ORDER_PAID, EventKind.PAYMENT_CAPTURED)
        assert event.order is not None and event.order.paid
        assert event.order.total == delivery.total and event.order.currency == "ILS"
        if source != "stripe":  # a payment is one line for the amount taken
            assert len([ln for ln in event.order.lines if ln.kind == "item"]) == 4


def test_orders_vary_realistically() -> None:
    deliveries = build_deliveries(plan(count=20, lines=3))
    assert len({d.total for d in deliveries}) > 10
    bodies = [json.loads(d.body) for d in deliveries]
    assert all(b["taxes_included"] and b["currency"] == "ILS" for b in bodies)
    assert any(b["discount_codes"] for b in bodies)
    assert len({b["customer"]["email"] for b in bodies}) > 3


def test_the_wrong_secret_is_refused_by_the_receiver() -> None:
    delivery = build_deliveries(plan(secret="not-the-tenant's", count=1))[0]
    with pytest.raises(InvalidSignature):
        receive("shopify", delivery)


@pytest.mark.parametrize("source", ["stripe", "standard"])
def test_timestamped_signatures_are_made_again_when_old(source: str) -> None:
    """A delivery built long ago is signed afresh; a recent one goes as built."""
    delivery = build_deliveries(plan(source=source, secret=SECRETS[source], count=1))[0]
    now = int(time.time())
    assert current_headers(delivery, source, SECRETS[source], now) is delivery.headers
    later = now + RESIGN_AFTER_S + 600  # past the receivers' 300 s tolerance for the original
    fresh = current_headers(delivery, source, SECRETS[source], later)
    assert fresh != delivery.headers
    module = get_source(source)
    assert module is not None
    at = datetime.fromtimestamp(later, UTC)
    module.verify(delivery.body, fresh, [SECRETS[source]], at)
    with pytest.raises(InvalidSignature):
        module.verify(delivery.body, delivery.headers, [SECRETS[source]], at)
