"""The CLI is lazy: `serve` and `worker` load none of the demo's, the tests' or the chaos
suite's machinery (nor playwright or pika), so a production process imports only what it runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from invoicebridge.cli import SUBCOMMANDS, build_parser

#: packages a receiver or worker process must never import
HEAVY = (
    "invoicebridge.chaos",
    "invoicebridge.loadgen",
    "invoicebridge.stack",
    "invoicebridge.samples",
    "invoicebridge.demo",
    "playwright",
    "pika",
)

PROBE = """
import json, sys
from invoicebridge.cli import build_parser, main
build_parser([{command!r}]).parse_args([{command!r}])
try:
    main([{command!r}, "--help"])
except SystemExit:
    pass
heavy = {heavy!r}
print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))
"""


def _loaded(command: str) -> list[str]:
    code = PROBE.format(command=command, heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_load_nothing_heavy(command: str) -> None:
    """Given a fresh interpreter, when it imports the CLI and builds and runs the parser for
    `serve` or `worker`, then no chaos, loadgen, stack, samples, demo, playwright or pika
    module is loaded."""
    assert _loaded(command) == []


def test_the_probe_would_see_a_heavy_import() -> None:
    """The check is not vacuous: building `chaos`'s parser does load the chaos package."""
    assert "invoicebridge.chaos" in _loaded("chaos")


def test_usage_is_the_same_whichever_subcommand_is_set_up() -> None:
    """A parser set up for one subcommand shows the same usage line (every subcommand's name)
    as the full parser, so errors read the same."""
    full = build_parser().format_usage()
    for name, _ in SUBCOMMANDS:
        assert build_parser([name]).format_usage() == full
