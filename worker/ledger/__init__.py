"""The Redis ledger: every event's state and every job step's record (`store`, `jobs`),
every Redis key name of the project (`keys`) and the ledger's Lua scripts (`scripts`).

`Ledger` and its records are exported here, loaded on first use, so importing
`worker.ledger.keys` (a list of names) does not import the ledger itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.ledger.jobs import JobFailure, JobRecord
    from worker.ledger.store import EventState, Ledger, OrderState, StoredInvalid

__all__ = ["EventState", "JobFailure", "JobRecord", "Ledger", "OrderState", "StoredInvalid"]

_HOME = {"JobFailure": "jobs", "JobRecord": "jobs"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME.get(name, 'store')}"), name)
