"""The shared progress bar: drawn on a terminal, silent on anything else, never empty."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from invoicebridge.progress import progress_bar

BAR = "━"


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(force_terminal=True, file=out, width=100), out


def test_a_terminal_gets_a_bar_with_done_of_total() -> None:
    console, out = terminal()
    with progress_bar("events pruned", total=5, console=console) as bar:
        for done in range(1, 6):
            bar.update(done)
    shown = out.getvalue()
    assert BAR in shown and "5/5" in shown and "events pruned" in shown


def test_a_total_learned_on_the_way_is_shown() -> None:
    console, out = terminal()
    with progress_bar("events settled", console=console) as bar:
        bar.update(2, total=7)
        bar.advance(5)
    assert "7/7" in out.getvalue()


def test_a_pipe_gets_nothing_at_all() -> None:
    """Not a terminal: no bar, no control characters, not even a blank line."""
    out = io.StringIO()
    with progress_bar("webhooks sent", total=3, console=Console(file=out)) as bar:
        for done in range(1, 4):
            bar.update(done)
    assert out.getvalue() == ""


def test_work_that_fails_before_its_first_unit_leaves_no_bar() -> None:
    console, out = terminal()
    with pytest.raises(ConnectionError), progress_bar("retrying", total=3, console=console):
        raise ConnectionError("Redis unreachable")
    assert BAR not in out.getvalue()
