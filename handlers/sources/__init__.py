"""Webhook sources: one module each, pure functions over raw bytes and headers.

A source module exposes `NAME`, `verify(body, headers, secrets, now)` and
`parse(body, headers) -> Parsed`. `verify` runs on the raw bytes before any
parsing and raises `InvalidSignature`; `parse` raises `MalformedBody` (not
JSON) or `InvalidPayload` (JSON that is not a valid order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Protocol

from worker.domain.events import EventKind, Order


@dataclass(frozen=True)
class Parsed:
    """What a source made of one delivery.

    `kind` and `order` are None for a topic we record but do not act on.
    """

    dedupe_key: str  #: the source's id for the event, the same on every re-delivery
    topic: str
    kind: EventKind | None
    order: Order | None
    occurred_at: datetime | None = None


class Source(Protocol):
    NAME: str

    def verify(
        self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str], now: datetime
    ) -> None: ...

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Parsed: ...


def get_source(name: str) -> Source | None:
    """The source module for a URL's `{source}` segment, or None if there is none."""
    from handlers.sources import shopify

    modules: dict[str, ModuleType] = {shopify.NAME: shopify}
    module = modules.get(name)
    return module
