"""The micro benchmark section of BENCHMARKS.md: pytest-benchmark JSON and pyinstrument
frames in, markdown out (the benchmarks themselves run in `make bench`, not here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pyinstrument.frame import Frame

from benchmarks import micro
from benchmarks.profiling import Summary, step_shares, top_self

FAKE_REPORT: dict[str, Any] = {
    "machine_info": {"cpu": {"brand_raw": "Test CPU 9000"}},
    "benchmarks": [
        {
            "name": "test_verify[shopify]",
            "extra_info": {"label": "verify signature: shopify"},
            "stats": {"median": 0.0000361, "rounds": 19_009},
        },
        {
            "name": "test_parse[woocommerce]",
            "extra_info": {},
            "stats": {"median": 0.000807, "rounds": 894},
        },
    ],
}


def test_micro_table_has_a_row_per_benchmark_with_median_ops_rounds_and_before() -> None:
    lines = micro.render_micro(FAKE_REPORT, {"test_parse[woocommerce]": 0.000993}, "2026-11-25")
    assert "| benchmark | median µs | ops/s | rounds | before µs |" in lines
    assert "| verify signature: shopify | 36.1 | 27,701 | 19,009 |  |" in lines
    # no label: the test's name; a before figure fills the last column
    assert "| test_parse[woocommerce] | 807 | 1,239 | 894 | 993 |" in lines
    assert any("Test CPU 9000" in line and "2026-11-25" in line for line in lines)


def test_runs_combine_into_median_of_medians_and_all_rounds() -> None:
    slow = {
        **FAKE_REPORT,
        "benchmarks": [
            {**b, "stats": {"median": b["stats"]["median"] * k, "rounds": 10}}
            for b, k in zip(FAKE_REPORT["benchmarks"], (3, 1), strict=True)
        ],
    }
    combined = micro.combine([FAKE_REPORT, slow, FAKE_REPORT])
    assert micro.medians(combined) == micro.medians(FAKE_REPORT)
    assert [b["stats"]["rounds"] for b in combined["benchmarks"]] == [38_028, 1_798]
    assert combined["machine_info"] == FAKE_REPORT["machine_info"]


def test_medians_are_read_by_benchmark_name() -> None:
    assert micro.medians(FAKE_REPORT) == {
        "test_verify[shopify]": 0.0000361,
        "test_parse[woocommerce]": 0.000807,
    }


def test_profile_section_sets_before_beside_after_and_lists_the_changes() -> None:
    before = Summary(
        2.0,
        top=[("epoll.poll (<built-in>:0)", 0.094)],
        steps={"log line (structlog)": 0.049},
        figures={"requests_per_s": 463.0},
    )
    after = Summary(
        2.0,
        top=[("socket.send (<built-in>:0)", 0.085)],
        steps={"log line (structlog)": 0.021},
        figures={"requests_per_s": 555.0, "ignored_figure": 1.0},
    )
    lines = micro.render_profile({"receiver": before}, {"receiver": after})
    assert "| requests/s (without the profiler) | 463 | 555 |" in lines
    assert "| log line (structlog) | 4.9 % | 2.1 % |" in lines
    assert "| 1 | `epoll.poll (<built-in>:0) 9.4 %` | `socket.send (<built-in>:0) 8.5 %` |" in lines
    assert not any("ignored_figure" in line for line in lines)
    numbered = [line for line in lines if re.match(r"\d+\. ", line)]
    assert len(numbered) == len(micro.CHANGES)


def test_profile_without_a_before_leaves_that_column_empty() -> None:
    after = Summary(1.0, top=[("f (a.py:1)", 0.5)], steps={"parse": 0.25})
    lines = micro.render_workload("parse", None, after)
    assert "| parse |  | 25.0 % |" in lines
    assert "| 1 | `` | `f (a.py:1) 50.0 %` |" in lines


def test_before_figures_round_trip_through_json(tmp_path: Path) -> None:
    summary = Summary(3.5, [("f (a.py:1)", 0.25)], {"parse": 0.5}, {"us_per_round": 10.0})
    path = tmp_path / "before.json"
    path.write_text(json.dumps({"micro": {"test_x": 0.001}, "parse": summary.to_json()}))
    assert micro.load_before(path) == ({"test_x": 0.001}, {"parse": summary}, "")
    assert micro.load_before(tmp_path / "missing.json") == ({}, {}, "")


def _frame(function: str, path: str, seconds: float, *children: Frame) -> Frame:
    frame = Frame(f"{function}\x00{path}\x001", children=list(children))
    frame.time = seconds  # what the session's records would add up to
    return frame


def test_steps_count_nested_calls_once_and_top_ranks_self_time() -> None:
    inner = _frame("dumps", "/w/idoklad/wire.py", 1.0)
    outer = _frame("dumps", "/w/idoklad/wire.py", 3.0, inner)
    parse = _frame("parse", "/w/handlers/sources/shopify.py", 4.0)
    root = _frame("run", "/w/bench.py", 10.0, outer, parse)
    shares = step_shares(
        root,
        {"dumps": (("idoklad/wire.py", "dumps"),), "parse": (("sources/shopify.py", "parse"),)},
    )
    assert shares == {"dumps": 0.3, "parse": 0.4}
    top = top_self(root, count=2)
    assert top == [("parse (/w/handlers/sources/shopify.py:1)", 0.4), ("run (/w/bench.py:1)", 0.3)]
