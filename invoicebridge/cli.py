"""`invoicebridge`: serve | worker | check | sandbox | demo | jobs | loadgen | chaos."""

# (The docstring is the top-level --help.) Lazy: a subcommand's module (check, jobs, loadgen,
# chaos, the receiver, the demo) is imported only when that subcommand runs, so `serve` and
# `worker` never load the chaos suite, the load generator, the local stack or the samples
# (tests/integration/test_cli_imports.py).

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TypeAlias, cast

from invoicebridge.cli_env import CliParser, env_option, port, positive_int, seconds
from worker.logs import FORMAT_ENV, LEVEL_ENV, configure_logging, resolve_format
from worker.settings import (
    PREFETCH_ENV,
    MetricsSettings,
    Settings,
    SettingsError,
    export_config_path,
    load_settings,
)

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "json", "console")
SANDBOX_EXTRA = (
    "the SMTP sandbox needs aiosmtpd, which is not installed; "
    "install it with: pip install 'invoicebridge[sandbox]'"
)


def _logging(args: argparse.Namespace, settings: Settings) -> None:
    """Configure this process's logging (flag, then environment, then the settings file) and
    hand the outcome to the processes it forks, `auto` already decided for this terminal."""
    level = args.log_level or settings.logging.level
    fmt = resolve_format(args.log_format or settings.logging.format, sys.stderr)
    os.environ[LEVEL_ENV] = level
    os.environ[FORMAT_ENV] = fmt
    configure_logging(level, fmt)


def _serve(args: argparse.Namespace) -> int:
    from invoicebridge.serve import run_receiver

    settings = load_settings(args.config)
    _logging(args, settings)
    run_receiver(settings, args.host, args.port)
    return 0


#: prometheus_client's multiprocess directory (it reads the name when it is imported)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def worker_metrics_env(metrics: MetricsSettings, directory: Path) -> dict[str, str]:
    """What dramatiq's Prometheus middleware and prometheus_client read from the environment.

    dramatiq reads `dramatiq_prom_*` when its module is imported and prometheus_client
    reads `PROMETHEUS_MULTIPROC_DIR` when it is imported, both in the forked processes,
    so they are set in the parent before the fork (and before anything here imports
    prometheus_client: this module must not). One directory for both puts our own
    worker metrics on dramatiq's exposition server next to its `dramatiq_*` ones.
    """
    return {
        "dramatiq_prom_host": metrics.worker_host,
        "dramatiq_prom_port": str(metrics.worker_port),
        "dramatiq_prom_db": str(directory),
        MULTIPROC_ENV: str(directory),
    }


def _worker(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)  # fail here, in the parent, on a bad file
    if args.config:
        export_config_path(args.config)
    _logging(args, settings)
    os.environ[PREFETCH_ENV] = str(args.threads)  # one message in hand per thread
    if not settings.metrics.worker_enabled:
        return _run_dramatiq(args)
    given = os.environ.get(MULTIPROC_ENV)
    directory = empty_metrics_dir(Path(given) if given else None)
    metrics = settings.metrics.model_copy(
        update={
            "worker_host": args.metrics_host or settings.metrics.worker_host,
            "worker_port": args.metrics_port or settings.metrics.worker_port,
        }
    )
    os.environ.update(worker_metrics_env(metrics, directory))
    try:
        return _run_dramatiq(args)
    finally:
        if not given:
            shutil.rmtree(directory, ignore_errors=True)


def empty_metrics_dir(given: Path | None) -> Path:
    """The run's multiprocess directory, empty: files of an earlier run would add their
    counts. The operator's `PROMETHEUS_MULTIPROC_DIR` (say a tmpfs) is emptied of its
    metric files and kept; otherwise a new temporary one is made (and removed at exit)."""
    if given is None:
        return Path(tempfile.mkdtemp(prefix="invoicebridge-worker-metrics-"))
    given.mkdir(parents=True, exist_ok=True)
    for stale in given.glob("*.db"):
        stale.unlink()
    return given


def _run_dramatiq(args: argparse.Namespace) -> int:
    import dramatiq.cli

    argv = [
        "invoicebridge.worker_entry",
        "--processes",
        str(args.processes),
        "--threads",
        str(args.threads),
        "--worker-shutdown-timeout",
        str(int(args.shutdown_timeout * 1000)),
        "--skip-logging",
    ]
    parser = dramatiq.cli.make_argument_parser()  # type: ignore[no-untyped-call]
    result: int = dramatiq.cli.main(parser.parse_args(argv))  # type: ignore[no-untyped-call]
    return result


def _sandbox(args: argparse.Namespace) -> int:
    configure_logging("info")
    argv = ["--host", args.host, "--port", str(args.port)]
    if args.provider == "smtp":
        if importlib.util.find_spec("aiosmtpd") is None:
            print(f"invoicebridge: {SANDBOX_EXTRA}", file=sys.stderr)
            return 2
        from invoicebridge import mailcatcher

        return mailcatcher.main([*argv, "--http-port", str(args.http_port)])
    module = importlib.import_module(f"sandboxes.{args.provider}.app")
    result: int = module.main(argv)
    return result


def _demo(args: argparse.Namespace) -> int:
    from invoicebridge.demo.run import run_demo

    if importlib.util.find_spec("aiosmtpd") is None:  # the demo's mail goes to the sandbox
        print(f"invoicebridge: {SANDBOX_EXTRA}", file=sys.stderr)
        return 2
    return run_demo(keep_running=args.keep_running)


def _log_options(parser: argparse.ArgumentParser) -> None:
    env_option(
        parser,
        "--config",
        default=None,
        shown_default="none, required",
        help="the TOML settings file",
    )
    env_option(
        parser,
        "--log-level",
        default=None,
        choices=LOG_LEVELS,
        shown_default="[logging] level of the settings, else info",
        help="the least severe log line written",
    )
    env_option(
        parser,
        "--log-format",
        default=None,
        choices=LOG_FORMATS,
        shown_default="[logging] format of the settings, else auto",
        help="JSON lines, console lines, or auto: console on a terminal",
    )


def _logged_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, what: str, about: str
) -> argparse.ArgumentParser:
    """A long-running subcommand (`serve`, `worker`): its parser, with the logging options."""
    parser = sub.add_parser(name, help=what, description=about)
    _log_options(parser)
    return parser


def _add_serve(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    about = "Run the webhook receiver (and admin API, dashboard, metrics) in this process."
    serve = _logged_command(sub, "serve", "run the webhook receiver", about)
    env_option(serve, "--host", default="127.0.0.1", help="the address to listen on")
    env_option(serve, "--port", default=8080, convert=port, help="the port to listen on")
    serve.set_defaults(func=_serve)


def _add_worker(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    about = "Run dramatiq worker processes that turn queued events into documents."
    worker = _logged_command(sub, "worker", "run queue workers", about)
    env_option(worker, "--processes", default=2, convert=positive_int, help="worker processes")
    env_option(
        worker, "--threads", default=8, convert=positive_int, help="threads in each worker process"
    )
    env_option(
        worker,
        "--metrics-host",
        default=None,
        shown_default="[metrics] worker_host",
        help="the address of the workers' Prometheus exposition server",
    )
    env_option(
        worker,
        "--metrics-port",
        default=None,
        convert=port,
        shown_default="[metrics] worker_port",
        help="the port of the workers' Prometheus exposition server",
    )
    env_option(
        worker,
        "--shutdown-timeout",
        default=30.0,
        convert=seconds,
        help="seconds a stopping worker gives its running jobs before requeueing them",
    )
    worker.set_defaults(func=_worker)


def _add_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = sub.add_parser("sandbox", help="run a provider sandbox")
    sandbox.add_argument("provider", choices=["icount", "idoklad", "icash", "smtp"])
    sandbox.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    sandbox.add_argument("--port", type=int, default=8081, help="the port to listen on")
    sandbox.add_argument("--http-port", type=int, default=8026, help="smtp only: the HTTP port")
    sandbox.set_defaults(func=_sandbox)


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="run everything on sample orders and show the documents")
    demo.add_argument("--keep-running", action="store_true")
    demo.set_defaults(func=_demo)


SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: what sets up a subcommand's parser: a function here, or "module:function", imported only
#: when that subcommand is the one parsed
Adder: TypeAlias = "Callable[[SubParsers], None] | str"

#: the subcommands, in the order `--help` lists them
SUBCOMMANDS: tuple[tuple[str, Adder], ...] = (
    ("serve", _add_serve),
    ("worker", _add_worker),
    ("check", "invoicebridge.check_cli:add_check_parser"),
    ("sandbox", _add_sandbox),
    ("demo", _add_demo),
    ("jobs", "invoicebridge.jobs_cli:add_jobs_parser"),
    ("loadgen", "invoicebridge.loadgen.cli:add_loadgen_parser"),
    ("chaos", "invoicebridge.chaos.cli:add_chaos_parser"),
)


def _adder(where: Adder) -> Callable[[SubParsers], None]:
    if callable(where):
        return where
    module, _, name = where.partition(":")
    return cast("Callable[[SubParsers], None]", getattr(importlib.import_module(module), name))


def _chosen(argv: Sequence[str] | None) -> str | None:
    """The subcommand `argv` names, or None (no argv, none named, or the top-level `--help`,
    which lists every subcommand's help)."""
    names = {name for name, _ in SUBCOMMANDS}
    for arg in argv or ():
        if arg in ("-h", "--help"):
            return None
        if not arg.startswith("-"):
            return arg if arg in names else None
    return None


def _version() -> str:
    try:
        return metadata.version("invoicebridge")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The CLI's parser. Given the `argv` it will parse, only the subcommand that names is set
    up in full (its module imported); the others are there by name alone, which is all the
    usage line and an `invalid choice` error show. Without `argv`, every one is set up."""
    chosen = _chosen(argv)
    parser = CliParser(prog="invoicebridge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    # typed as plain ArgumentParser's: the subcommands' modules need no CliParser
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True),
    )
    for name, where in SUBCOMMANDS:
        if chosen in (None, name):
            _adder(where)(sub)
        else:
            sub.add_parser(name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(argv).parse_args(argv)
    try:
        code: int = args.func(args)
    except SettingsError as exc:
        print(f"invoicebridge: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
