"""The ingest benchmark's driver: wrk really sends a fresh event id on every request, counts
what the server answered, and paces itself when a rate is asked for (against a real aiohttp
server on the loopback)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web

from benchmarks.wrk import run_wrk, wrk_path

pytestmark = pytest.mark.timeout(60)


async def _serve(seen: Counter[str], bodies: list[bytes]) -> tuple[web.AppRunner, str]:
    async def answer(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        seen[request.headers.get("X-Event", "")] += 1
        status = 200 if request.headers.get("X-Signed") == "yes" else 400
        return web.json_response({"ok": True}, status=status)

    app = web.Application()
    app.router.add_post("/in/{tenant}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/in/acme"


async def _drive(tmp_path: Path, headers: dict[str, str], rate: float | None = None):
    seen: Counter[str] = Counter()
    bodies: list[bytes] = []
    runner, url = await _serve(seen, bodies)
    try:
        found = await asyncio.to_thread(
            run_wrk,
            url,
            b'{"order": "\\"quoted\\""}',
            headers,
            workdir=tmp_path,
            id_header="X-Event",
            id_prefix="t-",
            seconds=2,
            connections=4,
            rate=rate,
        )
    finally:
        await runner.cleanup()
    return found, seen, bodies


@pytest.fixture(autouse=True)
def _needs_wrk() -> None:
    wrk_path()  # `make install` puts it there; a clear error otherwise


async def test_every_request_has_its_own_id_and_the_same_body(tmp_path: Path) -> None:
    found, seen, bodies = await _drive(tmp_path, {"X-Signed": "yes", "X-Event": "stale"})
    assert found.requests > 50 and found.non_2xx == 0 and found.socket_errors == 0
    assert max(seen.values()) == 1, "an event id was sent twice"
    assert "stale" not in seen and all(event.startswith("t-") for event in seen)
    assert found.requests <= len(seen)  # wrk counts answered requests; the server saw each
    assert set(bodies) == {b'{"order": "\\"quoted\\""}'}
    assert 0 < found.p50_ms <= found.p90_ms <= found.p99_ms <= found.max_ms


async def test_refusals_are_counted(tmp_path: Path) -> None:
    found, _, _ = await _drive(tmp_path, {"X-Signed": "no"})
    assert found.requests > 0 and found.non_2xx == found.requests


async def test_a_rate_is_held(tmp_path: Path) -> None:
    """Asked for 100/s, wrk offers about that (Poisson), far below what the server takes."""
    found, seen, _ = await _drive(tmp_path, {"X-Signed": "yes"}, rate=100)
    assert 40 <= found.rate <= 130, found
    assert len(seen) < 300
