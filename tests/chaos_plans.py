"""Chaos plans for tests that want the suite's load and reconciliation without its chaos."""

from __future__ import annotations

from typing import Any

from invoicebridge.chaos.suite import ChaosPlan


def calm_plan(**fields: Any) -> ChaosPlan:
    """A plan that kills, restarts and faults nothing unless `fields` say so."""
    calm: dict[str, Any] = {
        "worker_kills": 0,
        "redis_restarts": 0,
        "receiver_restarts": 0,
        "faults": False,
    }
    return ChaosPlan(**(calm | fields))
