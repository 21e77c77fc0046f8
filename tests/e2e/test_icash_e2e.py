"""iCash end to end (issue 17): Shopify orders of a Bulgarian shop (EUR, 20 %) through the
receiver and worker CLI processes into the iCash sandbox, which serves only documented
methods. A worker SIGKILLed in the middle of an operation, an answer lost after
`print-operation`, and a refund each end in one operation and one document, with the
shop's total and VAT, emailed once with its PDF."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from invoicebridge.samples import shopify as samples
from invoicebridge.samples.shopify_refunds import shopify_refund
from invoicebridge.stack.local import LocalStack, StackOptions, running_stack
from worker.domain.idempotency import sanity_string
from worker.providers.icash.wire import import_ref_id

pytestmark = pytest.mark.e2e

LINES = [("Mug", "24.00", 2), ("Tea", "9.60", 1), ("Jam", "6.00", 3)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    options = StackOptions(workers=1, threads=4, icount_timeout_s=1.5)
    with running_stack(tmp_path_factory.mktemp("icash"), options) as local:
        yield local


def bulgarian_order(order_id: int) -> dict[str, Any]:
    return samples.with_sale(
        samples.shopify_order(
            order_id, lines=LINES, discount="4.00", currency="EUR", vat_rate="0.20"
        )
    )


def operations(stack: LocalStack, order_id: int, step: str = "invrec") -> list[dict[str, Any]]:
    ref = str(import_ref_id(sanity_string("cash", str(order_id), step)))
    return [op for op in stack.sandbox("operations", "icash") if op["import_ref_id"] == ref]


def documents_of(stack: LocalStack, operation: dict[str, Any]) -> list[dict[str, Any]]:
    documents = stack.sandbox("documents", "icash")
    return [doc for doc in documents if doc["operation_id"] == operation["id"]]


def pdfs_for(stack: LocalStack, docnum: str) -> list[list[str]]:
    emails = stack.sandbox("emails", "smtp")
    return [m["attachments"] for m in emails if docnum in (m["subject"] or "")]


def assert_one_exact_document(
    stack: LocalStack, order: dict[str, Any], step: str = "invrec", total: str | None = None
) -> dict[str, Any]:
    """One finalised operation for the step, one document from it with the total (and, for
    the sale, the shop's VAT), emailed once with its PDF."""
    [operation] = operations(stack, order["id"], step)
    assert operation["status"] == "NORMAL" and len(operation["payments"]) == 1
    [document] = documents_of(stack, operation)
    assert Decimal(document["total"]) == Decimal(total or order["total_price"])
    if total is None:
        assert Decimal(document["vat"]) == Decimal(order["total_tax"])
    assert pdfs_for(stack, document["docnum"]) == [[f"{document['docnum']}.pdf"]]
    return document


def test_a_worker_killed_mid_operation_resumes_it(stack: LocalStack) -> None:
    """Items are slow to add; the worker is SIGKILLed once the operation holds some of them
    and restarted: the operation is finished, not made again."""
    stack.set_faults(
        {"path": "add-operation-sale-item", "plan": [{"latency_ms": 1200}] * 3}, "icash"
    )
    order = bulgarian_order(9101)
    assert stack.post_order(order, tenant="cash")[0] == 200
    deadline = time.monotonic() + 30
    while not any(op["rows"] for op in operations(stack, 9101)):
        assert time.monotonic() < deadline, "no operation got an item"
        time.sleep(0.05)
    stack.kill_workers()
    [interrupted] = operations(stack, 9101)
    assert interrupted["status"] == "TEMP" and len(interrupted["rows"]) < len(LINES) + 1
    stack.start_workers()
    stack.wait_quiet(timeout=90)
    assert_one_exact_document(stack, order)
    assert operations(stack, 9101)[0]["id"] == interrupted["id"]


def test_an_answer_lost_after_print_is_found_not_printed_again(stack: LocalStack) -> None:
    """print-operation's answer is lost after iCash finalised the operation: the retry finds
    it and its document; no second operation is opened and nothing is printed twice."""
    stack.set_faults(
        {"path": "print-operation", "plan": ["timeout-after-commit"], "hang_s": 3}, "icash"
    )
    before = stack.sandbox("requests", "icash")["counts"]
    order = bulgarian_order(9102)
    assert stack.post_order(order, tenant="cash")[0] == 200
    stack.wait_quiet(timeout=90)
    assert_one_exact_document(stack, order)
    after = stack.sandbox("requests", "icash")["counts"]
    assert after["new-operation"] - before.get("new-operation", 0) == 1
    assert after["print-operation"] - before.get("print-operation", 0) == 1


def test_a_refund_is_one_return_operation_and_its_credit_document(stack: LocalStack) -> None:
    """The first mug back: a ReturnClient operation naming the sale's receipt, and one
    credit document for it referring to the sale's invoice, emailed once."""
    order = bulgarian_order(9103)
    assert stack.post_order(order, tenant="cash")[0] == 200
    stack.wait_quiet(timeout=90)
    sale = assert_one_exact_document(stack, order)
    refund = shopify_refund(91031, order, lines=[(0, 1)])
    stack.set_faults(
        {"path": "print-operation", "plan": ["timeout-after-commit"], "hang_s": 3}, "icash"
    )
    assert stack.post_order(refund, topic="refunds/create", tenant="cash")[0] == 200
    stack.wait_quiet(timeout=90)
    amount = refund["transactions"][0]["amount"]
    credit = assert_one_exact_document(stack, order, "refund:91031", total=amount)
    assert credit["doctype"] == "CREDIT" and str(credit["to_document_id"]) == sale["id"]
    [returned] = operations(stack, order["id"], "refund:91031")
    [sold] = operations(stack, order["id"])
    assert returned["type"] == "ReturnClient"
    assert returned["storno"]["FiskBonUUID"] == sold["fisk_bon_uuid"]
