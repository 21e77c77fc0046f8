"""Webhook sources: one module each, pure functions over raw bytes and headers.

A source module exposes `NAME`, `verify(body, headers, secrets, now)`,
`identify(body, headers) -> Identity | None`, `parse(body, headers) -> Parsed` and
`detect_ping(body, headers)`. `verify` runs on the raw bytes before any parsing and
raises `InvalidSignature`; `identify` reads only what the receiver records a delivery
by (DESIGN, step 5: the worker parses the rest), or None for a source whose deliveries
are parsed in full on arrival; it and `parse` raise `MalformedBody` (not JSON) or
`InvalidPayload` (JSON that is not a valid order, a header missing). `detect_ping`
recognises an unsigned set-up ping, which is answered 200 without verification and never
recorded as an event (WooCommerce only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any, Protocol

from worker.domain.events import EventKind, Order, Payment, Refund


@dataclass(frozen=True)
class Parsed:
    """What a source made of one delivery.

    `kind` is None for a topic we record but do not act on. `order_id` may be
    left out when `order` is given. A refund event sets `refund`; an order
    event sets `order`; a payment-details event sets `payment` (and `order_id`).
    """

    dedupe_key: str  #: the source's id for the event, the same on every re-delivery
    topic: str
    kind: EventKind | None
    order: Order | None = None
    occurred_at: datetime | None = None
    order_id: str | None = None
    refund: Refund | None = None
    payment: Payment | None = None
    ping: bool = False  #: a set-up ping (WooCommerce): answered 200, never recorded or queued


@dataclass(frozen=True)
class Identity:
    """What the receiver reads of a delivery before it records it: the ids it is deduplicated
    by, whether it is of a topic we act on, and the body as read (for its masking)."""

    dedupe_key: str  #: as `Parsed.dedupe_key`
    topic: str
    acted_on: bool  #: False: a topic recorded as ignored, never queued
    document: dict[str, Any]  #: the body, read (`jsonbody.load_object`)
    occurred_at: datetime | None = None


class Source(Protocol):
    NAME: str

    def verify(
        self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime
    ) -> None: ...

    def identify(self, body: bytes, headers: Mapping[str, str]) -> Identity | None: ...

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed: ...

    def detect_ping(self, body: bytes, headers: Mapping[str, str]) -> Parsed | None:
        """An unsigned set-up ping to answer 200 before verification, or None (most sources)."""
        ...


def get_source(name: str) -> Source | None:
    """The source module for a URL's `{source}` segment, or None if there is none."""
    from handlers.sources import shopify, standard, stripe, woocommerce

    modules: dict[str, ModuleType] = {
        module.NAME: module for module in (shopify, woocommerce, stripe, standard)
    }
    module = modules.get(name)
    return module
