"""Run every benchmark and write BENCHMARKS.md: `python -m benchmarks` (what `make bench` runs)."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import bulk_retry, compressed, end_to_end, ingest, micro
from benchmarks.targets import Section, summary

ROOT = Path(__file__).resolve().parents[1]

#: why the targets that are missed are missed: where the time goes, from the profiles below
WHY = """## Where the time goes

The profiles (py-spy on the live processes, pyinstrument in `benchmarks/profiles/`) agree:

- **The receiver** is measured with wrk (an external load generator in C: the Python one this
  replaced capped the bare server at about 7,600/s and so flattered the ratio). Since this
  round it writes each webhook with one Redis command: the ledger's record script runs
  Dramatiq's own dispatch script (its text unchanged) and marks the event queued, where it
  took three (record, dispatch, mark queued): about 1.3 times the webhooks per second and
  0.80 ms of CPU per webhook instead of 0.98 ms, in runs side by side. The requests that
  arrive on one turn of the event loop then share one pipeline (group commit,
  `worker/ledger/batch.py`): another 1.16 times, 0.69 ms per webhook; smaller cuts (the log
  line's redaction, header lookups, amounts, ids) about 3 % more. What remains is, by the
  py-spy profile, under half parsing and validating the whole order (JSON with exact
  decimals, 10 %; pydantic and the canonical order's validators), 8 % the Redis call, and
  aiohttp, HMAC and the log line. A faster JSON decoder (msgspec, with a Decimal hook) was
  measured at 26 against 52 µs for this body, about 4 % of the receiver's CPU; not added.
  Leaving the parse to the worker was measured and not kept: the body must still be read as
  JSON to mask card numbers and secret-named keys before it is stored, which saves only
  about a third of the parse here while every order is then parsed again in a worker (the
  micro section below has the figures). Receivers scale out behind a load balancer (they
  share nothing but Redis).
- **The workers**: py-spy on a worker process (1 × 24 threads, 50 ms iCount, samples taken
  while it holds the GIL, each counted by the innermost library it is in) puts about 35 % in
  the redis-py client, 25 % in asyncio and thread hand-offs (Dramatiq runs each message on a
  thread that waits for the asyncio loop), 21 % in our code, 9 % in aiohttp's client (the
  iCount call), 6 % in pydantic (reading the stored event back) and 4 % in Dramatiq. An
  order is ten round trips (Redis MONITOR on one order): pick up the event, lock, mark it
  running, read the order's state, keep its snapshot and payment (one transaction since this
  round, two before), start the step, finish it, mark the event done, unlock, and Dramatiq's
  ack; fetches come in batches. An earlier round removed six (one script to start a step,
  one to pick up an event, the order's reads in one pipeline) and added the hiredis parser.
  Folding the remaining writes together would save about 80 µs each; the hand-offs would
  need batching across orders, which Dramatiq's one-message actors do not offer.
- **On this machine** the load generator, Redis and the sandbox share the same two cores
  with the processes measured, so every rate here is a lower bound, and the end-to-end
  runs are CPU-bound long before the 50 ms latency bound.
"""


def main() -> int:
    header = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (`python -m benchmarks`); figures from one run on one machine, "
        "measured side by side. The machine is shared, so compare rows within a run.",
        "",
        f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="ib-bench-") as workdir:
        base = Path(workdir)
        sections: list[Section] = [
            ingest.run(base / "ingest"),
            end_to_end.run(base / "e2e"),
            bulk_retry.run(base / "bulk-retry"),
            compressed.run(base / "compressed"),
            Section(micro.run(base / "micro")),
        ]
    targets = [target for section in sections for target in section.targets]
    body = [line for section in sections for line in section.lines]
    text = "\n".join([*header, *summary(targets), WHY, "## Figures", "", *body])
    (ROOT / "BENCHMARKS.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
