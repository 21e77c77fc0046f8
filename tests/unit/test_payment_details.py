"""worker.jobs.payment_details, pure parts: which payment is kept, how it fills an order's gap, and
how long a step waits for it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from handlers.sources import shopify
from invoicebridge.samples import shopify as samples
from tests.payments import CARD
from worker.domain.events import Order, Payment
from worker.errors import MissingTransactionId, Retryable, Waiting
from worker.jobs.payment_details import awaited, merged, preferred
from worker.ledger.records import JobRecord

PAID_AT = datetime(2025, 3, 2, 8, 0, 4, tzinfo=UTC)
#: the card payment (Visa 4242) as the details event reports it
DETAILS = CARD.model_copy(
    update={"transaction_id": "53433", "payer_name": "D. Levi", "paid_at": PAID_AT}
)
NO_ID = Payment(gateway="shopify_payments", kind="card")
MISSING = MissingTransactionId("the cc payment block needs the gateway's transaction id")
T0 = 1_000_000.0


def order(payment: Payment | None) -> Order:
    body = json.dumps(samples.shopify_order(9)).encode()
    headers = samples.headers_for(body, topic="orders/paid", secret="s", event_id="e")
    parsed = shopify.parse(body, headers).order
    assert parsed is not None
    return parsed.model_copy(update={"payment": payment})


def job(first_started_at: float | None = T0) -> JobRecord:
    return JobRecord(
        key="acme:9:invrec", state="running", attempts=1, first_started_at=first_started_at
    )


def wait(
    exc: Exception,
    *,
    waited_s: float,
    wait_s: float = 900,
    max_delay_ms: int = 300_000,
    source: str = "shopify",
    started: float | None = T0,
) -> Exception:
    assert isinstance(exc, MissingTransactionId | Retryable)
    return awaited(
        exc,
        job(started),
        wait_s=wait_s,
        source=source,
        max_delay_ms=max_delay_ms,
        now=T0 + waited_s,
    )


@pytest.mark.parametrize(
    ("stored", "incoming", "kept"),
    [
        (None, DETAILS, DETAILS),
        (None, NO_ID, NO_ID),
        (NO_ID, DETAILS, DETAILS),
        (DETAILS, NO_ID, None),  # one without an id never replaces one with it
        (DETAILS, DETAILS.model_copy(update={"transaction_id": "99"}), "later"),
        (DETAILS, DETAILS, None),
        (DETAILS, None, None),
    ],
)
def test_the_later_payment_wins_unless_it_lacks_the_id(
    stored: Payment | None, incoming: Payment | None, kept: Payment | str | None
) -> None:
    """What is stored when `incoming` arrives (None: the stored one stays)."""
    assert preferred(stored, incoming) == (incoming if kept == "later" else kept)


def test_the_stored_details_fill_the_orders_gap() -> None:
    """The order keeps its gateway and kind; id, card, payer and time come from the details."""
    own = Payment(gateway="Shopify Payments", kind="card", card_brand="MC", payer_name="Dana")
    expected = DETAILS.model_copy(update={"gateway": "Shopify Payments"})
    assert merged(order(own), DETAILS).payment == expected
    assert merged(order(None), DETAILS).payment == DETAILS
    partial = Payment(transaction_id="77")
    assert merged(order(own), partial).payment == own.model_copy(update={"transaction_id": "77"})


def test_an_order_with_its_own_id_or_no_details_is_left_alone() -> None:
    """Nothing to fill: the very same order comes back."""
    with_id = order(DETAILS.model_copy(update={"transaction_id": "own-1"}))
    assert merged(with_id, DETAILS) is with_id
    without = order(NO_ID)
    assert merged(without, None) is without


@pytest.mark.parametrize(
    ("waited_s", "max_delay_ms", "delay_ms"),
    [
        (0, 300_000, 1_000),  # at first, again within a second
        (10, 300_000, 5_000),  # then after half the time waited so far
        (400, 300_000, 30_000),  # at most every half minute
        (400, 2_000, 2_000),  # and never later than the queue's longest backoff
        (899.5, 300_000, 500),  # nor past the end of the wait
    ],
)
def test_a_step_without_the_id_waits_within_the_window(
    waited_s: float, max_delay_ms: int, delay_ms: int
) -> None:
    """`Waiting` (spends no retry) while the wait lasts, coming back in good time."""
    outcome = wait(MISSING, waited_s=waited_s, max_delay_ms=max_delay_ms)
    assert isinstance(outcome, Waiting) and outcome.delay_ms == delay_ms


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("shopify", ["order_transactions/create"]),
        ("stripe", ["charge.succeeded"]),
        ("standard", ["order_transactions/create", "charge.succeeded"]),
    ],
)
def test_after_the_window_it_needs_attention_naming_the_subscription(
    source: str, named: list[str]
) -> None:
    """Past `wait_s`: a NeedsAttention (reason no_transaction_id) saying which webhook to add."""
    outcome = wait(MISSING, waited_s=900, source=source)
    assert isinstance(outcome, MissingTransactionId) and outcome is not MISSING
    assert outcome.reason == "no_transaction_id"
    assert str(outcome).startswith(str(MISSING)) and all(name in str(outcome) for name in named)


def test_no_wait_at_all_and_other_errors() -> None:
    """`wait_s = 0` stops at once; a job with no first start counts from now; any other
    error is left as it is."""
    assert isinstance(wait(MISSING, waited_s=0, wait_s=0), MissingTransactionId)
    assert isinstance(wait(MISSING, waited_s=5000, started=None), Waiting)
    other = Retryable("503")
    assert wait(other, waited_s=0) is other
