"""What every request passes through around its handler: compressed bodies are refused
before a byte of them is read, and every answer leaves with the headers that keep it out
of caches and referrers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from handlers.errors import UnsupportedMediaType
from handlers.inbound import header

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: answers that carry data (an event, a token's name, a problem) and must not be cached
_JSON_TYPES = frozenset({"application/json", "application/problem+json"})
_COMPRESSED = "compressed bodies are not accepted: send Content-Encoding identity, or none"


@web.middleware
async def refuse_encoded_bodies(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """415 for a body with any Content-Encoding but identity, before it is read: the receiver
    never inflates (a 1 MB gzip body can inflate to 1 GB), and a webhook is never sent
    compressed by the platforms we serve. Inside problem_middleware, which answers it."""
    encoding = header(request.headers, "Content-Encoding", invalid=UnsupportedMediaType)
    if request.body_exists and encoding is not None and encoding.lower() != "identity":
        raise UnsupportedMediaType(_COMPRESSED)
    return await handler(request)


@web.middleware
async def security_headers(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """`Cache-Control: no-store` on every JSON answer (the admin API's, a webhook's, a
    problem), and `Referrer-Policy: no-referrer` on all. Outside problem_middleware, so
    refusals get them too."""
    response = await handler(request)
    if not response.prepared:
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.content_type in _JSON_TYPES:
            response.headers["Cache-Control"] = "no-store"
    return response
