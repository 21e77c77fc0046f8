"""Inbound errors (webhooks, admin API): each carries its HTTP status and becomes an RFC 9457
problem body.

InboundError(status)
├── MalformedBody          400  the body is not the JSON it claims to be
├── MalformedHeader        400  a header's value is not UTF-8 text
├── MalformedQuery         400  a query parameter is not what the route takes
├── InvalidSignature       401  missing or wrong signature, stale timestamp
├── AuthRequired           401  admin API: no or unknown bearer token
├── Forbidden              403  admin API: a read-only token asked to act
├── UnknownTenant          404  no such tenant for this source
├── NotFound               404  admin API: no such event or tenant
├── RequestTimeout         408  the body did not arrive in time (the connection is closed)
├── Conflict               409  admin API: the item's state does not allow the action
├── BodyTooLarge           413
├── TooManyRequests        429  over the tenant's rate limit; carries `retry_after` seconds
├── UnsupportedMediaType   415
└── InvalidPayload         422  JSON that does not describe a valid order
"""

from __future__ import annotations

from typing import ClassVar


class InboundError(Exception):
    """A delivery we refuse; nothing is recorded or queued."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MalformedBody(InboundError):
    status = 400
    title = "Malformed body"


class MalformedHeader(InboundError):
    status = 400
    title = "Malformed header"


class MalformedQuery(InboundError):
    status = 400
    title = "Malformed query"


class InvalidSignature(InboundError):
    status = 401
    title = "Invalid signature"


class AuthRequired(InboundError):
    status = 401
    title = "Authentication required"


class Forbidden(InboundError):
    status = 403
    title = "Forbidden"


class NotFound(InboundError):
    status = 404
    title = "Not found"


class RequestTimeout(InboundError):
    status = 408
    title = "Request timeout"


class Conflict(InboundError):
    status = 409
    title = "Conflict"


class UnknownTenant(InboundError):
    status = 404
    title = "Unknown tenant"


class BodyTooLarge(InboundError):
    status = 413
    title = "Body too large"


class TooManyRequests(InboundError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UnsupportedMediaType(InboundError):
    status = 415
    title = "Unsupported media type"


class InvalidPayload(InboundError):
    status = 422
    title = "Invalid payload"
