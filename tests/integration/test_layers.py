"""The layers stay honest: handlers import only worker's pure domain; the domain imports no I/O
and nothing of ours but itself and the error tree; the providers know neither the jobs nor the
ledger; neither worker nor handlers imports the sandboxes (docs/architecture.md draws them)."""

from __future__ import annotations

import ast
import subprocess
import sys
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
                names.add(node.module)  # and `from worker import jobs` names worker.jobs too:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
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


def _outside(names: set[str], allowed: tuple[str, ...]) -> list[str]:
    """Our own modules among `names` that are neither one of `allowed` nor inside one."""
    ours = {"worker", "handlers", "invoicebridge", "sandboxes", "benchmarks", "tests"}
    return sorted(
        n
        for n in names
        if n.split(".")[0] in ours and not any(n == a or n.startswith(a + ".") for a in allowed)
    )


def test_domain_imports_only_itself_and_the_errors() -> None:
    """worker/domain is the bottom layer: of ours it imports only itself and worker.errors
    (vat.py raises `Permanent(TotalMismatch)`)."""
    bad = {
        f: _outside(names, ("worker.domain", "worker.errors"))
        for f, names in imports_of("worker/domain").items()
    }
    assert {f: n for f, n in bad.items() if n} == {}


def test_providers_import_neither_jobs_nor_ledger() -> None:
    """worker/providers talks to the services; the jobs drive it and the ledger records what
    it did, never the other way round. Its one exception is the list of Redis key names,
    `worker.ledger.keys` (iCash's shared nonce), which imports nothing."""
    bad = {
        f: sorted(
            n
            for n in names
            if n.split(".")[:2] in (["worker", "jobs"], ["worker", "ledger"])
            and _outside({n}, ("worker.ledger.keys",))
        )
        for f, names in imports_of("worker/providers").items()
    }
    assert {f: n for f, n in bad.items() if n} == {}
    keys = imports_of("worker/ledger")["worker/ledger/keys.py"]
    assert _outside(keys, ()) == []


def test_worker_top_level_stays_small() -> None:
    """worker/ shows its architecture: its parts are packages, and at most 8 modules (the
    error tree, logging, Redis clients, metrics...) sit at the top."""
    modules = sorted(p.name for p in (ROOT / "worker").glob("*.py"))
    assert len(modules) <= 8, modules
    parts = {p.name for p in (ROOT / "worker").iterdir() if (p / "__init__.py").exists()}
    expected = {"domain", "ledger", "jobs", "ops", "alerts", "settings", "runtime", "providers"}
    assert parts == expected


def test_redis_key_names_live_in_one_module() -> None:
    """Every Redis key name of the product is in worker/ledger/keys.py: no other module of
    worker, handlers or invoicebridge spells an `ib:` string. (iCash's wire marks its comments
    with an `ib:` token, which is not a Redis key.)"""
    not_keys = {"worker/ledger/keys.py", "worker/providers/icash/wire.py"}
    spelled = {
        str(path.relative_to(ROOT)): sorted(s for s in _strings_of(path) if s.startswith("ib:"))
        for package in ("worker", "handlers", "invoicebridge")
        for path in (ROOT / package).rglob("*.py")
        if str(path.relative_to(ROOT)) not in not_keys
    }
    assert {f: s for f, s in spelled.items() if s} == {}


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


def test_the_ledger_exports_its_api_and_its_keys_load_alone() -> None:
    """`from worker.ledger import Ledger` works, and importing the key names
    (`worker.ledger.keys`, as the iCash provider does) does not load the ledger itself.
    `Ledger` is one class in one module: no base class holds part of it."""
    probe = (
        "import sys, worker.ledger.keys\n"
        "assert 'worker.ledger.ledger' not in sys.modules, 'keys loaded the ledger'\n"
        "from worker.ledger import JobRecord, Ledger, StoredInvalid\n"
        "assert Ledger.__module__ == 'worker.ledger.ledger'\n"
        "assert Ledger.__mro__ == (Ledger, object), Ledger.__mro__\n"
        "assert JobRecord.__module__ == 'worker.ledger.records'\n"
        "assert StoredInvalid.__module__ == 'worker.ledger.records'\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
