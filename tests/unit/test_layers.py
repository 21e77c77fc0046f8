"""The layers stay honest: handlers import only worker's pure domain; the domain imports no I/O;
neither worker nor handlers imports the sandboxes."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_of(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_handlers_import_only_the_worker_domain() -> None:
    """handlers/ may use worker.domain, never the ledger, actors, providers or settings."""
    bad = {
        f: sorted(n for n in names if n.startswith("worker") and not n.startswith("worker.domain"))
        for f, names in imports_of("handlers").items()
    }
    assert {f: n for f, n in bad.items() if n} == {}


def test_worker_never_imports_handlers() -> None:
    """worker/ runs behind the queue and must not depend on the receiver."""
    bad = {
        f: sorted(n for n in names if n.split(".")[0] in {"handlers", "invoicebridge"})
        for f, names in imports_of("worker").items()
    }
    assert {f: n for f, n in bad.items() if n} == {}


def test_domain_is_pure() -> None:
    """worker/domain imports no I/O library: no aiohttp, redis, dramatiq or structlog."""
    io_libs = {"aiohttp", "redis", "dramatiq", "structlog", "asyncio"}
    bad = {
        f: sorted(n for n in names if n.split(".")[0] in io_libs)
        for f, names in imports_of("worker/domain").items()
    }
    assert {f: n for f, n in bad.items() if n} == {}


def _names_sandboxes(name: str) -> bool:
    return name.split(".")[0] == "sandboxes"


def _strings_of(path: Path) -> set[str]:
    nodes = ast.walk(ast.parse(path.read_text()))
    return {n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_worker_and_handlers_never_import_sandboxes() -> None:
    """The sandboxes ship alongside the product; the product never depends on them,
    neither by an import statement nor by a module name handed to importlib."""
    bad = {
        f: sorted(n for n in names if _names_sandboxes(n))
        for package in ("worker", "handlers")
        for f, names in imports_of(package).items()
    }
    assert {f: n for f, n in bad.items() if n} == {}
    dynamic = {
        str(path.relative_to(ROOT)): sorted(s for s in _strings_of(path) if _names_sandboxes(s))
        for package in ("worker", "handlers")
        for path in (ROOT / package).rglob("*.py")
    }
    assert {f: s for f, s in dynamic.items() if s} == {}


def test_no_sandbox_code_under_worker() -> None:
    """Every provider sandbox lives in sandboxes/: no sandbox module is left under worker/."""
    left = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "worker").rglob("*.py")
        if "sandbox" in path.name
    )
    assert left == []
    packages = {p.name for p in (ROOT / "sandboxes").iterdir() if (p / "__init__.py").exists()}
    assert packages == {"icash", "icount", "idoklad", "kit"}
