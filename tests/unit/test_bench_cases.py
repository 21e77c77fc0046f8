"""The inputs `make bench` measures still do what the product does: every source's delivery
verifies and parses into an event, and every provider maps the paid order (a case that stops
as needs_attention would measure an error path, as once happened unnoticed)."""

from __future__ import annotations

import pytest

from benchmarks import micro_cases as cases
from worker.domain.events import OrderEvent


@pytest.mark.parametrize("source", cases.SOURCES)
def test_each_source_delivery_is_received(source: str) -> None:
    event = cases.receive(cases.delivery(source, lines=3))
    assert isinstance(event, OrderEvent) and event.order is not None
    assert len(event.order.lines) >= 3


@pytest.mark.parametrize("provider", list(cases.PROVIDERS))
def test_each_provider_maps_and_encodes_the_paid_order(provider: str) -> None:
    event = cases.canonical_event(lines=3)
    build, encode = cases.PROVIDERS[provider]
    body = build(cases.document_request(event))
    assert body and encode(body)
