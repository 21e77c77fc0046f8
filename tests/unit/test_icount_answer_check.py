"""The document iCount answers is checked against the shop's order (D-23, `check_answer`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.orders import mug, order_of
from tests.payments import CARD
from worker.domain.events import Customer
from worker.errors import NeedsAttention
from worker.providers.base import DocumentRef
from worker.providers.icount.vat_check import check_answer
from worker.providers.icount.wire import parse_document
from worker.settings import DocumentSettings

ORDER = order_of(
    [mug(1, "117.00", tax_rate=18, tax="17.85")],
    order_id="9",
    number="#9",
    payment=CARD,
    customer=Customer(name="Dana"),
    created_at=datetime(2026, 11, 1, tzinfo=UTC),
)


def answered(**fields: str) -> DocumentRef:
    return parse_document({"docnum": "30001", "doctype": "invrec", **fields}, emailed=False)


def test_a_document_showing_the_shops_total_and_vat_passes() -> None:
    """F-DOCR-4: `totalwithvat` and `totalvat` equal to the shop's: nothing to do."""
    check_answer(ORDER, DocumentSettings(), answered(totalwithvat="117.00", totalvat="17.85"))


def test_totals_icount_does_not_answer_are_not_checked() -> None:
    """Response fields are undocumented (D-20): an answer without them is not refused."""
    check_answer(ORDER, DocumentSettings(), answered())


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"totalwithvat": "117.01"}, "document_total_differs"),
        ({"totalwithvat": "117.00", "totalvat": "17.84"}, "document_vat_differs"),
    ],
)
def test_a_document_that_differs_stops_for_a_human(fields: dict[str, str], reason: str) -> None:
    """The difference and the document's number are in the message."""
    with pytest.raises(NeedsAttention) as stopped:
        check_answer(ORDER, DocumentSettings(), answered(**fields))
    assert stopped.value.reason == reason and "30001" in str(stopped.value)
