"""Micro benchmarks (pytest-benchmark) of the pure steps every webhook and job goes through.

Not collected by `make test` (pytest's testpaths is tests/): `benchmarks.micro.run` runs this
file with `--benchmark-json` for BENCHMARKS.md, or run it by hand:

    .venv/bin/pytest benchmarks/test_micro.py -p no:cacheprovider

Each benchmark records a human label in `extra_info["label"]`; the table is rendered from it.
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks import micro_cases as cases
from worker.domain.events import OrderEvent
from worker.jobs.planner import plan


@pytest.fixture(scope="module")
def deliveries() -> dict[str, cases.Delivery]:
    return {source: cases.delivery(source) for source in cases.SOURCES}


@pytest.fixture(scope="module")
def event() -> OrderEvent:
    return cases.canonical_event()


def _label(benchmark: BenchmarkFixture, text: str) -> None:
    benchmark.extra_info["label"] = text


@pytest.mark.benchmark(group="verify")
@pytest.mark.parametrize("source", cases.SOURCES)
def test_verify(
    benchmark: BenchmarkFixture, deliveries: dict[str, cases.Delivery], source: str
) -> None:
    item = deliveries[source]
    _label(benchmark, f"verify signature: {source} ({len(item.body) / 1000:.0f} kB body)")
    verify = item.module.verify
    benchmark(verify, item.body, item.headers, item.secrets, cases.NOW)


@pytest.mark.benchmark(group="parse")
@pytest.mark.parametrize("source", cases.SOURCES)
def test_parse(
    benchmark: BenchmarkFixture, deliveries: dict[str, cases.Delivery], source: str
) -> None:
    item = deliveries[source]
    _label(benchmark, f"parse + validate to OrderEvent: {source} ({cases.LINES} lines)")
    result = benchmark(cases.parse, item)
    assert result.order is not None and len(result.order.lines) >= cases.LINES


@pytest.mark.benchmark(group="parse")
def test_receive_pure_path(
    benchmark: BenchmarkFixture, deliveries: dict[str, cases.Delivery]
) -> None:
    """Everything the receiver does to a delivery but Redis: verify, read the ids, mask the
    body, the ledger's fields (before: verify, parse in full, the event's JSON)."""
    item = deliveries["shopify"]
    _label(benchmark, "receiver pure path: shopify verify + ids + masked body + ledger fields")
    benchmark(cases.record, item)


@pytest.mark.benchmark(group="parse")
def test_worker_read(benchmark: BenchmarkFixture, deliveries: dict[str, cases.Delivery]) -> None:
    """The worker's first step on that delivery: read it in full from the ledger's fields."""
    fields = cases.record(deliveries["shopify"])
    _label(benchmark, "worker read: shopify ledger fields → OrderEvent")
    event = benchmark(cases.read, fields)
    assert event.order is not None and len(event.order.lines) >= cases.LINES


_BODIES = {"iCount": "doc/create", "iDoklad": "IssuedInvoices", "iCash": "document-create"}


@pytest.mark.benchmark(group="map")
@pytest.mark.parametrize("provider", list(cases.PROVIDERS))
def test_map(benchmark: BenchmarkFixture, event: OrderEvent, provider: str) -> None:
    """The canonical order as the provider's request body (the pure mapping, no I/O)."""
    request, (build, _) = cases.document_request(event), cases.PROVIDERS[provider]
    _label(benchmark, f"map to {provider} {_BODIES[provider]} body ({cases.LINES} lines)")
    assert benchmark(build, request)


@pytest.mark.benchmark(group="encode")
@pytest.mark.parametrize("provider", list(cases.PROVIDERS))
def test_encode(benchmark: BenchmarkFixture, event: OrderEvent, provider: str) -> None:
    """That body encoded as the provider's client puts it on the wire."""
    build, encode = cases.PROVIDERS[provider]
    body = build(cases.document_request(event))
    _label(benchmark, f"encode {provider} body ({'form' if provider == 'iCash' else 'JSON'})")
    assert benchmark(encode, body)


@pytest.mark.benchmark(group="job")
def test_plan_paid_order(benchmark: BenchmarkFixture, event: OrderEvent) -> None:
    assert event.order is not None and event.order.paid
    order = event.order
    _label(benchmark, "planner.plan: paid order, nothing done yet")
    steps = benchmark(plan, order, {}, {}, cases.DOCUMENTS)
    assert [step.name for step in steps] == ["invrec"]


@pytest.mark.benchmark(group="json")
def test_event_encode(benchmark: BenchmarkFixture, event: OrderEvent) -> None:
    _label(benchmark, f"OrderEvent.model_dump_json ({cases.LINES} lines)")
    benchmark(event.model_dump_json)


@pytest.mark.benchmark(group="json")
def test_event_decode(benchmark: BenchmarkFixture, event: OrderEvent) -> None:
    payload = event.model_dump_json()
    _label(benchmark, f"OrderEvent.model_validate_json ({len(payload) / 1000:.0f} kB)")
    assert benchmark(OrderEvent.model_validate_json, payload) == event
