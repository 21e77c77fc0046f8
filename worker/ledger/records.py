"""The ledger's plain records: what it hands back of an event, an order and a job step, and the
helpers that build them from what Redis holds.

A step that is `done` is never run again; a failed one stays until an operator acts. Each
attempt's outcome is kept (the last `HISTORY_KEEP`) so on-call can see how a step got here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from redis.commands.core import AsyncScript
from redis.typing import EncodableT, FieldT

from worker.domain.events import (
    Delivery,
    Order,
    OrderEvent,
    Payment,
    ReceivedDelivery,
    Refund,
    UnreadableDelivery,
)
from worker.errors import Permanent
from worker.ledger.keys import ATTEMPTS
from worker.providers.base import DocumentRef

JobFailure = Literal["failed", "retrying", "needs_attention"]
HISTORY_KEEP = 50  #: attempts remembered per step

RecordOutcome = Literal["new", "duplicate", "unqueued"]
#: what a delivery is recorded as: an event to act on, or kept aside
RecordedState = Literal["received", "unreadable", "ignored"]
Stored = TypeVar("Stored", bound=BaseModel)


def now_text() -> str:
    return f"{time.time():.6f}"


@dataclass(frozen=True)
class JobRecord:
    """What the ledger knows of one step."""

    key: str
    state: str
    attempts: int
    doctype: str | None = None
    docnum: str | None = None
    doc_url: str | None = None
    emailed: bool = False
    last_error: str | None = None
    doc_id: str | None = None
    #: when an attempt's outcome first became unknown (lost answer, worker died mid-call)
    unknown_since: float | None = None
    unknown_count: int = 0  #: how many attempts ended that way
    card_type: str | None = None  #: a charge step's card type ("VISA")
    first_started_at: float | None = None  #: when the step's first attempt began (unix s)

    def document(self) -> DocumentRef | None:
        """The provider's document this step made, if it made one."""
        if not self.doctype or not self.docnum:
            return None
        return DocumentRef(
            doctype=self.doctype,
            docnum=self.docnum,
            doc_id=self.doc_id or None,
            doc_url=self.doc_url or None,
            emailed=self.emailed,
            card_type=self.card_type or None,
        )


def document_fields(document: DocumentRef, *, settled: bool) -> dict[FieldT, EncodableT]:
    """A step's document as the job hash keeps it; `settled` (the step is done) adds how it
    ended: its card type and whether it was emailed."""
    fields: dict[FieldT, EncodableT] = {
        "doctype": document.doctype,
        "docnum": document.docnum,
        "doc_id": document.doc_id or "",
        "doc_url": document.doc_url or "",
    }
    if settled:
        fields |= {
            "card_type": document.card_type or "",
            "emailed": "1" if document.emailed else "0",
        }
    return fields


def remember_attempt(pipe: Any, key: str, now: str, state: str, **details: object) -> None:
    """Queue, on `pipe`, one attempt's outcome onto the step's capped history."""
    entry = json.dumps({"at": float(now), "state": state} | details)
    pipe.rpush(ATTEMPTS.format(key), entry)
    pipe.ltrim(ATTEMPTS.format(key), -HISTORY_KEEP, -1)


def job_record(key: str, raw: dict[str, str]) -> JobRecord:
    """A JobRecord from the job hash's fields."""
    return JobRecord(
        key=key,
        state=raw.get("state", "unknown"),
        attempts=int(raw.get("attempts", 0)),
        doctype=raw.get("doctype"),
        docnum=raw.get("docnum"),
        doc_url=raw.get("doc_url"),
        doc_id=raw.get("doc_id"),
        card_type=raw.get("card_type"),
        emailed=raw.get("emailed") == "1",
        last_error=raw.get("last_error"),
        unknown_since=float(raw["unknown_since"]) if raw.get("unknown_since") else None,
        unknown_count=int(raw.get("unknown_count", 0)),
        first_started_at=float(raw["first_started_at"]) if raw.get("first_started_at") else None,
    )


class StoredInvalid(Permanent):
    """A record in the ledger that this version's models refuse: written before they were
    tightened (an amount now out of bounds, a currency not in ISO 4217). Retrying cannot
    make it readable, so the job fails with `stored_<what>_invalid`. The message names the
    first failing field (`field`) and never its value."""

    def __init__(self, what: str, of: str, error: ValidationError) -> None:
        first = error.errors(include_url=False, include_input=False, include_context=False)[0]
        self.field = ".".join(map(str, first["loc"])) or "(the whole record)"
        super().__init__(
            f"the stored {what}{of} is not readable by this version: {self.field}: {first['msg']}",
            reason=f"stored_{what}_invalid",
        )


def read_stored(model: type[Stored], raw: str | bytes, what: str, of: str = "") -> Stored:
    """A stored record read back; StoredInvalid if it no longer validates (not chained to
    pydantic's error, which carries the value)."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise StoredInvalid(what, of, exc) from None


@dataclass(frozen=True)
class WorkItem:
    """An event as a worker finds it: its payload, its state, whether its tenant is paused."""

    event: OrderEvent | None
    state: str | None
    paused: bool
    #: the payload is there but this version refuses it (`event` is then None)
    unreadable: StoredInvalid | None = None
    #: a delivery recorded as it came, still to be read (`event` is then None): the event's
    #: id, tenant, source, delivery id, body and headers, as `handlers.deliveries.reparse`
    #: reads them
    received: dict[str, str] | None = None


@dataclass(frozen=True)
class OrderState:
    """All the ledger knows of an order: newest snapshot, refunds seen, steps started, and
    how it was paid when an event told that apart from the order (`payment`)."""

    snapshot: Order | None
    refunds: dict[str, Refund]
    steps: dict[str, JobRecord]
    payment: Payment | None = None


@dataclass(frozen=True)
class QueueHandoff:
    """What a queue's own Lua runs with in the ledger's script once an event is recorded
    (`Ledger.record`): `script` is `Ledger.queue_script` of it. On the Redis broker,
    Dramatiq's dispatch script with the keys and arguments `RedisBroker.enqueue` gives it
    (`worker.runtime.broker`)."""

    script: AsyncScript
    keys: list[str]
    args: list[str | int | bytes]


def event_fields(item: Delivery, now: str) -> tuple[RecordedState, dict[str, str]]:
    """The state a delivery is recorded in, and the event hash's fields."""
    fields: dict[str, str] = {
        "id": item.event_id,
        "tenant": item.tenant,
        "source": item.source,
        "topic": item.topic,
        "delivery_id": item.delivery_id,
        "received_at": now,
        "updated_at": now,
        "failures": "0",
    }
    if isinstance(item, ReceivedDelivery):  # read by the worker that takes it
        return "received", fields | {"body": item.body, "headers": json.dumps(item.headers)}
    if isinstance(item, UnreadableDelivery):
        raw = json.dumps({"body": item.body, "headers": item.headers})
        return "unreadable", fields | {"last_error": item.reason, "raw": raw}
    if not isinstance(item, OrderEvent):
        return "ignored", fields
    return "received", fields | read_fields(item)


def flat_fields(fields: dict[str, str]) -> list[str]:
    """A hash's fields as HSET (and the ledger's scripts) take them: field, value, ..."""
    return [part for pair in fields.items() for part in pair]


def read_fields(item: OrderEvent) -> dict[str, str]:
    """The event hash's fields of what an event reads as: its kind, order and payload."""
    # without payments the payload is as before payments existed (neither the event's nor
    # the order's is written), so workers of the previous release still read it during a
    # rolling upgrade; one with a payment waits for upgraded workers
    unset: dict[str, Any] = {"payment": True} if item.payment is None else {}
    if item.order is not None and item.order.payment is None:
        unset["order"] = {"payment"}
    return {
        "kind": item.kind.value,
        "order_id": item.order_id,
        "order_number": item.order.number if item.order else "",
        "payload": item.model_dump_json(exclude=unset or None),
    }
