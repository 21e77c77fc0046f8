"""Run every benchmark and write BENCHMARKS.md: `python -m benchmarks` (what `make bench` runs)."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import bulk_retry, micro

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    header = [
        "# Benchmarks", "",
        "Produced by `make bench` (`python -m benchmarks`); figures from one run on one machine, "
        "measured side by side. The machine is shared, so compare rows within a run.", "",
        f"- run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ib-bench-") as workdir:
        sections = bulk_retry.run(Path(workdir) / "bulk-retry")
        sections += micro.run(Path(workdir) / "micro")
    text = "\n".join([*header, *sections])
    (ROOT / "BENCHMARKS.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
