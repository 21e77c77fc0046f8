"""Errors behind the queue, shaped so the caller can act on them.

BridgeError
├── Retryable(delay_ms)        connect errors, 5xx, timeouts before sending: retry with backoff
│   └── RateLimited            429 / "Too many requests": retry after `delay_ms`
│       └── Waiting            an earlier outcome is not visible yet: come back, no retry spent
├── OutcomeUnknown             the request was sent, the answer was lost (read timeout,
│                              dropped connection): reconcile before anything else
└── Permanent(reason)          4xx validation, bad credentials, a decline: the job fails
    └── NeedsAttention         stop for a human: doing more could be wrong
        ├── TotalMismatch      the document would not add up to the shop's total
        └── MissingTransactionId  a payment block needs the gateway's transaction id; the
                               job waits a while for it to arrive (worker/jobs/payment_details.py)
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


class NeedsAttention(Permanent):
    """The job must stop for a human: doing anything more could be wrong (a charge whose
    outcome stays unknown, a document that would not add up). Never retried."""

    def __init__(self, message: str, *, reason: str = "needs_attention") -> None:
        super().__init__(message, reason=reason)


class TotalMismatch(NeedsAttention):
    """The document would not add up to the shop's total; it is not sent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="total_mismatch")


class DocumentNeedsAttention(NeedsAttention):
    """The provider made the document, but it is not what the shop's order says (its total
    or VAT); the job records the document with the failure, so it is never made again and
    a person sees which one to look at. `document` is the provider's `DocumentRef`."""

    def __init__(self, message: str, *, reason: str, document: object) -> None:
        super().__init__(message, reason=reason)
        self.document = document


class MissingTransactionId(NeedsAttention):
    """A payment block (iCount `cc`, `paypal`) needs the gateway's transaction id and the
    order has none. The job turns it into `Waiting` while the payment details may still
    arrive in a later event, and stops for a human after that (worker/jobs/payment_details.py)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="no_transaction_id")


class Waiting(RateLimited):
    """An earlier attempt's outcome is not visible yet (a charge settling): come back after
    `delay_ms`. Not a failure: it spends no retry."""
