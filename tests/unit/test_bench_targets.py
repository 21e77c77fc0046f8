"""The benchmark summary says plainly whether each target was met, and by how much not."""

from __future__ import annotations

from benchmarks.targets import Target, summary


def test_higher_is_better_targets() -> None:
    assert Target("ingest", 3000, 3100, "webhooks/s").verdict() == "met"
    missed = Target("ingest", 3000, 750, "webhooks/s")
    assert not missed.met and missed.verdict() == "**missed**, 4.0× off"


def test_lower_is_better_targets() -> None:
    assert Target("rss", 150, 69, "MB", higher_is_better=False).met
    slow = Target("cpu", 2, 5, "ms", higher_is_better=False)
    assert slow.verdict() == "**missed**, 2.5× off"
    assert slow.row() == "| cpu | ≤ 2 ms | 5 ms | **missed**, 2.5× off |"


def test_summary_is_a_markdown_table_with_every_target() -> None:
    lines = summary([Target("a", 1, 2, "x"), Target("b", 1, 0.5, "y", higher_is_better=False)])
    assert lines[:4] == [
        "## Targets",
        "",
        "| target | goal | this run | verdict |",
        "|---|---:|---:|---|",
    ]
    assert lines[4].startswith("| a |") and lines[5].startswith("| b |")
