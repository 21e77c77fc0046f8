"""Micro figures and hot-path profiles for BENCHMARKS.md: `run(workdir)` returns its section.

The micro benchmarks are pytest-benchmark tests (benchmarks/test_micro.py), run here in a
child pytest with `--benchmark-json`; the table is rendered from that JSON. The profiles are
pyinstrument runs (benchmarks/hotpaths.py). Both are set beside the figures measured the
same way on the code before the optimisations listed in `CHANGES`, kept in
benchmarks/profiles/before.json, so a reader sees what each change bought.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.hotpaths import profile_map, profile_parse, profile_receiver
from benchmarks.profiling import PROFILES, Summary, percent

ROOT = Path(__file__).resolve().parents[1]
TESTS = "benchmarks/test_micro.py"
RUNS = 3  #: runs of the suite, ~12 s each
BEFORE = PROFILES / "before.json"
WORKLOADS = {
    "receiver": "Receiver request path: signed 2-line Shopify orders posted 8 at a time to the "
    "in-process receiver (real Redis, dramatiq, JSON logging at info)",
    "parse": "verify + parse + validate one 50-line order from each of the four sources",
    "map": "map the 50-line order to the iCount, iDoklad and iCash bodies and encode them",
}
#: what the profiles showed and what was done about it; the figures are in the tables
CHANGES = (
    "WooCommerce `_absorb` copied every item line (`model_copy`) to add a zero credit; it now "
    "copies only a line whose discount or tax changes, to the Decimal's exponent "
    "(`compare_total`), so the canonical order is identical (parse woocommerce).",
    "iDoklad `dumps` built a string per nesting level and a `json.dumps` encoder per string; "
    "it now appends to one list and calls json's C string encoders directly, byte-identical "
    "output (encode iDoklad).",
    "`money.quantum` rebuilt `Decimal(1).scaleb(-exponent)` for every amount quantised; it "
    "is cached per currency, and `parse_amount` takes a Decimal as it is instead of a trip "
    "through `str` (map iDoklad, iCount).",
    "iDoklad's totals rule looked up `VatRateType(int(...))` and `PriceType(int(...))` for "
    "every item through Enum's call (0.4 µs each); it now finds the member by value first "
    "(0.2 µs), "
    "unknown values still raising ValueError (map iDoklad).",
    "`redact_text` ran four regex substitutions over every value of every log line; a cheap "
    "test that none of them can match (no 13 digits once spaces and dashes are gone, no "
    "`bearer`, `whsec_` or `=`) now returns the text as is (a receiver log line: 30 -> 18 µs).",
    "The receiver hands each message to dramatiq on a pool of its own (`ib-enqueue`, 4 "
    "threads) instead of `asyncio.to_thread`'s default pool, which a bulk retry of 10,000 "
    "events fills with its own sends; same context copy, so log lines keep the event. On "
    "the Redis broker it no longer uses threads at all: it runs dramatiq's dispatch script "
    "on its asyncio client (`worker.runtime.broker.async_sender`); the pool is RabbitMQ's.",
    "A webhook is recorded, queued and marked queued by one Redis command: the ledger's "
    "record script runs dramatiq's dispatch script as a local function "
    "(`worker.runtime.broker.record_and_queue`), where the receiver made three calls.",
    "The record scripts of the requests that arrive on one turn of the event loop go to "
    "Redis as one pipeline (group commit, `worker.ledger.batch.ScriptBatch`).",
    "`money.bounded` returns an amount that has no more places than allowed as written at "
    "once, without spelling its digits out, and `read_amount` takes an amount written with "
    'few enough digits ("59.90") as it is (every amount of every parse).',
    "A log line's values are checked for secrets once, joined, instead of one by one "
    "(`redact`: 19 -> 10 µs), and the card-number shortcut is one regex rather than a copy "
    "of the text without separators.",
    "A request's headers are looked up in aiohttp's case-insensitive multidict instead of "
    "walked and lower-cased for every lookup (about 6 -> 1.2 µs each).",
    "`refuse_large` compares each amount with the bound in whole units of its currency; an "
    "event id encodes only the base32 blocks it uses.",
    "The receiver no longer parses a platform's delivery in full (DESIGN step 5): it reads "
    "the ids it dedupes by, masks the body on its text (`handlers.kept_body`: one pass over "
    "the JSON it read, the texts searched together at C speed, edits only where a secret or "
    "a card number stands) and records it; the worker reads it with the same parsers "
    "(receiver pure path, worker read).",
    "JSON bodies are read with msgspec, numbers by the same Decimal rule (46 -> 21 µs for "
    "the bench body, 467 -> 226 µs for 50 lines); json reads only what msgspec refuses (NaN, "
    "a lone surrogate's escape) and says where invalid JSON fails. A body with no escapes has "
    "its keys told by counting colons instead of a regex search (`kept_text` 115 -> 93 µs).",
)
LEFT_ALONE = (
    "What still dominates the receiver is aiohttp itself with our five middlewares, then "
    "masking the body: the one pass over the parsed value that gathers its texts and keys "
    "now costs twice the JSON decoding. Masking "
    "with byte searches on the raw body instead was measured and not kept: on this CPU every "
    "search of a 7 kB body costs 3-15 µs, and the secret names alone need one each. Then "
    "the redis-py client for the one command, and the log line."
)


def run_benchmarks(json_path: Path) -> dict[str, Any]:
    """Run benchmarks/test_micro.py in a child pytest; its pytest-benchmark JSON report."""
    argv = [
        sys.executable,
        "-m",
        "pytest",
        TESTS,
        "-q",
        "-p",
        "no:cacheprovider",
        f"--benchmark-json={json_path}",
    ]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"micro benchmarks failed:\n{done.stdout[-3000:]}{done.stderr}")
    return dict(json.loads(json_path.read_text()))


def combine(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One report from several runs of the suite: a benchmark's median is the median of the
    runs' medians (one run can hit a busy shared machine), its rounds their sum."""
    benchmarks = []
    for bench in reports[0].get("benchmarks", []):
        runs = [b["stats"] for r in reports for b in r["benchmarks"] if b["name"] == bench["name"]]
        stats = {
            "median": statistics.median(float(s["median"]) for s in runs),
            "rounds": sum(int(s["rounds"]) for s in runs),
        }
        benchmarks.append({**bench, "stats": stats})
    return {**reports[0], "benchmarks": benchmarks}


def medians(report: Mapping[str, Any]) -> dict[str, float]:
    """Benchmark name -> median seconds."""
    return {str(b["name"]): float(b["stats"]["median"]) for b in report.get("benchmarks", [])}


def _micro_seconds(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}" if seconds < 1e-4 else f"{seconds * 1e6:,.0f}"


def render_micro(
    report: Mapping[str, Any], before: Mapping[str, float], measured: str = ""
) -> list[str]:
    """The micro table: one row per benchmark, in run order; `before` adds a column."""
    machine = report.get("machine_info", {})
    lines = [
        "### Micro benchmarks (pytest-benchmark)",
        "",
        f"`.venv/bin/pytest {TESTS}`; {machine.get('cpu', {}).get('brand_raw', 'CPU')}. "
        f"median: the median of {RUNS} runs' medians; ops/s is 1 / median; rounds: all "
        "runs'. *before*: the same benchmark on the code before the "
        f"changes listed under Profile, measured {measured or 'earlier'} on this machine "
        "in another run, so a difference under ~10 % is noise.",
        "",
        "| benchmark | median µs | ops/s | rounds | before µs |",
        "|---|---:|---:|---:|---:|",
    ]
    for bench in report.get("benchmarks", []):
        median = float(bench["stats"]["median"])
        label = bench.get("extra_info", {}).get("label") or bench["name"]
        old = before.get(str(bench["name"]))
        was = "" if old is None else _micro_seconds(old)
        lines.append(
            f"| {label} | {_micro_seconds(median)} | {1 / median:,.0f} | "
            f"{bench['stats']['rounds']:,} | {was} |"
        )
    return [*lines, ""]


def _figures(before: Summary | None, after: Summary) -> list[str]:
    names = {
        "requests_per_s": "requests/s (without the profiler)",
        "cpu_us_per_request": "process CPU µs per request (all threads)",
        "us_per_round": "µs per round (under the profiler)",
    }
    rows = []
    for key, value in after.figures.items():
        if key in names:
            old = "" if before is None else f"{before.figures.get(key, float('nan')):,.0f}"
            rows.append(f"| {names[key]} | {old} | {value:,.0f} |")
    return rows


def _steps(before: Summary | None, after: Summary) -> list[str]:
    rows = []
    for label, share in after.steps.items():
        old = "" if before is None or label not in before.steps else percent(before.steps[label])
        rows.append(f"| {label} | {old} | {percent(share)} |")
    return rows


def _top(before: Summary | None, after: Summary) -> list[str]:
    old = before.top if before is not None else []
    rows = []
    for n in range(max(len(old), len(after.top))):
        was = f"{old[n][0]} {percent(old[n][1])}" if n < len(old) else ""
        now = f"{after.top[n][0]} {percent(after.top[n][1])}" if n < len(after.top) else ""
        rows.append(f"| {n + 1} | `{was}` | `{now}` |")
    return rows


def render_workload(name: str, before: Summary | None, after: Summary) -> list[str]:
    """One profiled workload: its figures, its steps' shares and its top 5 frames."""
    return [
        "",
        f"#### {WORKLOADS.get(name, name)}",
        "",
        f"Call trees: `benchmarks/profiles/{name}.txt` (before: `{name}-before.txt`).",
        "",
        "| figure / step (inclusive share of the sampled thread) | before | after |",
        "|---|---:|---:|",
        *_figures(before, after),
        *_steps(before, after),
        "",
        "| top self time | before | after |",
        "|---|---|---|",
        *_top(before, after),
    ]


def render_profile(before: Mapping[str, Summary], after: Mapping[str, Summary]) -> list[str]:
    """The Profile subsection: method, each workload before and after, and the changes."""
    lines = [
        "### Profile (pyinstrument)",
        "",
        "Sampled with pyinstrument (async mode off: a coroutine waiting for Redis is "
        "idle in `select`, so shares are CPU on the sampled thread). Shares are of the "
        "whole profiled run; the profiler slows Python calls, so throughput figures come "
        "from an unprofiled pass of the same workload. *before* is the code before the "
        "changes below (benchmarks/profiles/before.json), from another run: on this "
        "shared machine the receiver's requests/s moves by ±20 % between runs, so read "
        "the changes in the micro rows first. Garbage collection is charged to the frame "
        "that allocates, so json's and pydantic's shares move with it (change 1 halved "
        "the gen-0 collections of the parse workload).",
    ]
    for name, summary in after.items():
        lines += render_workload(name, before.get(name), summary)
    lines += ["", "#### What the profiles led to", ""]
    lines += [f"{n}. {change}" for n, change in enumerate(CHANGES, start=1)]
    return [*lines, "", LEFT_ALONE, ""]


def load_before(path: Path = BEFORE) -> tuple[dict[str, float], dict[str, Summary], str]:
    """The figures measured before the optimisations: micro medians, profile summaries, and
    when they were measured."""
    if not path.exists():
        return {}, {}, ""
    data = json.loads(path.read_text())
    summaries = {name: Summary.from_json(data[name]) for name in WORKLOADS if name in data}
    micro = {str(k): float(v) for k, v in data.get("micro", {}).items()}
    return micro, summaries, str(data.get("measured", ""))


def profile_all(workdir: Path, suffix: str = "") -> dict[str, Summary]:
    """Every workload profiled now; text call trees saved as `<workload><suffix>.txt`."""
    return {
        "receiver": profile_receiver(workdir / "receiver", "receiver" + suffix),
        "parse": profile_parse("parse" + suffix),
        "map": profile_map("map" + suffix),
    }


def run(workdir: Path) -> list[str]:
    """Markdown lines for BENCHMARKS.md: the micro table, then the Profile subsection."""
    workdir.mkdir(parents=True, exist_ok=True)
    report = combine([run_benchmarks(workdir / f"micro-{n}.json") for n in range(RUNS)])
    micro_before, profiles_before, measured = load_before()
    after = profile_all(workdir)
    return [*render_micro(report, micro_before, measured), *render_profile(profiles_before, after)]


def save_before(workdir: Path) -> None:  # pragma: no cover
    """Measure the current code as the *before* of a round of optimisations (by hand)."""
    reports = [run_benchmarks(workdir / f"micro-{n}.json") for n in range(RUNS)]
    micro = medians(combine(reports))
    summaries = profile_all(workdir, "-before")
    data = {
        "measured": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "micro": micro,
        **{k: v.to_json() for k, v in summaries.items()},
    }
    BEFORE.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":  # pragma: no cover - `python -m benchmarks.micro --save-before`
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ib-micro-") as tmp:
        if sys.argv[1:] == ["--save-before"]:
            save_before(Path(tmp))
        else:
            print("\n".join(run(Path(tmp))))
