"""Serving a provider sandbox, alike for iCount, iDoklad and iCash: the fault-plan steps
around each API call, a real socket (in code) and the command line (`command`)."""

from __future__ import annotations

import argparse
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from aiohttp import web

from sandboxes.kit.faults import Faults, FaultStep, strip_slashes


class Closable(Protocol):
    async def close(self) -> None: ...


class Main(Protocol):
    """A sandbox's command line: `main(argv)` (None: `sys.argv`) → exit status."""

    def __call__(self, argv: Sequence[str] | None = None) -> int: ...


_S = TypeVar("_S", bound=Closable)
_T = TypeVar("_T")
_R = TypeVar("_R", bound="RunningServer[Any]")
#: answers a step that refuses the call before any work (a status or a throttle), else None
Refuse = Callable[[FaultStep], web.StreamResponse | None]


def add_faults(
    app: web.Application,
    key: web.AppKey[Faults],
    seed: int | None,
    path_of: Callable[[str], str] = strip_slashes,
) -> None:
    """Give `app` its fault plans (random ones seeded by `seed`), released on shutdown."""
    app[key] = Faults(rng=random.Random(seed), path_of=path_of)  # noqa: S311 (not crypto)

    async def release_held(app: web.Application) -> None:
        app[key].closing.set()

    app.on_shutdown.append(release_held)


async def answer_with_faults(
    request: web.Request,
    faults: Faults,
    step: FaultStep | None,
    refuse: Refuse,
    work: Callable[[], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """One API call under its fault `step` (taken by the caller) and the global knobs:
    refused before any work, or delayed, then done, then answered late or never."""
    early = None if step is None else refuse(step)
    if early is not None:
        return early
    latency_ms = faults.latency_ms + (step.latency_ms if step else 0)
    await faults.hold(latency_ms / 1000)  # the work is committed after the wait
    if faults.roll_error():
        refused = refuse(FaultStep("status", 503, status=503))
        return refused if refused is not None else web.Response(status=503)
    response = await work()  # committed from here on
    if step is not None and step.kind == "timeout":
        await faults.hold(step.hang_s)
    if step is not None and step.kind == "disconnect" and request.transport is not None:
        request.transport.close()  # the work is done; the caller never hears of it
    return response


@dataclass
class RunningServer(Generic[_T]):
    """A sandbox listening on a real socket; each provider's names its state's key (`STATE`)
    and where its API starts."""

    state_key: ClassVar[web.AppKey[Any]]
    api_root: ClassVar[str]  #: where the API starts, e.g. "/api/v3.php"
    runner: web.AppRunner
    url: str  #: e.g. "http://127.0.0.1:40123"

    @property
    def app(self) -> web.Application:
        return self.runner.app

    @property
    def api_url(self) -> str:
        """The base URL a client uses (the provider settings' `base_url`)."""
        return self.url + self.api_root

    @property
    def state(self) -> _T:
        """The sandbox's memory (documents, emails, sessions, the request log)."""
        state: _T = self.app[self.state_key]
        return state

    async def close(self) -> None:
        await self.runner.cleanup()


async def listen(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve `app` on `host:port` (0 = a free port); the runner and the base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}"


def starting(
    kind: type[_R], create_app: Callable[..., web.Application]
) -> Callable[..., Awaitable[_R]]:
    """A sandbox's `start_sandbox(host, port, **options)`: `create_app(**options)` served on
    `host:port` (0 = a free port), as a `kind` of running sandbox."""

    async def start_sandbox(host: str = "127.0.0.1", port: int = 0, **options: Any) -> _R:
        return kind(*await listen(create_app(**options), host, port))

    start_sandbox.__doc__ = f"Start the sandbox; `options` go to `{create_app.__name__}`."
    return start_sandbox


@asynccontextmanager
async def closing(sandbox: _S) -> AsyncIterator[_S]:
    """Yield a started sandbox and stop it on exit."""
    try:
        yield sandbox
    finally:
        await sandbox.close()


def serving(
    start_sandbox: Callable[..., Awaitable[_R]],
) -> Callable[..., AbstractAsyncContextManager[_R]]:
    """`start_sandbox(host, port, **options)` as an async context manager that stops it on exit."""

    def serve_sandbox(
        host: str = "127.0.0.1", port: int = 0, **options: Any
    ) -> AbstractAsyncContextManager[_R]:
        @asynccontextmanager
        async def served() -> AsyncIterator[_R]:
            async with closing(await start_sandbox(host, port, **options)) as sandbox:
                yield sandbox

        return served()

    serve_sandbox.__doc__ = f"`{start_sandbox.__name__}` as an async context manager."
    return serve_sandbox


def command(
    module: str,
    description: str,
    port: int,
    add_options: Callable[[argparse.ArgumentParser], None],
    build_app: Callable[[argparse.Namespace], web.Application],
    *,
    banner: bool = True,
) -> Main:
    """A sandbox's `main(argv)` for `python -m <module>`: `--host`, `--port` (default `port`),
    its own options, `--seed`; then it serves until interrupted (`banner`: print aiohttp's
    "Running on" lines)."""

    def main(argv: Sequence[str] | None = None) -> int:
        parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=port)
        add_options(parser)
        parser.add_argument("--seed", type=int, default=None, help="seed for random faults")
        args = parser.parse_args(argv)
        quiet: dict[str, Any] = {} if banner else {"print": None}
        web.run_app(build_app(args), host=args.host, port=args.port, shutdown_timeout=5, **quiet)
        return 0

    main.__doc__ = f"`python -m {module} [--host H] [--port P] [options]`: {description}"
    return main
