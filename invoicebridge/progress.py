"""Progress of long CLI work: a rich bar on a terminal, nothing at all when piped.

    with progress_bar("retrying", total=len(ids), console=console) as bar:
        await ops.retry(..., on_progress=bar.update)

Whether a bar is drawn is the console's call (`Console.is_terminal`). The default console
writes to stderr, so a bar never mixes with what a command prints on stdout (its tables,
its JSON), and a pipe or a log file gets no bar and no control characters. Tests pass
`Console(force_terminal=True, file=io.StringIO())` to see one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["Bar", "progress_bar", "progress_console"]


def progress_console() -> Console:
    """Where bars go unless told otherwise: stderr, apart from the command's own output."""
    return Console(stderr=True)


class Bar:
    """One piece of work's bar. It is drawn from the first unit reported, so a command that
    fails before doing any work leaves no empty bar behind; on a console that is not a
    terminal it is never drawn."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress, self._task = progress, task
        self.started = False

    def update(self, completed: int, total: int | None = None) -> None:
        """`completed` units are done so far (and `total`, when it becomes known or changes)."""
        self._progress.update(self._task, completed=completed, total=total)
        self._start()

    def advance(self, units: int = 1) -> None:
        """`units` more are done."""
        self._progress.advance(self._task, units)
        self._start()

    def _start(self) -> None:
        if not self.started:
            self.started = True
            self._progress.start()


@contextmanager
def progress_bar(
    description: str, total: int | None = None, *, console: Console | None = None
) -> Iterator[Bar]:
    """A bar of `total` units (None: not known yet) on `console` (default: stderr), drawn
    only if that console is a terminal; it stays on screen, as it ended, after the block."""
    console = progress_console() if console is None else console
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # stdout is left alone: what a command prints there must reach its pipe unchanged
    progress = Progress(
        *columns,
        console=console,
        disable=not console.is_terminal,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    bar = Bar(progress, progress.add_task(description, total=total))
    try:
        yield bar
    finally:
        if bar.started:
            progress.stop()
