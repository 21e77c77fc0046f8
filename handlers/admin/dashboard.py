"""The dashboard at `/admin/`: one static page and its script, served from the package (no
CDN: it works on a closed network). It talks only to `/admin/api/`, with the token the
operator signs in with, so it can do nothing the API would not let that token do."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from handlers.admin.api import admin_api
from handlers.admin.auth import AdminIdentity
from handlers.admin.backend import AdminBackend

STATIC = Path(__file__).with_name("static")
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
#: the page runs only our own script and style, and talks only to its own origin
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


async def _asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info.get("name", "index.html")
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file() or path.suffix not in _TYPES:
        raise web.HTTPNotFound(text=f"no dashboard file {name!r}")
    response = web.Response(body=path.read_bytes(), content_type=_TYPES[path.suffix])
    response.headers["Content-Security-Policy"] = _POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


async def _to_dashboard(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/admin/")


def mount_admin(
    app: web.Application, backend: AdminBackend, identities: tuple[AdminIdentity, ...]
) -> None:
    """Add `/admin/api/` and the dashboard to the receiver."""
    app.add_subapp("/admin/api/", admin_api(backend, identities))
    app.router.add_get("/admin", _to_dashboard)
    app.router.add_get("/admin/", _asset)
    app.router.add_get("/admin/static/{name}", _asset)
