"""The worker's own Prometheus metrics: provider call latency and errors, steps by outcome.

They live in prometheus_client's default registry, made when this module is
imported. In the worker processes `invoicebridge worker` has already set
`PROMETHEUS_MULTIPROC_DIR` (before anything imported prometheus_client), so
every process writes its values to that directory and dramatiq's exposition
server serves them next to its own `dramatiq_*` metrics. Elsewhere (tests, the
CLI) they are plain in-process metrics that nobody scrapes.

Labels stay low-cardinality on purpose: `operation` is an API method path with
ids taken out, `kind` an error class name from `worker.errors` (or a client's
subclass of one), never a message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

from worker.errors import BridgeError, MissingTransactionId, NeedsAttention, Permanent

#: provider calls range from tens of milliseconds to a client's whole timeout
_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_NUMERIC_SEGMENT = re.compile(r"(?<=/)\d+(?=/|$)")

PROVIDER_SECONDS = Histogram(
    "invoicebridge_provider_request_duration_seconds",
    "Time one HTTP call to an invoicing service took, errors included.",
    ["provider", "operation"],
    buckets=_BUCKETS,
)
PROVIDER_ERRORS = Counter(
    "invoicebridge_provider_errors",
    "Provider HTTP calls that ended in an error, by error class.",
    ["provider", "kind"],
)
STEPS = Counter(
    "invoicebridge_steps",
    "Planned steps run through a provider, by how they ended.",
    ["provider", "action", "outcome"],
)


def error_kind(exc: BaseException) -> str:
    """The `kind` label: a BridgeError's class name; anything else is a bug, "Unexpected"."""
    return type(exc).__name__ if isinstance(exc, BridgeError) else "Unexpected"


def step_outcome(exc: BaseException) -> str:
    """How the job ledger files a step that raised `exc` (as `worker.jobs.process` does). A missing
    transaction id is waited for first (`worker.jobs.payment_details.awaited`): retrying."""
    if isinstance(exc, MissingTransactionId):
        return "retrying"
    if isinstance(exc, NeedsAttention):
        return "needs_attention"
    return "failed" if isinstance(exc, Permanent) else "retrying"


def operation_of(path: str) -> str:
    """An API path with its numeric ids replaced: `IssuedInvoices/7/GetPdf` →
    `IssuedInvoices/{id}/GetPdf`, so each entity does not make its own series."""
    return _NUMERIC_SEGMENT.sub("{id}", path)


@contextmanager
def observe_call(provider: str, operation: str) -> Iterator[None]:
    """Time one provider HTTP call and count the error it raised, if any.

    Wrap the narrowest method that sends one request and deciphers its answer, so
    a call is counted once, and waits in line for a rate limit are not timed.
    """
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        PROVIDER_ERRORS.labels(provider, error_kind(exc)).inc()
        raise
    finally:
        PROVIDER_SECONDS.labels(provider, operation).observe(time.perf_counter() - started)


@contextmanager
def count_step(provider: str, action: str) -> Iterator[None]:
    """Count one step run by its outcome: done, retrying, failed or needs_attention."""
    try:
        yield
    except Exception as exc:
        STEPS.labels(provider, action, step_outcome(exc)).inc()
        raise
    STEPS.labels(provider, action, "done").inc()
