"""The hashed locks `make lock` writes, read back: parsed, compared with each other and with
what is installed.

`requirements.lock` pins the whole development environment (runtime, the `sandbox` and `dev`
extras, and the build tools pip and setuptools) with the sha256 of every file PyPI serves for
each pinned version; `deploy/requirements.lock` (the image's runtime) and
`deploy/build-requirements.lock` (the image's build stage) are resolved with it as a
constraint, so each is a subset of it. `make install` installs it with
`pip --require-hashes --no-deps` and then runs `python -m tests.lockfile check`, which compares
`pip freeze` with the lock and fails the install on any difference.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
DEV_LOCK = REPO / "requirements.lock"
RUNTIME_LOCK = REPO / "deploy" / "requirements.lock"
BUILD_LOCK = REPO / "deploy" / "build-requirements.lock"

_PIN = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!-]+)"
    r"(?:\s*;\s*(?P<marker>[^\\]+?))?\s*"
)
_HASH = re.compile(r"--hash=sha256:(?P<digest>[0-9a-f]{64})")


@dataclass(frozen=True)
class Pin:
    """One locked package: its exact version, where it applies, and its files' hashes."""

    version: str
    marker: str | None
    hashes: frozenset[str]

    def applies(self) -> bool:
        """Whether this interpreter installs it (a universal lock names other platforms)."""
        return self.marker is None or Marker(self.marker).evaluate()


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Comments dropped and `\\` continuations joined; each with its first line's number."""
    joined: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        if pending.strip():
            joined.append((start, pending.strip()))
        pending = ""
    return joined


def parse_lock(text: str) -> dict[str, Pin]:
    """A hashed lock -> {canonical name: Pin}. A line that is not an exact pin with at least
    one hash, or a package pinned twice, is an error: pip's hash-checking mode would refuse it
    at install time, and this says so at test time."""
    pins: dict[str, Pin] = {}
    for number, line in _logical_lines(text):
        head, _, tail = line.partition(" --hash=")
        match = _PIN.fullmatch(head.strip())
        if match is None:
            raise ValueError(f"line {number}: not an exact pin: {head.strip()!r}")
        hashes = frozenset(m["digest"] for m in _HASH.finditer("--hash=" + tail if tail else ""))
        if not hashes:
            raise ValueError(f"line {number}: {match['name']} has no hash")
        name = canonicalize_name(match["name"])
        if name in pins:
            raise ValueError(f"line {number}: {name} is pinned twice")
        marker = match["marker"].strip() if match["marker"] else None
        pins[name] = Pin(match["version"], marker, hashes)
    return pins


def read_lock(path: Path) -> dict[str, Pin]:
    return parse_lock(path.read_text())


def parse_freeze(text: str) -> dict[str, str]:
    """`pip freeze --all --exclude-editable` output -> {canonical name: version}."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise ValueError(f"not installed from an index at an exact version: {line!r}")
        found[canonicalize_name(name)] = version
    return found


def drift(lock: dict[str, Pin], installed: dict[str, str]) -> list[str]:
    """Every difference between a lock and an environment, as sentences; none when equal."""
    wanted = {name: pin.version for name, pin in lock.items() if pin.applies()}
    problems = [
        f"{name} {installed[name]} is installed, the lock says {version}"
        for name, version in sorted(wanted.items())
        if name in installed and installed[name] != version
    ]
    problems += [
        f"{name} {version} is locked but not installed"
        for name, version in sorted(wanted.items())
        if name not in installed
    ]
    problems += [
        f"{name} {version} is installed but not locked"
        for name, version in sorted(installed.items())
        if name not in wanted
    ]
    return problems


def installed_now() -> dict[str, str]:
    """What this interpreter's environment holds, as `pip freeze` tells it (the project's own
    editable install left out: it is the source tree, not a locked package)."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return parse_freeze(frozen.stdout)


def main(argv: list[str]) -> int:
    if argv != ["check"]:
        print("usage: python -m tests.lockfile check", file=sys.stderr)
        return 2
    problems = drift(read_lock(DEV_LOCK), installed_now())
    for problem in problems:
        print(f"lock drift: {problem}", file=sys.stderr)
    if problems:
        print("the environment is not the lock: `make clean install` rebuilds it", file=sys.stderr)
        return 1
    print(f"environment matches {DEV_LOCK.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
