"""Every error answer is a JSON problem body (RFC 9457), including aiohttp's own 404/405/413."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from handlers.errors import AuthRequired, InboundError, RequestTimeout, TooManyRequests

PROBLEM_TYPE = "application/problem+json"
log = structlog.get_logger("handlers")


def problem_body(status: int, title: str, detail: str) -> dict[str, str | int]:
    slug = title.lower().replace(" ", "-")
    return {
        "type": f"urn:invoicebridge:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }


def problem_response(status: int, title: str, detail: str) -> web.Response:
    body = problem_body(status, title, detail)
    return web.json_response(body, status=status, content_type=PROBLEM_TYPE)


@web.middleware
async def problem_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn refusals into problem bodies; nothing was recorded when one is raised."""
    try:
        return await handler(request)
    except InboundError as exc:
        log.info("request_refused", status=exc.status, reason=exc.title, detail=exc.detail)
        response = problem_response(exc.status, exc.title, exc.detail)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, AuthRequired):
            response.headers["WWW-Authenticate"] = 'Bearer realm="invoicebridge-admin"'
        if isinstance(exc, RequestTimeout):  # the rest of the body is not worth waiting for
            response.force_close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(exc.status, exc.reason, exc.text or exc.reason)
