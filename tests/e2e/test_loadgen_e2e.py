"""`invoicebridge loadgen` against the whole stack as processes: redis-server, the sandboxes,
`serve` and `worker`. A clean run reconciles; a doubled document and an order that never
arrived are caught (the reconciliation must fail when something is wrong)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from decimal import Decimal

import aiohttp
import pytest

from handlers.deliveries import to_item
from handlers.sources import get_source
from invoicebridge.loadgen import LoadPlan, build_deliveries, reconcile, run_load, wait_quiet
from invoicebridge.loadgen.payloads import Delivery
from invoicebridge.loadgen.report import DeliveryResult, Expected
from invoicebridge.stack.local import LocalStack
from tests.e2e.stacks import module_stack
from worker.domain.events import OrderEvent
from worker.domain.idempotency import event_id, sanity_string
from worker.providers.icount.client import ICountClient
from worker.providers.icount.wire import build_document_request
from worker.settings import DocumentSettings, load_settings

pytestmark = pytest.mark.e2e


stack = module_stack("loadgen", threads=8)


def loadgen(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        "-m",
        "invoicebridge.cli",
        "loadgen",
        "--url",
        stack.receiver_url,
        "--config",
        str(stack.config),
        "--tenant",
        stack.tenant,
        *args,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=150, check=False)


def test_two_hundred_orders_with_repeats_each_make_one_document(stack: LocalStack) -> None:
    """200 Shopify orders, 30% re-delivered, flat out: exit 0, every order acknowledged, each
    with exactly one document for its total, emailed once."""
    done = loadgen(
        stack,
        "--count",
        "200",
        "--duplicates",
        "0.3",
        "--first-order",
        "700000",
        "--reconcile",
        "--wait",
        "60",
        "--json",
    )
    assert done.returncode == 0, done.stderr + done.stdout
    out = json.loads(done.stdout)
    report, checked = out["report"], out["reconciliation"]
    assert report["acknowledged"] == 200 and report["duplicates_sent"] == 60
    assert report["answers"] == {"accepted": 200, "duplicate": 60}
    assert out["ledger"]["quiet"]
    assert checked["ok"] and checked["provider"] == "icount"
    assert checked["with_one_document"] == 200
    assert (checked["missing"], checked["doubled"], checked["wrong_total"]) == ([], [], {})
    assert (checked["emails_missing"], checked["emails_doubled"]) == ([], [])
    assert stack.secret not in done.stdout + done.stderr


def order_of(delivery: Delivery, tenant: str) -> OrderEvent:
    source = get_source("shopify")
    assert source is not None
    item = to_item(source.parse(delivery.body, delivery.headers), tenant, "shopify")
    assert isinstance(item, OrderEvent)
    return item


async def issue_second_document(stack: LocalStack, delivery: Delivery) -> None:
    """An extra sale document for an order, made through iCount's API as a buggy worker
    would (its own sanity string, so the sandbox's duplicate guard does not stop it)."""
    event = order_of(delivery, stack.tenant)
    assert event.order is not None
    icount = load_settings(stack.config).tenants[stack.tenant].icount
    assert icount is not None
    body = build_document_request(
        event.order,
        doctype="invoice",
        documents=DocumentSettings(),
        issue_date=date.today(),
        sanity=sanity_string(stack.tenant, event.order_id, "invoice"),
    )
    async with aiohttp.ClientSession() as http:
        await ICountClient(http, icount).create_document(body)


async def test_reconcile_catches_a_doubled_document_and_a_lost_order(stack: LocalStack) -> None:
    plan = LoadPlan(
        **stack.shopify_target(),
        count=5,
        first_order=800_000,
    )
    report = await run_load(plan)
    assert report.acknowledged == {str(n) for n in range(800_000, 800_005)}
    quiet, _ = await wait_quiet(stack.redis_url, 60)
    assert quiet
    where = {"sandbox_url": stack.urls["icount"], "redis_url": stack.redis_url}
    assert (await reconcile(report, **where)).ok
    await issue_second_document(stack, build_deliveries(plan)[2])
    lost = event_id(stack.tenant, "shopify", "acknowledged-but-never-recorded")
    report.expected["800999"] = Expected(lost, Decimal("10.00"), "ILS")
    report.results.append(DeliveryResult("800999", False, "200", "accepted", 1, 0.01, 0.01))
    checked = await reconcile(report, **where)
    assert checked.doubled == ["800002"] and checked.missing == ["800999"]
    assert len(checked.with_one_document) == 4 and not checked.ok
    assert checked.emails_doubled == []


def test_the_cli_exits_1_when_reconciliation_finds_a_problem(stack: LocalStack) -> None:
    """The same five orders again (re-deliveries now): the doubled one fails the run."""
    done = loadgen(stack, "--count", "5", "--first-order", "800000", "--reconcile", "--wait", "30")
    assert done.returncode == 1, done.stderr + done.stdout
    assert "doubled" in done.stdout and "800002" in done.stdout
