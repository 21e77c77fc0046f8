"""The states an event moves through in the ledger, named once for every layer."""

from __future__ import annotations

from typing import Literal, get_args

EventState = Literal[
    "received",  # recorded, not yet handed to the queue
    "queued",
    "running",
    "retrying",  # failed in a way that may pass; runs again after a backoff
    "done",
    "failed",  # will not pass by itself: an operator retries, resolves or discards it
    "needs_attention",  # stopped for a person (an unknown charge outcome, a total mismatch)
    "ignored",  # a delivery that asks nothing of us (a ping, a topic we do not act on)
    "unreadable",  # signed, but our parser cannot read it: kept raw until a replay reads it
    "resolved",  # an operator made the document by hand
    "discarded",  # an operator decided nothing is to be made
]
EVENT_STATES: tuple[str, ...] = get_args(EventState)
#: states in which an event still has work ahead of it (the ledger is "quiet" without them)
BUSY_STATES = ("received", "queued", "running", "retrying")
