"""`make demo`: real receiver, real workers, a private Redis and the iCount sandbox, with
sample Shopify orders flowing through; ends with a table of the documents issued."""

from __future__ import annotations

import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from invoicebridge import samples
from invoicebridge.stack import LocalStack, StackOptions
from worker.domain.idempotency import sanity_string
from worker.planner import SALE_STEPS

console = Console(width=130)

#: what each sample order goes through, by its position in the list posted
SCENARIOS = {0: "delivered 3 times", 1: "1st call timed out after iCount made it"}


def _post_samples(stack: LocalStack, orders: list[dict[str, Any]]) -> None:
    repeated, slow = orders[0], orders[1]
    # The sandbox commits the second order's first document, then never answers in time.
    stack.set_faults(
        {"path": "doc/create", "match": slow["name"], "plan": ["timeout-after-commit"], "hang_s": 4}
    )
    for order in orders:
        status, body = stack.post_order(order)
        console.print(f"  POST order {order['name']:>6} -> {status} {body['status']}")
    for attempt in range(2, 4):
        status, body = stack.post_order(repeated)
        console.print(
            f"  POST order {repeated['name']:>6} -> {status} {body['status']}"
            f"  (re-delivery {attempt} of 3)"
        )


def _table(stack: LocalStack, orders: list[dict[str, Any]]) -> tuple[Table, bool]:
    documents = stack.sandbox("documents")
    emails = stack.sandbox("emails")
    table = Table(title="Shopify orders → iCount documents")
    columns = (
        "order",
        "customer",
        "shop total",
        "document",
        "doc total",
        "emailed",
        "attempts",
        "what happened",
        "ok",
    )
    for column in columns:
        table.add_column(column)
    all_ok = True
    for position, order in enumerate(orders):
        guards = {sanity_string(stack.tenant, str(order["id"]), kind) for kind in SALE_STEPS}
        docs = [d for d in documents if d.get("sanity_string") in guards]
        sent = [e for e in emails for d in docs if e["docnum"] == d["docnum"]]
        doc_total = docs[0]["totalwithvat"] if docs else "-"
        ok = len(docs) == 1 and Decimal(doc_total) == Decimal(order["total_price"])
        expect_email = bool(order.get("email"))
        ok = ok and len(sent) == (1 if expect_email else 0)
        all_ok &= ok
        name = order.get("billing_address", {}).get("name", "")
        label = ", ".join(f"{d['doctype']} {d['docnum']}" for d in docs) or "none"
        attempts = [
            stack.job(f"{stack.tenant}:{order['id']}:{d['doctype']}").get("attempts", "?")
            for d in docs
        ]
        scenario = SCENARIOS.get(
            position, "paid" if order["financial_status"] == "paid" else "unpaid: invoice"
        )
        table.add_row(
            order["name"],
            name,
            f"{order['total_price']} {order['currency']}",
            label,
            str(doc_total),
            str(len(sent)),
            ",".join(attempts) or "-",
            scenario,
            "✓" if ok else "✗",
        )
    return table, all_ok


def run_demo(*, keep_running: bool = False) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="invoicebridge-demo-"))
    stack = LocalStack(workdir, StackOptions(icount_timeout_s=2.0))
    console.print(f"[bold]invoicebridge demo[/] (logs in {workdir})")
    try:
        stack.up()
        console.print(
            f"  redis {stack.redis_url}  sandbox {stack.sandbox_url}  "
            f"receiver {stack.receiver_url}  workers 2"
        )
        orders = [o for o in samples.demo_orders() if o.get("financial_status") == "paid"]
        orders += [o for o in samples.demo_orders() if o.get("financial_status") != "paid"]
        started = time.monotonic()
        _post_samples(stack, orders)
        states = stack.wait_quiet(timeout=90)
        console.print(f"  ledger quiet after {time.monotonic() - started:.1f}s: {states}")
        table, ok = _table(stack, orders)
        console.print(table)
        console.print(
            "[green]every order has exactly one document, emailed once[/]"
            if ok
            else "[red]some orders do not match; see the table and the logs[/]"
        )
        if keep_running:
            console.print(
                f"running; post to {stack.receiver_url}/webhooks/shopify/acme "
                f"(secret in {stack.config}); Ctrl-C to stop"
            )
            while True:
                time.sleep(3600)
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            console.print(f"logs kept in {workdir}")
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.down()
