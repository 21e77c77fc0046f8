"""Scripted faults for every sandbox: per-path plans (after aiohttp's status sequences).

A plan is `{"path": "doc/create", "plan": [...], "match": "...", "hang_s": 30,
"retry_after": "5"}`; each API call to `path` (`"*"` = any) whose raw body contains
`match` consumes the plan's next entry. A plan's `path` is first put in the sandbox's
own form by its `path_of` (iCount drops a leading `/api/v3.php/`, iCash
`/clientapi/v1/`, iDoklad `/v2/`). Entries:

- an int: answer that HTTP status with a JSON error body, no side effect (200 = serve normally);
  `retry_after` (if given) is sent as `Retry-After` with a 429;
- `"timeout-after-commit"`: do the work, then hold the answer for `hang_s` seconds;
- `"disconnect-after-commit"`: do the work, then close the connection without an answer;
- `"too-many-requests"`: plain text "Too many requests" with HTTP 200, no side effect;
- `{"latency_ms": N}`: wait, then serve normally (the work is committed after the wait).

Global knobs, in the same JSON: `latency_ms` (every API call waits first),
`error_rate` (0..1: a random 503 before any work) and `seed` (for that randomness).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

StepKind = Literal["pass", "status", "timeout", "disconnect", "throttle", "latency"]

#: default seconds a "timeout-after-commit" holds its answer
DEFAULT_HANG_S = 30.0
_NAMED: dict[str, StepKind] = {
    "timeout-after-commit": "timeout",
    "disconnect-after-commit": "disconnect",
    "too-many-requests": "throttle",
}


@dataclass(frozen=True)
class FaultStep:
    """One scripted behaviour for one call."""

    kind: StepKind
    source: object  #: the plan entry as it was given, for GET /_sandbox/faults
    status: int = 200
    latency_ms: int = 0
    hang_s: float = DEFAULT_HANG_S
    retry_after: str | None = None


@dataclass
class FaultPlan:
    """The remaining steps for the calls to one path (optionally only bodies containing `match`)."""

    path: str
    steps: deque[FaultStep]
    match: str | None = None

    def applies(self, path: str, raw: bytes) -> bool:
        if not self.steps or self.path not in ("*", path):
            return False
        return self.match is None or self.match.encode() in raw


def strip_slashes(path: str) -> str:
    """The default `path_of`: `/doc/create/` and `doc/create` name the same method."""
    return path.strip("/")


def without_prefix(prefix: str) -> Callable[[str], str]:
    """A `path_of` for an API under `prefix`: `/<prefix>/x`, `<prefix>/x` and `x` are alike."""

    def path_of(path: str) -> str:
        return path.strip("/").removeprefix(prefix.strip("/") + "/")

    return path_of


def _number(spec: Mapping[str, Any], key: str, default: float, high: float | None = None) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key} must be a number >= 0")
    if high is not None and value > high:
        raise ValueError(f"{key} must be <= {high}")
    return float(value)


def _parse_step(entry: object, hang_s: float, retry_after: str | None) -> FaultStep:
    if isinstance(entry, int) and not isinstance(entry, bool):
        if not 100 <= entry <= 599:
            raise ValueError(f"{entry} is not an HTTP status")
        if entry == 200:
            return FaultStep("pass", entry)
        return FaultStep("status", entry, status=entry, retry_after=retry_after)
    if isinstance(entry, str) and entry in _NAMED:
        return FaultStep(_NAMED[entry], entry, hang_s=hang_s)
    if isinstance(entry, Mapping) and set(entry) == {"latency_ms"}:
        return FaultStep("latency", entry, latency_ms=int(_number(entry, "latency_ms", 0)))
    raise ValueError(f"unknown plan entry {entry!r}")


def parse_plan(spec: Mapping[str, Any], path_of: Callable[[str], str] = strip_slashes) -> FaultPlan:
    """A `FaultPlan` from its JSON form, its path in the sandbox's form (`path_of`).

    Raises:
        ValueError: a missing path, an empty plan or an unknown entry.
    """
    path, entries, match = spec.get("path"), spec.get("plan"), spec.get("match")
    path = path_of(path) if isinstance(path, str) else path
    if not isinstance(path, str) or not path:
        raise ValueError("path must name a method, e.g. doc/create")
    if not isinstance(entries, list) or not entries:
        raise ValueError("plan must be a non-empty list")
    if match is not None and not isinstance(match, str):
        raise ValueError("match must be a string")
    hang_s = _number(spec, "hang_s", DEFAULT_HANG_S)
    retry_after = spec.get("retry_after")
    retry_after = None if retry_after is None else str(retry_after)
    steps = deque(_parse_step(entry, hang_s, retry_after) for entry in entries)
    return FaultPlan(path, steps, match)


@dataclass
class Faults:
    """Every fault the sandbox is scripted to produce, consumed call by call."""

    plans: list[FaultPlan] = field(default_factory=list)
    latency_ms: int = 0
    error_rate: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    #: set on shutdown so answers held by "timeout-after-commit" are released at once
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    #: a plan's path in the form `take` is given (see the module's docstring)
    path_of: Callable[[str], str] = strip_slashes

    def configure(self, spec: Mapping[str, Any]) -> None:
        """Add a plan and/or set the global knobs. Raises `ValueError` on a bad spec."""
        plan = parse_plan(spec, self.path_of) if "path" in spec or "plan" in spec else None
        latency = _number(spec, "latency_ms", self.latency_ms)
        rate = _number(spec, "error_rate", self.error_rate, high=1.0)
        seed = spec.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | str)):
            raise ValueError("seed must be an integer or a string")
        if plan is not None:
            self.plans.append(plan)
        self.latency_ms, self.error_rate = int(latency), rate
        if seed is not None:
            self.rng.seed(seed)

    def clear(self) -> None:
        """Forget every plan and knob."""
        self.plans.clear()
        self.latency_ms, self.error_rate = 0, 0.0

    def take(self, path: str, raw: bytes) -> FaultStep | None:
        """The next scripted step for this call, if any plan applies (consumes it)."""
        for plan in self.plans:
            if plan.applies(path, raw):
                return plan.steps.popleft()
        return None

    def roll_error(self) -> bool:
        """Whether the random `error_rate` turns this call into a 503."""
        return self.error_rate > 0 and self.rng.random() < self.error_rate

    async def hold(self, seconds: float) -> None:
        """Sleep up to `seconds`, returning early when the sandbox shuts down."""
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def describe(self) -> dict[str, Any]:
        """The remaining plans and the knobs, as JSON."""
        plans = [
            {"path": p.path, "match": p.match, "remaining": [step.source for step in p.steps]}
            for p in self.plans
            if p.steps
        ]
        return {"plans": plans, "latency_ms": self.latency_ms, "error_rate": self.error_rate}
