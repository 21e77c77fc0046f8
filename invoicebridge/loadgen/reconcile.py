"""After a run: did every acknowledged order become exactly one document, for its total?

The sandboxes list what they issued (`GET /_sandbox/documents`, `GET /_sandbox/emails`), each
document carrying the reference the worker gave it, derived from `sanity_string(tenant,
order, step)` for the sale steps (`invrec`, `invoice`): iCount keeps it as `sanity_string`,
iDoklad as `OrderNumber`, iCash as `ImportRefID`. An acknowledged order with no document is
*missing*, unless the ledger shows its event `failed` or `needs_attention`: then it is
*failed (visible)*, an outcome on-call can see and act on, not a lost order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, cast

import aiohttp

from invoicebridge.loadgen.ledger import ledger_states
from invoicebridge.loadgen.plan import loopback_url
from invoicebridge.loadgen.report import LoadReport
from worker.domain.idempotency import sanity_string
from worker.providers.icash.wire import IMPORT_SOURCE, import_ref_id
from worker.providers.idoklad.wire import order_number

#: the steps whose document is "the order's document" (a receipt only follows an invoice)
SALE_STEPS = ("invrec", "invoice")
#: ledger states that mean "it failed where on-call sees it"
VISIBLE_FAILURES = frozenset({"failed", "needs_attention"})


@dataclass(frozen=True)
class SandboxView:
    """How one provider's sandbox shows its documents and our reference on them."""

    key_field: str  #: the document field holding our reference
    total_field: str
    reference: Callable[[str], str]  #: sanity string -> the value of `key_field`
    emails: bool  #: the sandbox's /_sandbox/emails lists the documents it emailed
    source_field: str | None = None  #: iCash: also `import_source` must be ours


VIEWS: dict[str, SandboxView] = {
    "icount": SandboxView("sanity_string", "totalwithvat", lambda ref: ref, emails=True),
    "idoklad": SandboxView("order_number", "total", order_number, emails=True),
    "icash": SandboxView(
        "import_ref_id",
        "total",
        lambda ref: str(import_ref_id(ref)),
        emails=False,
        source_field="import_source",
    ),
}


@dataclass
class Reconciliation:
    """Acknowledged orders against the documents issued and the ledger.

    `wrong_total` and `failed_visible` map order id -> what was wrong; the email lists are
    None when the sandbox cannot tell (iCash emails through SMTP, not the sandbox).
    """

    provider: str
    acknowledged: int = 0
    with_one_document: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    wrong_total: dict[str, str] = field(default_factory=dict)
    failed_visible: dict[str, str] = field(default_factory=dict)
    #: orders the sender never saw acknowledged that got a document anyway (not an error:
    #: the receiver recorded them and the answer was lost)
    unacknowledged_with_document: list[str] = field(default_factory=list)
    emails_missing: list[str] | None = None
    emails_doubled: list[str] | None = None
    ledger_states: Counter[str] = field(default_factory=Counter)  #: of acknowledged orders

    @property
    def ok(self) -> bool:
        """Nothing missing, nothing doubled, every total right."""
        return not (self.missing or self.doubled or self.wrong_total)

    def table(self) -> list[tuple[str, str]]:
        """(label, value) rows for printing, the problems named (first ten ids)."""
        rows = [
            ("acknowledged orders", str(self.acknowledged)),
            ("with one document", str(len(self.with_one_document))),
            ("missing", _ids(self.missing)),
            ("doubled", _ids(self.doubled)),
            ("wrong total", _ids(self.wrong_total)),
            ("failed (visible)", _ids(self.failed_visible)),
            ("documents though not acknowledged", _ids(self.unacknowledged_with_document)),
        ]
        if self.emails_missing is not None and self.emails_doubled is not None:
            rows.append(("emails missing", _ids(self.emails_missing)))
            rows.append(("emails doubled", _ids(self.emails_doubled)))
        states = ", ".join(f"{state} {n}" for state, n in sorted(self.ledger_states.items()))
        return [*rows, ("ledger states", states or "-")]

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "ok": self.ok,
            "acknowledged": self.acknowledged,
            "with_one_document": len(self.with_one_document),
            "missing": self.missing,
            "doubled": self.doubled,
            "wrong_total": self.wrong_total,
            "failed_visible": self.failed_visible,
            "unacknowledged_with_document": self.unacknowledged_with_document,
            "emails_missing": self.emails_missing,
            "emails_doubled": self.emails_doubled,
            "ledger_states": dict(self.ledger_states),
        }


def _ids(ids: Iterable[str]) -> str:
    listed = list(ids)
    if not listed:
        return "0"
    more = f" … (+{len(listed) - 10})" if len(listed) > 10 else ""
    return f"{len(listed)}: {', '.join(listed[:10])}{more}"


async def _get_json(session: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    async with session.get(url) as response:
        response.raise_for_status()
        return cast(list[dict[str, Any]], await response.json())


async def sandbox_documents(
    sandbox_url: str, view: SandboxView
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """Every document the sandbox issued, and every email it sent (None if it cannot say)."""
    base = loopback_url(sandbox_url, "sandbox_url")
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        documents = await _get_json(session, f"{base}/_sandbox/documents")
        emails = await _get_json(session, f"{base}/_sandbox/emails") if view.emails else None
    if view.source_field is not None:
        documents = [d for d in documents if d.get(view.source_field) == IMPORT_SOURCE]
    return documents, emails


def _amount(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _judge_documents(
    result: Reconciliation, report: LoadReport, view: SandboxView, documents: list[dict[str, Any]]
) -> list[str]:
    """Fill in doubled / wrong total / one document; return the acked orders with none."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for document in documents:
        by_key.setdefault(str(document.get(view.key_field)), []).append(document)
    tenant, acked, without = report.plan.tenant, report.acknowledged, []
    for order_id, expected in report.expected.items():
        keys = {view.reference(sanity_string(tenant, order_id, step)) for step in SALE_STEPS}
        found = [doc for key in keys for doc in by_key.get(key, [])]
        if order_id not in acked:
            if found:
                result.unacknowledged_with_document.append(order_id)
            continue
        if not found:
            without.append(order_id)
            continue
        if len(found) > 1:
            result.doubled.append(order_id)
        else:
            result.with_one_document.append(order_id)
        totals = [_amount(doc.get(view.total_field)) for doc in found]
        if any(total != expected.total for total in totals):
            shown = ", ".join(str(total) for total in totals)
            result.wrong_total[order_id] = f"expected {expected.total}, documents say {shown}"
    return without


def _judge_emails(
    result: Reconciliation,
    report: LoadReport,
    view: SandboxView,
    documents: list[dict[str, Any]],
    emails: list[dict[str, Any]],
) -> None:
    """One email per document of an acknowledged order."""
    sent = Counter((str(e.get("doctype")), str(e.get("docnum"))) for e in emails)
    refs = {
        view.reference(sanity_string(report.plan.tenant, order_id, step)): order_id
        for order_id in report.acknowledged
        for step in SALE_STEPS
    }
    missing, doubled = set(), set()
    for document in documents:
        order_id = refs.get(str(document.get(view.key_field)))
        if order_id is None:
            continue
        count = sent[(str(document.get("doctype")), str(document.get("docnum")))]
        if count == 0:
            missing.add(order_id)
        elif count > 1:
            doubled.add(order_id)
    result.emails_missing, result.emails_doubled = sorted(missing), sorted(doubled)


async def reconcile(
    report: LoadReport, *, sandbox_url: str, redis_url: str, provider: str = "icount"
) -> Reconciliation:
    """Judge every acknowledged order of `report` by the sandbox's documents and the ledger.

    Raises:
        ValueError: an unknown provider or a sandbox URL that is not loopback.
        aiohttp.ClientError, redis.RedisError: the sandbox or the ledger cannot be read.
    """
    view = VIEWS.get(provider)
    if view is None:
        raise ValueError(f"provider: expected one of {', '.join(VIEWS)}, got {provider!r}")
    documents, emails = await sandbox_documents(sandbox_url, view)
    result = Reconciliation(provider, acknowledged=len(report.acknowledged))
    without = _judge_documents(result, report, view, documents)
    if emails is not None:
        _judge_emails(result, report, view, documents, emails)
    acked = sorted(report.acknowledged, key=_order_key)
    states = await ledger_states(redis_url, [report.expected[o].event_id for o in acked])
    by_order = dict(zip(acked, states, strict=True))
    result.ledger_states = Counter(state or "absent" for state, _ in states)
    for order_id in sorted(without, key=_order_key):
        state, error = by_order[order_id]
        if state in VISIBLE_FAILURES:
            result.failed_visible[order_id] = f"{state}: {error}" if error else state
        else:
            result.missing.append(order_id)
    for ids in (result.with_one_document, result.doubled, result.unacknowledged_with_document):
        ids.sort(key=_order_key)
    return result


def _order_key(order_id: str) -> tuple[int, str]:
    """Numeric ids in numeric order, anything else after them."""
    return (int(order_id), "") if order_id.isdigit() else (2**63, order_id)
