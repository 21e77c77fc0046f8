"""The Redis ledger: one `Ledger` class (`ledger`) keeps every event's state and every job
step's record, handing back the plain records of `records`; every Redis key name of the
project is in `keys` and the ledger's Lua scripts are in `scripts`.

`Ledger` and its records are exported here, loaded on first use, so importing
`worker.ledger.keys` (a list of names) does not import the ledger itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker.domain.states import EventState
    from worker.ledger.ledger import Ledger
    from worker.ledger.records import JobFailure, JobRecord, OrderState, StoredInvalid

__all__ = ["EventState", "JobFailure", "JobRecord", "Ledger", "OrderState", "StoredInvalid"]

_HOME = {
    "EventState": "worker.domain.states",
    "JobFailure": "worker.ledger.records",
    "JobRecord": "worker.ledger.records",
    "Ledger": "worker.ledger.ledger",
    "OrderState": "worker.ledger.records",
    "StoredInvalid": "worker.ledger.records",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
