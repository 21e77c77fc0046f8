"""`make demo`: a private Redis, the three provider sandboxes and a mail catcher, the real
receiver and two real workers; Shopify, WooCommerce and Stripe webhooks flow through, and
a table shows what each order became, checked against the ledger and the sandboxes."""

from __future__ import annotations

import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import redis
from rich.console import Console
from rich.table import Table

from invoicebridge.demo.scenes import (
    Scene,
    provider_scenes,
    shopify_scenes,
    stripe_scene,
    woocommerce_scene,
)
from invoicebridge.stack.local import LocalStack, StackOptions
from worker.ledger.keys import JOB

console = Console(width=140)
PROVIDER_OF = {
    "acme": "icount",
    "woo": "icount",
    "pay": "icount",
    "dok": "idoklad",
    "cash": "icash",
}


def _total(doc: dict[str, Any]) -> Decimal:
    return Decimal(str(doc.get("totalwithvat", doc.get("total"))))


def _emails(stack: LocalStack, provider: str, docnum: str) -> int:
    if provider == "icash":
        return sum(docnum in (m["subject"] or "") for m in stack.sandbox("emails", "smtp"))
    return sum(str(e["docnum"]) == docnum for e in stack.sandbox("emails", provider))


def _check(stack: LocalStack, scene: Scene, client: redis.Redis) -> tuple[list[str], bool]:
    """What the ledger says each expected step made, and whether the sandbox agrees."""
    provider = PROVIDER_OF[scene.tenant]
    documents = stack.sandbox("documents", provider)
    cells, ok = [], True
    for step, total in scene.expected:
        job = cast(
            dict[str, str], client.hgetall(JOB.format(f"{scene.tenant}:{scene.order_id}:{step}"))
        )
        docnum = str(job.get("docnum", ""))
        found = [d for d in documents if str(d["docnum"]) == docnum]
        good = job.get("state") == "done" and len(found) == 1 and _total(found[0]) == total
        emails = _emails(stack, provider, docnum) if docnum else 0
        ok &= good and emails == 1
        cells.append(
            f"{job.get('doctype', step)} {docnum or '-'}  {total}  "
            f"✉ {emails}  tries {job.get('attempts', '-')}  {'✓' if good else '✗'}"
        )
    return cells, ok


def _table(stack: LocalStack, scenes: list[Scene]) -> tuple[Table, bool]:
    table = Table(title="webhooks → documents (checked against the ledger and the sandboxes)")
    for column in ("tenant", "provider", "order", "what happened", "documents"):
        table.add_column(column)
    client = stack.redis_client()
    all_ok = True
    for scene in scenes:
        cells, ok = _check(stack, scene, client)
        all_ok &= ok
        table.add_row(
            scene.tenant, PROVIDER_OF[scene.tenant], scene.label, scene.story, "\n".join(cells)
        )
    expected = {p: 0 for p in ("icount", "idoklad", "icash")}
    for scene in scenes:
        expected[PROVIDER_OF[scene.tenant]] += len(scene.expected)
    for provider, count in expected.items():
        made = len(stack.sandbox("documents", provider))
        all_ok &= made == count
        console.print(f"  {provider}: {made} documents in the sandbox, {count} expected")
    client.close()
    return table, all_ok


def run_demo(*, keep_running: bool = False) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="invoicebridge-demo-"))
    stack = LocalStack(workdir, StackOptions(icount_timeout_s=2.0))
    console.print(f"[bold]invoicebridge demo[/] (logs in {workdir})")
    try:
        stack.up()
        console.print(
            f"  redis {stack.redis_url}  receiver {stack.receiver_url}  2 workers; "
            f"sandboxes {', '.join(f'{k} {v}' for k, v in stack.urls.items())}"
        )
        started = time.monotonic()
        scenes = shopify_scenes(stack)
        scenes += [woocommerce_scene(stack), stripe_scene(stack), *provider_scenes(stack)]
        states = stack.wait_quiet(timeout=120)
        console.print(f"  ledger quiet after {time.monotonic() - started:.1f}s: {states}")
        table, ok = _table(stack, scenes)
        console.print(table)
        console.print(
            "[green]every order has exactly its documents, each emailed once[/]"
            if ok
            else "[red]some orders do not match; see the table and the logs[/]"
        )
        if keep_running:
            console.print(f"running; config in {stack.config}; Ctrl-C to stop")
            console.print(f"  dashboard {stack.receiver_url}/admin/  token {stack.admin_token}")
            console.print(f"  metrics   {stack.receiver_url}/metrics  {stack.worker_metrics_url}")
            while True:
                time.sleep(3600)
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.down()
