"""Running a provider sandbox on a real socket: shared by the iCount, iDoklad and iCash ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

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
