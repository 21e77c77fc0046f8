"""structlog set-up: JSON lines on stderr (human-readable lines on a terminal), context from
contextvars, secrets redacted in either form."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from worker.domain.redaction import redact

LogFormat = Literal["auto", "json", "console"]
#: how `invoicebridge serve|worker` hands its --log-level / --log-format to the processes
#: dramatiq forks (they read their settings file again; these win over its [logging])
LEVEL_ENV = "INVOICEBRIDGE_LOG_LEVEL"
FORMAT_ENV = "INVOICEBRIDGE_LOG_FORMAT"


def _redact_event(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return redact(event_dict)  # type: ignore[no-any-return]


def resolve_format(fmt: str, stream: TextIO) -> Literal["json", "console"]:
    """`auto` is console lines for a person at a terminal, JSON for a log collector."""
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        return "console" if isatty is not None and isatty() else "json"
    if fmt == "json":
        return "json"
    if fmt == "console":
        return "console"
    raise ValueError(f"unknown log format {fmt!r}: auto, json or console")


def configure_from_env(level: str, fmt: str) -> None:
    """Logging for a process the CLI started: its parent's choices (in the environment) win
    over the `level` and `fmt` of the settings file."""
    configure_logging(os.environ.get(LEVEL_ENV) or level, os.environ.get(FORMAT_ENV) or fmt)


def _renderer(fmt: Literal["json", "console"], stream: TextIO) -> Any:
    if fmt == "json":
        return structlog.processors.JSONRenderer(ensure_ascii=False)
    isatty = getattr(stream, "isatty", None)
    # the traceback arrives as text already redacted (format_exc_info runs before the
    # redaction); structlog's default, a rich traceback, would print every frame's locals,
    # card numbers and secrets included
    return structlog.dev.ConsoleRenderer(
        colors=isatty is not None and isatty(),
        exception_formatter=structlog.dev.plain_traceback,
    )


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Send structlog and stdlib logging (dramatiq, aiohttp) to `stream` (stderr), redacted:
    JSON lines, or console lines (`fmt`, with `auto` choosing by whether it is a terminal)."""
    out = stream if stream is not None else sys.stderr
    chosen = resolve_format(fmt, out)
    renderer = _renderer(chosen, out)
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,  # a traceback is text before it is redacted
        _redact_event,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
