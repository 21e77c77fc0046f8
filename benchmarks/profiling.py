"""Reading pyinstrument sessions into the few figures BENCHMARKS.md shows.

A profile says where the time went; BENCHMARKS.md keeps only what a reader acts on: the
functions with the most self time (the leaves that burn the CPU), and the inclusive time of
the named steps of a path (what each step costs, callees included). The full call trees are
kept as text in benchmarks/profiles/.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.frame import Frame
from pyinstrument.renderers import ConsoleRenderer

PROFILES = Path(__file__).resolve().parent / "profiles"
_REPO = f"{PROFILES.parents[1]}/"
_STDLIB = f"{Path(os.__file__).parent}/"
#: a step of a path: (a part of the file's path, the function's name)
Where = tuple[str, str]
#: the functions one step of a path is made of
Steps = tuple[Where, ...]


@dataclass
class Summary:
    """One profiled workload: its top self-time frames and the share of each named step."""

    total_s: float
    top: list[tuple[str, float]] = field(default_factory=list)  #: (frame, share of total)
    steps: dict[str, float] = field(default_factory=dict)  #: step label -> share of total
    figures: dict[str, float] = field(default_factory=dict)  #: e.g. requests per second

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Summary:
        top = [(str(name), float(share)) for name, share in data.get("top", [])]
        steps = {str(k): float(v) for k, v in data.get("steps", {}).items()}
        figures = {str(k): float(v) for k, v in data.get("figures", {}).items()}
        return cls(float(data["total_s"]), top, steps, figures)


def _walk(frame: Frame) -> Iterator[Frame]:
    stack = [frame]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)


def _short(path: str) -> str:
    """A file's path as a reader knows it: within the repo, a package or the standard library."""
    if "site-packages/" in path:
        return path.rsplit("site-packages/", 1)[1]
    for prefix in (_REPO, _STDLIB):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def _name(frame: Frame) -> str:
    return f"{frame.function} ({_short(frame.file_path or '?')}:{frame.line_no})"


def top_self(root: Frame, count: int = 5) -> list[tuple[str, float]]:
    """The `count` functions with the most self time, as (name, share of the whole run)."""
    spent: defaultdict[str, float] = defaultdict(float)
    for frame in _walk(root):
        if not frame.is_synthetic:
            spent[_name(frame)] += frame.total_self_time
    total = root.time or 1.0
    ranked = sorted(spent.items(), key=lambda item: -item[1])[:count]
    return [(name, seconds / total) for name, seconds in ranked]


def _matches(frame: Frame, where: Where) -> bool:
    suffix, function = where
    return frame.function == function and suffix in (frame.file_path or "")


def _inclusive(frame: Frame, wheres: Steps) -> float:
    """Time in calls of any of `wheres` under `frame`, each counted once (not again when
    one calls another, or itself)."""
    if any(_matches(frame, where) for where in wheres):
        return frame.time
    return sum(_inclusive(child, wheres) for child in frame.children)


def step_shares(root: Frame, steps: Mapping[str, Steps]) -> dict[str, float]:
    """Each step's inclusive time (summed over its functions) as a share of the whole run."""
    total = root.time or 1.0
    return {label: _inclusive(root, wheres) / total for label, wheres in steps.items()}


def summarise(profiler: Profiler, steps: Mapping[str, Steps]) -> Summary:
    """The summary of the profiler's last session (raises if it recorded nothing)."""
    session = profiler.last_session
    root = session.root_frame(trim_stem=False) if session else None
    if session is None or root is None:
        raise RuntimeError("the profiler recorded no samples")
    return Summary(session.duration, top_self(root), step_shares(root, steps))


def save_text(profiler: Profiler, name: str) -> Path:
    """The call tree and the flat self-time list, as text in benchmarks/profiles/<name>.txt."""
    PROFILES.mkdir(exist_ok=True)
    session = profiler.last_session
    assert session is not None
    options = {"filter_threshold": 0.01}  # frames under 1 % of the run are left out
    tree = ConsoleRenderer(unicode=False, color=False, processor_options=options).render(session)
    flat = ConsoleRenderer(unicode=False, color=False, flat=True).render(session)
    path = PROFILES / f"{name}.txt"
    flat_top = "\n".join(flat.splitlines()[:60])
    path.write_text(f"{tree}\n\n# flat, self time (top 60)\n\n{flat_top}\n")
    return path


def percent(share: float) -> str:
    return f"{share * 100:.1f} %"
