"""Checks for deploy/ that need no Docker engine: a Dockerfile lint and the config files.

No Docker engine runs where the tests run, so the image cannot be built here. What can be
checked is checked from the files: a handful of rules hadolint does not know about this project
(a numeric non-root USER, which Kubernetes' `runAsNonRoot` needs; dependencies copied and
installed before the source, so a code change does not reinstall them; locks installed with
their hashes). The locks themselves are read by tests/lockfile.py.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"


def secret_refs(config_text: str, scheme: str) -> set[str]:
    """The NAMEs (scheme "env") or PATHs ("file") of the secret references a TOML file makes
    in its values (comments, being no values, are not references)."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value.startswith(f"{scheme}:"):
            found.add(value[len(scheme) + 1 :])

    walk(tomllib.loads(config_text))
    return found


@dataclass(frozen=True)
class Instruction:
    keyword: str  #: upper case: FROM, RUN, COPY, ...
    args: str  #: the rest, continuation lines joined with spaces
    line: int  #: where it starts, 1-based


def instructions(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions: comments dropped, `\\` continuations joined."""
    found: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments may sit inside a continued instruction too
        if not parts:
            start = number
        parts.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            keyword, _, args = " ".join(parts).partition(" ")
            found.append(Instruction(keyword.upper(), args.strip(), start))
            parts = []
    return found


def stages(found: list[Instruction]) -> list[list[Instruction]]:
    """The build stages, each from its FROM up to the next."""
    result: list[list[Instruction]] = []
    for instruction in found:
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def _base_image_problems(found: list[Instruction]) -> list[str]:
    problems = []
    aliases: set[str] = set()
    for ins in (i for i in found if i.keyword == "FROM"):
        words = [w for w in ins.args.split() if not w.startswith("--")]
        image = words[0]
        if len(words) >= 3 and words[1].upper() == "AS":
            aliases.add(words[2].lower())
        if image.lower() in aliases or "@sha256:" in image:
            continue
        tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
        if not tag or tag == "latest" or not re.search(r"\d", tag):
            problems.append(f"line {ins.line}: base image {image} has no pinned version tag")
    return problems


def _user_problems(final: list[Instruction]) -> list[str]:
    """The last USER before ENTRYPOINT/CMD must be a numeric UID other than 0: Kubernetes can
    only enforce `runAsNonRoot` on a numeric user."""
    user = None
    for ins in final:
        if ins.keyword == "USER":
            user = ins.args.split(":")[0]
        if ins.keyword in {"ENTRYPOINT", "CMD"}:
            if user is None or not user.isdigit() or int(user) == 0:
                return [
                    f"line {ins.line}: {ins.keyword} runs as {user or 'root'}, "
                    "not as a numeric non-root USER"
                ]
    return []


def _pip_problems(found: list[Instruction]) -> list[str]:
    problems = []
    for ins in (i for i in found if i.keyword == "RUN"):
        for command in re.split(r"&&|;|\|\|", ins.args):
            words = command.split()
            if "pip" not in " ".join(words) or "install" not in words:
                continue
            if "--no-cache-dir" not in words:
                problems.append(f"line {ins.line}: pip install without --no-cache-dir")
            locked = any(w.endswith(".lock") for w in words)
            if locked and "--require-hashes" not in words:
                problems.append(f"line {ins.line}: a lock installed without --require-hashes")
    return problems


def _copy_order_problems(found: list[Instruction], packages: tuple[str, ...]) -> list[str]:
    """Dependencies must be copied and installed before the source, for layer caching."""
    lock_at = next(
        (n for n, i in enumerate(found) if i.keyword == "COPY" and ".lock" in i.args), None
    )
    source_at = next(
        (
            n
            for n, i in enumerate(found)
            if i.keyword == "COPY"
            and any(re.search(rf"(^|\s){p}/?(\s|$)", i.args) for p in packages)
        ),
        None,
    )
    if lock_at is None:
        return ["no COPY of the requirements lock"]
    if source_at is not None and source_at < lock_at:
        return [f"line {found[source_at].line}: source copied before the requirements lock"]
    return []


def lint_dockerfile(text: str, packages: tuple[str, ...] = ()) -> list[str]:
    """hadolint-style rules for this project's image; an empty list means it passes."""
    found = instructions(text)
    final = stages(found)[-1] if stages(found) else []
    problems = _base_image_problems(found) + _user_problems(final) + _pip_problems(found)
    problems += _copy_order_problems(found, packages)
    for ins in found:
        if ins.keyword == "ADD":
            problems.append(f"line {ins.line}: ADD (use COPY; never fetch URLs in a build)")
        if ins.keyword in {"ENTRYPOINT", "CMD"} and not ins.args.startswith("["):
            problems.append(f"line {ins.line}: {ins.keyword} in shell form (signals miss PID 1)")
    health = [i for i in final if i.keyword == "HEALTHCHECK"]
    if not health or health[-1].args.upper().startswith("NONE"):
        problems.append("the final stage has no HEALTHCHECK")
    compilers = re.compile(r"\b(gcc|g\+\+|build-essential|make|clang)\b")
    for ins in (i for i in final if i.keyword == "RUN" and "install" in i.args):
        if compilers.search(ins.args):
            problems.append(f"line {ins.line}: build tools installed in the runtime stage")
    return problems
