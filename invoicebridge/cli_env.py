"""The CLI's parser conventions: every option's default shown in `--help`, and options that
may come from the environment (a flag wins, then `INVOICEBRIDGE_<NAME>`, then the default;
`--help` names the variable).

Containers and systemd units set environment variables more easily than argv, so `serve` and
`worker` take their host, port, config file and log settings from either.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

PREFIX = "INVOICEBRIDGE_"


class DefaultsShown(argparse.HelpFormatter):
    """Each option's help ends with its default, unless it says it already (an env_option
    does) or there is none to show (None, a switch's False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if "default:" in text or "%(default)" in text or action.option_strings == []:
            return text
        if not _shows(default):
            return text
        return f"{text} (default: %(default)s)".lstrip()


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose help shows defaults; subcommands' parsers are of the same class
    (argparse makes them with the parent's), so every level of the CLI gets it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsShown)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """An option with no help text still shows its default (argparse would show nothing)."""
        action = super().add_argument(*args, **kwargs)
        if action.help is None and action.option_strings:
            action.help = ""
            if _shows(action.default):
                action.help = "(default: %(default)s)"
        return action


def _shows(default: object) -> bool:
    return default is not None and default is not False and default is not argparse.SUPPRESS


def _number(text: str, kind: Callable[[str], float], low: float, high: float, what: str) -> Any:
    """`text` as a `kind` between `low` and `high`, or a usage error that says `what` it must be."""
    try:
        number = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not low <= number <= high:
        raise argparse.ArgumentTypeError(f"{text} is not {what}")
    return number


def port(text: str) -> int:
    """A TCP port number, 1-65535."""
    result: int = _number(text, int, 1, 65535, "a port number (1-65535)")
    return result


def positive_int(text: str) -> int:
    """A whole number, 1 or more."""
    result: int = _number(text, int, 1, math.inf, "a whole number, 1 or more")
    return result


def seconds(text: str) -> float:
    """A duration in seconds, 0 or more."""
    result: float = _number(text, float, 0, math.inf, "a number of seconds, 0 or more")
    return result


def one_of(choices: Sequence[str]) -> Callable[[str], str]:
    """One of `choices` (checked here: argparse does not check a default against them)."""

    def chosen(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(choices)}")
        return text

    return chosen


def _from_env(convert: Callable[[str], Any], env: str) -> Callable[[str], Any]:
    """`convert`, with the variable named in its error (argparse only names the flag)."""

    def checked(text: str) -> Any:
        try:
            return convert(text)
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(f"{exc} (from the flag or ${env})") from None

    checked.__name__ = getattr(convert, "__name__", "value")
    return checked


def env_option(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    default: Any,
    help: str,
    convert: Callable[[str], Any] = str,
    choices: Sequence[str] | None = None,
    shown_default: str | None = None,
    metavar: str | None = None,
) -> str:
    """Add `flag`, read from `INVOICEBRIDGE_<FLAG>` when not given; returns the variable's name.

    The variable's text goes through the same conversion as the flag's (argparse converts a
    string default only when the flag is absent), so a bad value is a usage error that names
    the variable, and only for the subcommand that reads it.
    """
    env = PREFIX + flag.lstrip("-").replace("-", "_").upper()
    raw = os.environ.get(env)
    shown = shown_default if shown_default is not None else str(default)
    if choices is not None:
        convert = one_of(choices)
        metavar = metavar or "{" + ",".join(choices) + "}"
    parser.add_argument(
        flag,
        default=raw if raw else default,
        type=_from_env(convert, env),
        metavar=metavar,
        help=f"{help} [env {env}; default: {shown}]",
    )
    return env
