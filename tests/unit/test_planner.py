"""The planner: one sale document per order, a receipt for a paid invoice, resume before new."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from worker.domain.events import Customer, EventKind, Line, Order, OrderEvent
from worker.planner import plan
from worker.settings import DocumentSettings


def event(kind: EventKind, *, paid: bool, email: str | None = "dana@example.com") -> OrderEvent:
    order = Order(
        order_id="1001",
        number="#1001",
        currency="ILS",
        prices_include_tax=True,
        lines=(Line(description="Mug", quantity=Decimal(1), unit_price=Decimal("50.00")),),
        total=Decimal("50.00"),
        paid=paid,
        customer=Customer(name="Dana", email=email),
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    return OrderEvent(
        event_id="evt_x",
        tenant="acme",
        source="shopify",
        topic="t",
        kind=kind,
        delivery_id="d",
        order=order,
    )


DOCS = DocumentSettings()


def names(steps: list) -> list[str]:
    return [step.name for step in steps]


@pytest.mark.parametrize(
    ("kind", "paid", "known", "expected"),
    [
        (EventKind.ORDER_CREATED, True, {}, ["invrec"]),
        (EventKind.ORDER_CREATED, False, {}, ["invoice"]),
        (EventKind.ORDER_PAID, True, {}, ["invrec"]),
        (EventKind.ORDER_PAID, True, {"invoice": "done"}, ["receipt"]),
        (EventKind.ORDER_PAID, True, {"invrec": "done"}, []),
        (EventKind.ORDER_CREATED, True, {"invrec": "done"}, []),
        (EventKind.ORDER_CREATED, False, {"invrec": "done"}, []),  # stale create after paid
        (EventKind.ORDER_PAID, True, {"invoice": "done", "receipt": "done"}, []),
        (EventKind.ORDER_PAID, True, {"invoice": "running"}, ["invoice", "receipt"]),
        (EventKind.ORDER_CREATED, True, {"invrec": "retrying"}, ["invrec"]),
    ],
)
def test_plan(kind: EventKind, paid: bool, known: dict[str, str], expected: list[str]) -> None:
    """Each lifecycle situation yields exactly the documents still missing, in order."""
    assert names(plan(event(kind, paid=paid), DOCS, known)) == expected


def test_unpaid_orders_can_wait_for_payment() -> None:
    """With unpaid_doctype = "none" an unpaid order makes no document yet."""
    docs = DocumentSettings(unpaid_doctype="none")
    assert plan(event(EventKind.ORDER_CREATED, paid=False), docs, {}) == []


def test_receipt_is_based_on_the_invoice_and_email_follows_settings() -> None:
    """A receipt names its invoice; no email without an address or when emailing is off."""
    [step] = plan(event(EventKind.ORDER_PAID, paid=True), DOCS, {"invoice": "done"})
    assert (step.based_on, step.email) == ("invoice", True)
    [step] = plan(event(EventKind.ORDER_PAID, paid=True, email=None), DOCS, {})
    assert step.email is False
    [step] = plan(event(EventKind.ORDER_PAID, paid=True), DocumentSettings(email=False), {})
    assert step.email is False
