"""Errors behind the queue, shaped so the caller can act on them.

BridgeError
├── Retryable(delay_ms)        connect errors, 5xx, timeouts before sending: retry with backoff
│   └── RateLimited            429 / "Too many requests": retry after `delay_ms`
├── OutcomeUnknown             the request was sent, the answer was lost (read timeout,
│                              dropped connection): reconcile before anything else
└── Permanent(reason)          4xx validation, bad credentials, a total that cannot be
    └── TotalMismatch          reconciled: the job fails and waits for an operator
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the worker raises on purpose."""


class Retryable(BridgeError):
    """A transient failure; the job is retried with backoff. Nothing happened at the provider."""

    def __init__(self, message: str, *, delay_ms: int | None = None) -> None:
        super().__init__(message)
        self.delay_ms = delay_ms


class RateLimited(Retryable):
    """The provider asked us to slow down; retried after `delay_ms`, not counted as a failure."""


class OutcomeUnknown(BridgeError):
    """A mutating request was sent but its answer was lost; the provider may have acted.

    Never retried blindly: the next attempt first looks the result up (iCount: the
    same `sanity_string` returns the document already made).
    """


class Permanent(BridgeError):
    """A failure that retrying cannot fix; the job is marked failed with `reason`."""

    def __init__(self, message: str, *, reason: str = "rejected") -> None:
        super().__init__(message)
        self.reason = reason


class TotalMismatch(Permanent):
    """The document would not add up to the shop's total; it is not sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="total_mismatch")
