"""The planner reconciles: the newest snapshot and every refund -> the documents still missing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from worker.domain.events import Customer, Line, Order, Refund
from worker.jobs.planner import Step, newest, plan
from worker.settings import DocumentSettings

DOCS = DocumentSettings()


def order(
    *, paid: bool, cancelled: bool = False, email: str | None = "dana@example.com", updated: int = 0
) -> Order:
    return Order(
        order_id="1001",
        number="#1001",
        currency="ILS",
        prices_include_tax=True,
        lines=(Line(description="Mug", quantity=Decimal(1), unit_price=Decimal("50.00")),),
        total=Decimal("50.00"),
        paid=paid,
        cancelled=cancelled,
        customer=Customer(name="Dana", email=email),
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        updated_at=datetime(2026, 11, 1, 10, updated, tzinfo=UTC),
    )


def refund(rid: str, amount: str = "20.00") -> Refund:
    return Refund(refund_id=rid, amount=Decimal(amount), currency="ILS")


def names(steps: list[Step]) -> list[str]:
    return [step.name for step in steps]


@pytest.mark.parametrize(
    ("paid", "cancelled", "known", "expected"),
    [
        (True, False, {}, ["invrec"]),
        (False, False, {}, ["invoice"]),
        (True, False, {"invoice": "done"}, ["receipt"]),
        (True, False, {"invrec": "done"}, []),
        (False, False, {"invrec": "done"}, []),  # a stale unpaid snapshot never undoes a payment
        (True, False, {"invoice": "done", "receipt": "done"}, []),
        (True, False, {"invoice": "running"}, ["invoice", "receipt"]),
        (True, False, {"invrec": "retrying"}, ["invrec"]),
        (False, True, {}, []),  # cancelled before anything was issued: nothing to issue
        (False, True, {"invoice": "done"}, ["cancel:invoice"]),
        (False, True, {"invoice": "done", "cancel:invoice": "done"}, []),
        (True, False, {"invrec": "resolved"}, []),  # issued by hand, resolved by an operator
        (True, True, {"invrec": "done"}, []),  # a paid order's cancellation is a refund's business
    ],
)
def test_sale_documents(
    paid: bool, cancelled: bool, known: dict[str, str], expected: list[str]
) -> None:
    """Each situation yields exactly the sale documents still missing, in order."""
    assert names(plan(order(paid=paid, cancelled=cancelled), {}, known, DOCS)) == expected


def test_every_refund_gets_one_credit_note_based_on_the_sale_document() -> None:
    """Two refunds -> two credit notes after the invrec; a done one is not planned again."""
    steps = plan(order(paid=True), {"r1": refund("r1"), "r2": refund("r2")}, {}, DOCS)
    assert names(steps) == ["invrec", "refund:r1", "refund:r2"]
    assert {(s.action, s.doctype, s.based_on, s.refund_id) for s in steps[1:]} == {
        ("credit", "refund", "invrec", "r1"),
        ("credit", "refund", "invrec", "r2"),
    }
    steps = plan(
        order(paid=True),
        {"r1": refund("r1"), "r2": refund("r2")},
        {"invrec": "done", "refund:r1": "done"},
        DOCS,
    )
    assert names(steps) == ["refund:r2"]


def test_refund_of_an_invoiced_order_is_based_on_the_invoice() -> None:
    """Invoice then receipt: the credit note refers to the invoice."""
    known = {"invoice": "done", "receipt": "done"}
    [step] = plan(order(paid=True), {"r1": refund("r1")}, known, DOCS)
    assert (step.name, step.based_on) == ("refund:r1", "invoice")


def test_no_credit_note_without_a_sale_document() -> None:
    """An unpaid order that waits for payment has nothing a refund could credit."""
    docs = DocumentSettings(unpaid_doctype="none")
    assert plan(order(paid=False), {"r1": refund("r1")}, {}, docs) == []


def test_unpaid_orders_can_wait_for_payment() -> None:
    """With unpaid_doctype = "none" an unpaid order makes no document yet."""
    assert plan(order(paid=False), {}, {}, DocumentSettings(unpaid_doctype="none")) == []


def test_email_follows_settings_and_address() -> None:
    """No email without an address or when emailing is off; cancels never email."""
    [step] = plan(order(paid=True), {}, {}, DOCS)
    assert step.email is True
    [step] = plan(order(paid=True, email=None), {}, {}, DOCS)
    assert step.email is False
    [step] = plan(order(paid=True), {}, {}, DocumentSettings(email=False))
    assert step.email is False


def test_newest_snapshot_wins_and_stale_ones_are_ignored() -> None:
    """A snapshot older than the stored one never replaces it; unknown times favour the new."""
    old, new = order(paid=False, updated=1), order(paid=True, updated=2)
    assert newest(new, old) is new
    assert newest(old, new) is new
    assert newest(None, old) is old
    assert newest(old, None) is old
    undated = old.model_copy(update={"updated_at": None})
    assert newest(new, undated) is undated


def test_providers_that_do_not_email_on_create_get_email_steps() -> None:
    """iDoklad / iCash: each document, credit notes too, is followed by its own email step."""
    steps = plan(order(paid=True), {"r1": refund("r1")}, {}, DOCS, emails_on_create=False)
    assert names(steps) == ["invrec", "refund:r1", "email:invrec", "email:refund:r1"]
    email = steps[2]
    assert (email.action, email.based_on, email.doctype) == ("email", "invrec", "invrec")
    done = {"invrec": "done", "email:invrec": "done"}
    assert names(plan(order(paid=True), {}, done, DOCS, emails_on_create=False)) == []
    no_address = plan(order(paid=True, email=None), {}, {}, DOCS, emails_on_create=False)
    assert names(no_address) == ["invrec"]


def test_an_order_that_asks_to_be_charged_is_charged_then_receipted() -> None:
    """Unpaid + a stored-card charge request + a tenant that charges: charge, then an invrec
    based on the charge; nothing again once both are done; without permission, an invoice."""
    from worker.domain.events import ChargeRequest

    asking = order(paid=False).model_copy(update={"charge": ChargeRequest(customer_ref="57")})
    charging = DocumentSettings(charge_stored_cards=True)
    steps = plan(asking, {}, {}, charging)
    assert [(s.name, s.action, s.based_on) for s in steps] == [
        ("charge", "charge", None),
        ("invrec", "issue", "charge"),
    ]
    assert names(plan(asking, {}, {"charge": "done"}, charging)) == ["invrec"]
    assert names(plan(asking, {}, {"charge": "done", "invrec": "done"}, charging)) == []
    assert names(plan(asking, {}, {"charge": "retrying"}, charging)) == ["charge", "invrec"]
    assert names(plan(asking, {}, {}, DOCS)) == ["invoice"]
    assert names(plan(asking.model_copy(update={"paid": True}), {}, {}, charging)) == ["invrec"]
