"""The provider contract for iCount in every mode its sandbox offers for what the
documentation leaves open (issue #16): each rounding rule (exact sum, per line, per rate)
with half-up and half-even rounding, and both answers to a repeated `sanity_string`
(the first document back, or a refusal). In each: the exact total, one document however
often the step runs or its answer is lost, one email.

A separate test shows the VAT check (docs/providers/icount.md D-23): when iCount rounds
the VAT otherwise than the shop did, the step stops as needs_attention, one document made.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sandboxes.icount.control import DUPLICATE_MODES
from sandboxes.icount.rounding import ROUNDINGS, RULES
from tests.contract.harness import HARNESSES, Running, running
from tests.contract.test_provider_contract import INVREC, context, issue_until_done
from tests.payments import CARD
from worker.domain.events import Customer, Line, Order
from worker.errors import NeedsAttention

ICOUNT = next(harness for harness in HARNESSES if harness.name == "icount")
MODES = list(itertools.product(RULES, ROUNDINGS, DUPLICATE_MODES))


@pytest.fixture(params=MODES, ids=lambda mode: "-".join(mode))
async def box(request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    rule, rounding, duplicates = request.param
    async with running(ICOUNT) as started:
        config = {"rounding_rule": rule, "rounding": rounding, "duplicate_mode": duplicates}
        await started.control("POST", "config", config)
        yield started


def order(lines: tuple[Line, ...], total: str, order_id: str = "701") -> Order:
    return Order(
        order_id=order_id,
        number=f"#{order_id}",
        currency="ILS",
        prices_include_tax=True,
        lines=lines,
        total=Decimal(total),
        paid=True,
        payment=CARD,
        customer=Customer(name="Dana Levi", email="dana@example.com"),
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


def mug(price: str, quantity: int = 1, tax: str = "0") -> Line:
    return Line(
        description="Mug",
        quantity=Decimal(quantity),
        unit_price=Decimal(price),
        tax=Decimal(tax),
        tax_rate=Decimal(18),
    )


#: VAT the rules agree on: 117.00 → 17.85 (17.847), 2 × 29.50 = 59.00 → 9.00 exactly
AGREED = order((mug("117.00", tax="17.85"), mug("29.50", 2, tax="9.00")), "176.00")


async def test_exact_total_one_document_one_email_in_every_mode(box: Running) -> None:
    """F-MONEY-1, F-DOC-20: run three times, the answer of a fourth lost after the work:
    one invoice-receipt, the shop's total to the smallest unit, one email."""
    refs = [await box.runner.run(INVREC, context(AGREED)) for _ in range(3)]
    await box.control(
        "POST", "faults", {"path": "doc/create", "plan": ["timeout-after-commit"], "hang_s": 1}
    )
    refs.append(await issue_until_done(box, INVREC, context(AGREED)))
    [document] = await box.documents()
    assert {ref.docnum for ref in refs} == {str(document["docnum"])}
    assert Decimal(document["totalwithvat"]) == AGREED.total
    assert Decimal(document["totalvat"]) == Decimal("26.85")
    assert await box.emails() == 1


#: 3 × 0.10 at 18 %: per line 3 × round(0.01525) = 0.06, on the sum round(0.04576) = 0.05
PINS = order((mug("0.10"), mug("0.10"), mug("0.10")), "0.30", order_id="702")
PINS_PER_LINE = PINS.model_copy(
    update={"lines": tuple(line.model_copy(update={"tax": Decimal("0.02")}) for line in PINS.lines)}
)


@pytest.mark.parametrize("rule", ["per_line", "exact_sum"])
async def test_vat_rounded_otherwise_than_the_shop_stops_for_a_human(rule: str) -> None:
    """D-23: the shop extracted 0.02 VAT per line (0.06); iCount per line shows 0.06
    and the step is done; on the exact sum it shows 0.05: needs_attention, one document."""
    async with running(ICOUNT) as box:
        await box.control("POST", "config", {"rounding_rule": rule})
        if rule == "per_line":
            await box.runner.run(INVREC, context(PINS_PER_LINE))
        else:
            with pytest.raises(NeedsAttention) as stopped:
                await box.runner.run(INVREC, context(PINS_PER_LINE))
            assert stopped.value.reason == "document_vat_differs"
        assert len(await box.documents()) == 1
