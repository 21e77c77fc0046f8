"""The targets the issues set, each beside the figure this run measured, for the summary
table at the top of BENCHMARKS.md. A missed target says by how much; the text says why."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    what: str
    goal: float
    measured: float
    unit: str
    higher_is_better: bool = True

    @property
    def met(self) -> bool:
        if self.higher_is_better:
            return self.measured >= self.goal
        return self.measured <= self.goal

    def verdict(self) -> str:
        if self.met:
            return "met"
        factor = self.goal / self.measured if self.higher_is_better else self.measured / self.goal
        return f"**missed**, {factor:.1f}× off"

    def row(self) -> str:
        sign = "≥" if self.higher_is_better else "≤"
        return (
            f"| {self.what} | {sign} {self.goal:,.4g} {self.unit} | "
            f"{self.measured:,.4g} {self.unit} | {self.verdict()} |"
        )


@dataclass
class Section:
    """One benchmark's markdown and the targets it measured."""

    lines: list[str]
    targets: list[Target] = field(default_factory=list)


def summary(targets: list[Target]) -> list[str]:
    return [
        "## Targets",
        "",
        "| target | goal | this run | verdict |",
        "|---|---:|---:|---|",
        *(t.row() for t in targets),
        "",
    ]
