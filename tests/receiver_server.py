"""The receiver served as production serves it (`handlers.transport.ReceiverRunner`), for
tests: `ReceiverTestServer` is aiohttp's TestServer on that runner, `receiver_client` a
TestClient of the receiver built from settings, `serving` an async context manager that
serves an app on a real port of 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from handlers.transport import ReceiverRunner
from invoicebridge.serve import build_receiver
from worker.settings import Settings

Client = TestClient[web.Request, web.Application]


class ReceiverTestServer(TestServer):
    """`TestServer(app)`, with the receiver's own connection handling (timeouts, problem
    bodies for aiohttp's own errors, bodies never inflated)."""

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return ReceiverRunner(self.app, **kwargs)


@contextlib.asynccontextmanager
async def receiver_client(settings: Settings) -> AsyncIterator[Client]:
    """A test client of the receiver `settings` build, served by a `ReceiverTestServer`."""
    async with TestClient(ReceiverTestServer(await build_receiver(settings))) as client:
        yield client


@contextlib.asynccontextmanager
async def serving(app: web.Application, **kwargs: Any) -> AsyncIterator[tuple[str, int]]:
    """Serve `app` on a free port of 127.0.0.1 with a `ReceiverRunner`; yields (host, port)."""
    runner = ReceiverRunner(app, access_log=None, **kwargs)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield str(host), int(port)
    finally:
        await runner.cleanup()
