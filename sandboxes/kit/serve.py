"""Running a provider sandbox on a real socket: shared by the iCount, iDoklad and iCash ones."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiohttp import web


class Closable(Protocol):
    async def close(self) -> None: ...


_S = TypeVar("_S", bound=Closable)


@dataclass
class RunningServer:
    """A sandbox listening on a real socket; each provider's adds its client URLs and state."""

    runner: web.AppRunner
    url: str  #: e.g. "http://127.0.0.1:40123"

    @property
    def app(self) -> web.Application:
        return self.runner.app

    async def close(self) -> None:
        await self.runner.cleanup()


async def listen(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve `app` on `host:port` (0 = a free port); the runner and the base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}"


@asynccontextmanager
async def closing(sandbox: _S) -> AsyncIterator[_S]:
    """Yield a started sandbox and stop it on exit."""
    try:
        yield sandbox
    finally:
        await sandbox.close()


def add_shared_control_routes(
    app: web.Application,
    state: web.AppKey[Any],
    faults: web.AppKey[Any],
    *,
    dumps: Callable[[object], str] = json.dumps,
) -> None:
    """The `/_sandbox` endpoints every sandbox has alike: the request log, reset, and
    reading or clearing the fault plans (posting a plan is each sandbox's own)."""

    def answer(data: object) -> web.Response:
        return web.json_response(data, dumps=dumps)

    async def get_requests(request: web.Request) -> web.Response:
        held = request.app[state]
        return answer({"counts": dict(held.request_counts), "log": list(held.request_log)})

    async def post_reset(request: web.Request) -> web.Response:
        request.app[state].reset()
        request.app[faults].clear()
        return answer({"status": "reset"})

    async def get_faults(request: web.Request) -> web.Response:
        return answer(request.app[faults].describe())

    async def delete_faults(request: web.Request) -> web.Response:
        request.app[faults].clear()
        return answer(request.app[faults].describe())

    app.router.add_get("/_sandbox/requests", get_requests)
    app.router.add_post("/_sandbox/reset", post_reset)
    app.router.add_get("/_sandbox/faults", get_faults)
    app.router.add_delete("/_sandbox/faults", delete_faults)
