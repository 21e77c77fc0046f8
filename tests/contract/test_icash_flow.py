"""iCash through its documented operation flow, against a sandbox serving only documented
methods, in every mode the documentation leaves open (issue 17, items 1-4).

Each test runs steps through the generic `StepRunner`, as the worker does; an answer lost
after any call (the sandbox commits, then hangs past the client's timeout) is retried as
the worker would retry it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.contract.harness import HARNESSES, Running, running
from tests.contract.test_provider_contract import EMAIL, INVREC, REFUND, context, issue_until_done
from tests.contract.test_provider_contract import order as sample_order
from worker.domain.events import Customer, Order, Refund
from worker.errors import DocumentNeedsAttention, NeedsAttention, Retryable
from worker.jobs.planner import Step
from worker.providers.base import DocumentRef
from worker.providers.icash.wire import comment_token, import_ref_id

ICASH = next(harness for harness in HARNESSES if harness.name == "icash")
INVOICE = Step("invoice", "issue", "invoice", email=False)
CANCEL = Step("cancel:invoice", "cancel", "invoice", False, "invrec")
REFUND_AMOUNT = Decimal("20.00")


@asynccontextmanager
async def icash(switches: dict[str, Any] | None = None, **settings: Any) -> AsyncIterator[Running]:
    async with running(ICASH, switches=switches, **settings) as box:
        yield box


def order(box: Running, order_id: int = 501) -> Order:
    return sample_order(box, order_id)


async def operations(box: Running) -> list[dict[str, Any]]:
    return list(await box.control("GET", "operations"))


async def ours(box: Running, the_order: Order, step: str = "invrec") -> list[dict[str, Any]]:
    """The sandbox's operations made for `step` of `the_order`, by our ImportRefID."""
    from worker.domain.idempotency import sanity_string

    ref = str(import_ref_id(sanity_string("acme", the_order.order_id, step)))
    return [op for op in await operations(box) if op["import_ref_id"] == ref]


def refund(the_order: Order) -> Refund:
    return Refund(
        refund_id="r1",
        amount=REFUND_AMOUNT,
        currency=the_order.currency,
        created_at=datetime(2026, 11, 2, tzinfo=UTC),
    )


# --- one document, exact, whatever is lost ---------------------------------------------------


@pytest.mark.parametrize(
    "path", ["new-operation", "add-operation-sale-item", "add-operation-payment", "print-operation"]
)
@pytest.mark.parametrize("reprint", ["refuse", "idempotent"])
async def test_an_answer_lost_after_any_call_still_makes_one_operation(
    path: str, reprint: str
) -> None:
    """The sandbox did the call, the answer was lost: the next attempt finds our operation,
    resumes it where iCash says it stands, and ends with one finalised operation whose
    document carries the shop's total and VAT, whatever iCash answers a repeated print."""
    async with icash({"reprint": reprint}) as box:
        the_order = order(box)
        plan = {"path": path, "plan": ["timeout-after-commit"], "hang_s": 2}
        await box.control("POST", "faults", plan)
        made = await issue_until_done(box, INVREC, context(the_order))
        [operation] = await ours(box, the_order)
        assert operation["status"] == "NORMAL"
        assert len(operation["payments"]) == 1
        assert Decimal(operation["gross"]) == the_order.total
        [document] = await box.documents()
        assert document["docnum"] == made.docnum
        assert Decimal(document["total"]) == the_order.total == made.total
        assert Decimal(document["vat"]) == the_order.total_tax == made.vat


async def test_an_interrupted_operation_is_resumed_not_repeated() -> None:
    """A worker that died after new-operation and one item (the operation TEMP, holding one
    item): the next run adds only the rest, pays, prints; no second operation."""
    async with icash() as box:
        the_order = order(box)
        await box.control("POST", "faults", {"path": "add-operation-sale-item", "plan": [200, 503]})
        with pytest.raises(Retryable):
            await box.runner.run(INVREC, context(the_order))
        [half] = await ours(box, the_order)
        assert (half["status"], len(half["rows"]), half["payments"]) == ("TEMP", 1, [])
        await box.runner.run(INVREC, context(the_order))
        [done] = await ours(box, the_order)
        assert done["id"] == half["id"] and done["status"] == "NORMAL"
        assert len(done["rows"]) == len(the_order.lines)
        assert len(await box.documents()) == 1


async def test_another_references_operation_sharing_the_import_ref_is_not_taken() -> None:
    """An operation with our ImportRefID but another comment (31 bits are shared by some
    references) is left alone: ours is made beside it."""
    async with icash() as box:
        the_order = order(box)
        from worker.domain.idempotency import sanity_string
        from worker.providers.icash import wire

        reference = sanity_string("acme", the_order.order_id, "invrec")
        client = box.runner.provider.client  # type: ignore[attr-defined]
        await client.call(
            wire.NEW_OPERATION,
            {
                "ImportSource": wire.IMPORT_SOURCE,
                "ImportRefID": import_ref_id(reference),
                "OperationType": "Sell",
                "CashRegisterID": 1,
                "StoreID": 1,
                "Comment": comment_token("another reference"),
            },
            mutating=True,
        )
        await box.runner.run(INVREC, context(the_order))
        statuses = sorted(op["status"] for op in await ours(box, the_order))
        assert statuses == ["NORMAL", "TEMP"]
        assert len(await box.documents()) == 1


async def test_filters_the_service_ignores_do_not_mislead_the_look_up() -> None:
    """With ImportSource/ImportRefID ignored by iCash, another order's printed operation is
    listed first: it is not mistaken for ours, and a lost print answer still ends in one."""
    async with icash({"ignore_import_filters": True}) as box:
        first, second = order(box, 601), order(box, 602)
        await box.runner.run(INVREC, context(first))
        await box.control(
            "POST",
            "faults",
            {"path": "print-operation", "plan": ["timeout-after-commit"], "hang_s": 2},
        )
        await issue_until_done(box, INVREC, context(second))
        assert len(await ours(box, first)) == len(await ours(box, second)) == 1
        assert len(await box.documents()) == 2


# --- the VAT -----------------------------------------------------------------------------


async def test_vat_is_the_shops_under_the_rule_it_shares_and_stops_otherwise() -> None:
    """Three 0.10 items at 20 %: the shop (per line) charged 3 × 0.02 = 0.06. Extracted per
    line (VAT or net rounded) iCash shows 0.06: done. Extracted once per rate it shows
    0.05: the step stops as needs_attention carrying that document, never made again."""
    lines = [("Pin", "0.10", 1), ("Clip", "0.10", 1), ("Tag", "0.10", 1)]
    for rule, agrees in (("per_line_vat", True), ("per_line", True), ("per_rate", False)):
        async with icash({"vat_rule": rule}) as box:
            from invoicebridge.samples import shopify as samples

            payload = samples.with_sale(
                samples.shopify_order(
                    700, lines=lines, shipping=None, currency="EUR", vat_rate="0.20"
                )
            )
            the_order = _parsed(payload)
            assert the_order.total_tax == Decimal("0.06")
            if agrees:
                made = await box.runner.run(INVREC, context(the_order))
                assert made.vat == Decimal("0.06")
            else:
                with pytest.raises(DocumentNeedsAttention) as raised:
                    await box.runner.run(INVREC, context(the_order))
                assert raised.value.reason == "document_vat_differs"
                assert isinstance(raised.value.document, DocumentRef)
                assert raised.value.document.vat == Decimal("0.05")
            [document] = await box.documents()
            assert Decimal(document["total"]) == Decimal("0.30")


@pytest.mark.parametrize("fault", ["timeout-after-commit", "delayed"])
async def test_a_found_document_is_checked_as_a_made_one_is(fault: str) -> None:
    """The document is found by a later attempt (print's answer lost, or the document late)
    and its VAT is not the shop's: the step still stops as needs_attention with it."""
    lines = [("Pin", "0.10", 1), ("Clip", "0.10", 1), ("Tag", "0.10", 1)]
    delayed = fault == "delayed"
    switches = {
        "vat_rule": "per_rate",
        **({"document_on_print": "delayed", "document_delay_s": 0.5} if delayed else {}),
    }
    async with icash(switches) as box:
        from invoicebridge.samples import shopify as samples

        the_order = _parsed(
            samples.with_sale(
                samples.shopify_order(
                    701, lines=lines, shipping=None, currency="EUR", vat_rate="0.20"
                )
            )
        )
        if delayed:  # the first attempt prints and waits; the next finds the document
            with pytest.raises(Retryable):
                await box.runner.run(INVREC, context(the_order))
            await asyncio.sleep(0.7)
        else:  # after the lost answer the runner looks the document up at once
            plan = {"path": "print-operation", "plan": [fault], "hang_s": 2}
            await box.control("POST", "faults", plan)
        with pytest.raises(DocumentNeedsAttention) as raised:
            await box.runner.run(INVREC, context(the_order))
        assert raised.value.reason == "document_vat_differs"
        assert len(await ours(box, the_order)) == 1


def _parsed(payload: dict[str, Any]) -> Order:
    import json

    from handlers.sources import shopify
    from invoicebridge.samples import shopify as samples

    body = json.dumps(payload).encode()
    headers = samples.headers_for(body, topic="orders/paid", secret="s", event_id="e")
    parsed = shopify.parse(body, headers)
    assert parsed.order is not None
    return parsed.order


# --- documents that appear late, or never -------------------------------------------------


async def test_a_late_document_is_waited_for_and_a_missing_one_stops() -> None:
    """Delayed: the step retries until the document shows, then is done with it. Never:
    past `document_wait_s` the step stops as needs_attention; one operation either way."""
    async with icash({"document_on_print": "delayed", "document_delay_s": 0.6}) as box:
        the_order = order(box)
        with pytest.raises(Retryable):
            await box.runner.run(INVREC, context(the_order))
        await asyncio.sleep(0.8)
        made = await box.runner.run(INVREC, context(the_order))
        assert made.total == the_order.total and len(await ours(box, the_order)) == 1
    async with icash({"document_on_print": "never"}, document_wait_s=0) as box:
        the_order = order(box)
        with pytest.raises(Retryable):
            await box.runner.run(INVREC, context(the_order))
        with pytest.raises(NeedsAttention) as raised:
            await box.runner.run(INVREC, context(the_order))
        assert raised.value.reason == "no_document_for_operation"
        assert len(await ours(box, the_order)) == 1


# --- refunds, email, what the flow cannot express ------------------------------------------


async def test_a_refund_is_one_return_operation_and_its_credit_document() -> None:
    """ReturnClient with the sale's storno fields; its answer lost once; one return, one
    CREDIT document for the refund's amount referring to the sale's document."""
    async with icash() as box:
        the_order = order(box)
        sale = await box.runner.run(INVREC, context(the_order))
        await box.control(
            "POST",
            "faults",
            {"path": "print-operation", "plan": ["timeout-after-commit"], "hang_s": 2},
        )
        await issue_until_done(box, REFUND, context(the_order, sale, refund(the_order)))
        await box.runner.run(REFUND, context(the_order, sale, refund(the_order)))
        [ret] = await ours(box, the_order, "refund:r1")
        [sold] = await ours(box, the_order)
        assert ret["type"] == "ReturnClient" and ret["status"] == "NORMAL"
        assert ret["storno"]["FiskBonUUID"] == sold["fisk_bon_uuid"]
        assert ret["storno"]["FiskDeviceNum"] == 50_000_001
        credits = [d for d in await box.documents() if d["doctype"] == "CREDIT"]
        assert len(credits) == 1
        assert Decimal(credits[0]["total"]) == REFUND_AMOUNT
        assert str(credits[0]["to_document_id"]) == sale.doc_id


async def test_a_refund_without_the_fiscal_device_stops() -> None:
    async with icash(fiscal_device_number=None) as box:
        the_order = order(box)
        sale = await box.runner.run(INVREC, context(the_order))
        with pytest.raises(NeedsAttention) as raised:
            await box.runner.run(REFUND, context(the_order, sale, refund(the_order)))
        assert raised.value.reason == "no_fiscal_device"
        assert await ours(box, the_order, "refund:r1") == []


async def test_one_email_carries_the_rendered_pdf() -> None:
    """iCash cannot email: our SMTP sends one message with the PDF rendered from
    get-document, naming the document and its VAT."""
    async with icash() as box:
        the_order = order(box)
        made = await box.runner.run(INVREC, context(the_order))
        await box.runner.run(EMAIL, context(the_order, made))
        [message] = box.inbox.messages
        [pdf] = [part for part in message.walk() if part.get_filename()]
        assert pdf.get_filename() == f"{made.docnum}.pdf"
        content = pdf.get_payload(decode=True)
        assert isinstance(content, bytes) and content.startswith(b"%PDF")
        assert made.docnum.encode() in content and f"VAT {made.vat}".encode() in content


async def test_what_the_flow_cannot_express_stops_and_makes_nothing() -> None:
    """An unpaid invoice and a cancellation stop as needs_attention; no operation is made."""
    async with icash() as box:
        the_order = order(box)
        with pytest.raises(NeedsAttention) as unpaid:
            await box.runner.run(INVOICE, context(the_order))
        assert unpaid.value.reason == "invoice_unsupported"
        ref = DocumentRef(doctype="INVOICE", docnum="1000000001", doc_id="1")
        with pytest.raises(NeedsAttention) as cancel:
            await box.runner.run(CANCEL, context(the_order, ref))
        assert cancel.value.reason == "cancel_unsupported"
        assert await operations(box) == []


async def test_a_business_customer_is_one_contragent_on_the_document() -> None:
    """A company with a VAT id is added once (found again for its second order) and named
    on the document; a consumer is not added."""
    async with icash() as box:
        company = Customer(
            name="Ivan Petrov", company="Acme OOD", vat_id="BG131047312", city="Sofia", country="BG"
        )
        for order_id in (801, 802):
            the_order = order(box, order_id).model_copy(update={"customer": company})
            await box.runner.run(INVREC, context(the_order))
        await box.runner.run(INVREC, context(order(box, 803)))
        documents = await box.documents()
        assert [d["contragent"] for d in documents] == ["Acme OOD", "Acme OOD", ""]
        requests = await box.control("GET", "requests")
        assert requests["counts"]["add-contragent"] == 1


async def test_a_fresh_sale_lists_its_operations_and_documents_once() -> None:
    """The runner looks the document up before creating it; creating takes what that
    look-up found instead of listing the operations again: one `operations-list`, one
    `documents-list` and one `get-document` for a new sale."""
    async with icash() as box:
        await box.runner.run(INVREC, context(order(box)))
        counts = (await box.control("GET", "requests"))["counts"]
        assert (counts["operations-list"], counts["documents-list"], counts["get-document"]) == (
            1,
            1,
            1,
        )
