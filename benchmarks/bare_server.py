"""The yardstick for ingest: an aiohttp app that reads each webhook's body and answers 200,
nothing else. `python -m benchmarks.bare_server --port N` (one process, like the receiver)."""

from __future__ import annotations

import argparse

from aiohttp import web


async def answer(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"status": "accepted"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/webhooks/{source}/{tenant}", answer)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


if __name__ == "__main__":
    main()
