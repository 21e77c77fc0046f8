"""The layers stay honest: handlers import only worker's pure domain; the domain imports no I/O."""

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
