"""What a Python user expects of the CLI: `python -m invoicebridge`, `--version`, options from
`INVOICEBRIDGE_*` variables shown with their defaults in `--help`, readable logs on a terminal
and JSON elsewhere, and a clear line when an optional part is not installed."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata

import pytest
import structlog

from invoicebridge.cli import build_parser
from worker.logs import configure_logging, resolve_format


def _cli(*args: str, code: str = "") -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_python_m_invoicebridge_prints_the_installed_version() -> None:
    done = _cli("-m", "invoicebridge", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"invoicebridge {metadata.version('invoicebridge')}"


def test_python_m_invoicebridge_is_the_same_cli() -> None:
    done = _cli("-m", "invoicebridge", "serve", "--help")
    assert done.returncode == 0 and "INVOICEBRIDGE_PORT" in done.stdout


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_options_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    env = {"CONFIG": "/etc/ib.toml", "LOG_LEVEL": "warning", "LOG_FORMAT": "console"}
    env |= (
        {"HOST": "127.0.0.2", "PORT": "9000"}
        if command == "serve"
        else {"METRICS_HOST": "127.0.0.2", "METRICS_PORT": "9300", "PROCESSES": "3", "THREADS": "5"}
    )
    for name, value in env.items():
        monkeypatch.setenv(f"INVOICEBRIDGE_{name}", value)
    args = build_parser().parse_args([command])
    read = {name: getattr(args, name.lower()) for name in env}
    typed = {name: str(value) for name, value in read.items()}
    assert typed == env
    assert all(
        isinstance(read[n], int) for n in env if n.endswith(("PORT", "PROCESSES", "THREADS"))
    )


def test_a_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICEBRIDGE_PORT", "9000")
    monkeypatch.setenv("INVOICEBRIDGE_LOG_LEVEL", "error")
    args = build_parser().parse_args(["serve", "--port", "9001", "--log-level", "debug"])
    assert (args.port, args.log_level) == (9001, "debug")


def test_without_flags_or_variables_the_defaults_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "LOG_LEVEL", "LOG_FORMAT", "CONFIG"):
        monkeypatch.delenv(f"INVOICEBRIDGE_{name}", raising=False)
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.log_level, args.log_format, args.config) == (
        "127.0.0.1",
        8080,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "eighty"), ("PORT", "70000"), ("LOG_LEVEL", "loud"), ("THREADS", "0")],
)
def test_a_bad_variable_is_a_usage_error_that_names_it(name: str, value: str) -> None:
    command = "worker" if name == "THREADS" else "serve"
    env_code = (
        f"import os, sys; os.environ['INVOICEBRIDGE_{name}'] = {value!r}; "
        "from invoicebridge.cli import main; sys.exit(main())"
    )
    done = _cli(command, code=env_code)
    assert done.returncode == 2
    assert f"$INVOICEBRIDGE_{name}" in done.stderr and value in done.stderr


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (
            "serve",
            [
                "INVOICEBRIDGE_HOST",
                "default: 127.0.0.1",
                "INVOICEBRIDGE_PORT",
                "default: 8080",
                "INVOICEBRIDGE_CONFIG",
                "INVOICEBRIDGE_LOG_LEVEL",
            ],
        ),
        (
            "worker",
            [
                "INVOICEBRIDGE_PROCESSES",
                "default: 2",
                "INVOICEBRIDGE_THREADS",
                "default: 8",
                "INVOICEBRIDGE_METRICS_PORT",
                "INVOICEBRIDGE_LOG_FORMAT",
            ],
        ),
    ],
)
def test_help_names_each_variable_and_default(command: str, shown: list[str]) -> None:
    done = _cli("-m", "invoicebridge", command, "--help")
    text = " ".join(done.stdout.split())  # argparse wraps lines
    for expected in shown:
        assert expected in text, expected


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> object:
    yield None
    structlog.reset_defaults()
    configure_logging("info", "json")


def test_logs_are_json_when_not_a_terminal(restore_logging: object) -> None:
    out = io.StringIO()
    configure_logging("info", "auto", stream=out)
    structlog.get_logger("t").info("job_done", order="1001")
    line = json.loads(out.getvalue().splitlines()[-1])
    assert line["event"] == "job_done" and line["order"] == "1001"


def test_logs_are_for_a_person_on_a_terminal_and_still_redacted(restore_logging: object) -> None:
    out = _Terminal()
    configure_logging("info", "auto", stream=out)
    structlog.get_logger("t").info("job_done", note="card 4111111111111111")
    text = out.getvalue()
    assert "job_done" in text and not text.lstrip().startswith("{")
    assert "4111111111111111" not in text and "[card …1111]" in text


def test_console_format_can_be_asked_for_on_a_pipe(restore_logging: object) -> None:
    out = io.StringIO()
    configure_logging("warning", "console", stream=out)
    log = structlog.get_logger("t")
    log.info("hidden")
    log.warning("shown", n=1)
    assert "hidden" not in out.getvalue() and "shown" in out.getvalue()
    assert not out.getvalue().lstrip().startswith("{")


def test_auto_picks_by_the_stream() -> None:
    assert (resolve_format("auto", _Terminal()), resolve_format("auto", io.StringIO())) == (
        "console",
        "json",
    )
    with pytest.raises(ValueError, match="log format"):
        resolve_format("xml", io.StringIO())


@pytest.mark.parametrize("argv", [["sandbox", "smtp", "--port", "0"], ["demo"]])
def test_a_missing_sandbox_extra_is_one_clear_line(argv: list[str]) -> None:
    hide = (
        "import sys; sys.modules['aiosmtpd'] = None; "
        "from invoicebridge.cli import main; sys.exit(main())"
    )
    done = _cli(*argv, code=hide)
    assert done.returncode == 2
    assert "pip install 'invoicebridge[sandbox]'" in done.stderr
    assert "Traceback" not in done.stderr


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The CLI's parser and every subcommand's, however deep."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_help_text_shows_each_default() -> None:
    checked = 0
    for parser in _parsers(build_parser()):
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            default = action.default
            if not action.option_strings or default in (None, False, argparse.SUPPRESS):
                continue
            assert str(default) in text, f"{parser.prog} {action.option_strings[0]}: {default}"
            checked += 1
    assert checked >= 25  # a walk that found no subcommands would pass vacuously


def _raise_with_a_card(card_number: str) -> None:
    api_secret = "sk_live_abcdefghijklmnop"  # noqa: F841 (a local a rich traceback would show)
    raise ValueError(f"declined: {card_number}")


@pytest.mark.parametrize("stream", [io.StringIO, _Terminal], ids=["json", "console"])
def test_a_logged_exception_leaks_no_card_number_or_local(
    restore_logging: object, stream: type[io.StringIO]
) -> None:
    out = stream()
    configure_logging("info", "auto", stream=out)
    try:
        _raise_with_a_card("4111111111111111")
    except ValueError:
        structlog.get_logger("t").exception("charge_failed")
    text = out.getvalue()
    assert "charge_failed" in text and "declined" in text and "ValueError" in text
    assert "4111111111111111" not in text and "sk_live_abcdefghijklmnop" not in text
