"""`invoicebridge`: serve | worker | sandbox | demo | jobs | loadgen | chaos."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from invoicebridge.chaos_cli import add_chaos_parser
from invoicebridge.jobs_cli import add_jobs_parser
from invoicebridge.loadgen.cli import add_loadgen_parser
from worker.logs import configure_logging
from worker.settings import (
    MetricsSettings,
    Settings,
    SettingsError,
    export_config_path,
    load_settings,
)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    configure_logging(settings.logging.level)
    return settings


def _serve(args: argparse.Namespace) -> int:
    from invoicebridge.serve import run_receiver

    run_receiver(_settings(args), args.host, args.port)
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
    if not settings.metrics.worker_enabled:
        return _run_dramatiq(args)
    given = os.environ.get(MULTIPROC_ENV)
    directory = empty_metrics_dir(Path(given) if given else None)
    os.environ.update(worker_metrics_env(settings.metrics, directory))
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
        "worker.entry",
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
    import importlib

    configure_logging("info")
    argv = ["--host", args.host, "--port", str(args.port)]
    if args.provider == "smtp":
        from invoicebridge import mailcatcher

        return mailcatcher.main([*argv, "--http-port", str(args.http_port)])
    module = importlib.import_module(f"worker.providers.{args.provider}.sandbox")
    result: int = module.main(argv)
    return result


def _demo(args: argparse.Namespace) -> int:
    from invoicebridge.demo import run_demo

    return run_demo(keep_running=args.keep_running)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="invoicebridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the webhook receiver")
    serve.add_argument("--config", help="TOML settings (default: $INVOICEBRIDGE_CONFIG)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=_serve)
    worker = sub.add_parser("worker", help="run queue workers")
    worker.add_argument("--config", help="TOML settings (default: $INVOICEBRIDGE_CONFIG)")
    worker.add_argument("--processes", type=int, default=2)
    worker.add_argument("--threads", type=int, default=8)
    worker.add_argument("--shutdown-timeout", type=float, default=30.0, help="seconds")
    worker.set_defaults(func=_worker)
    sandbox = sub.add_parser("sandbox", help="run a provider sandbox")
    sandbox.add_argument("provider", choices=["icount", "idoklad", "icash", "smtp"])
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8081)
    sandbox.add_argument("--http-port", type=int, default=8026, help="smtp only: the HTTP port")
    sandbox.set_defaults(func=_sandbox)
    demo = sub.add_parser("demo", help="run everything on sample orders and show the documents")
    demo.add_argument("--keep-running", action="store_true")
    demo.set_defaults(func=_demo)
    add_jobs_parser(sub)
    add_loadgen_parser(sub)
    add_chaos_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except SettingsError as exc:
        print(f"invoicebridge: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
