"""Every test has a time limit: pytest-timeout's 120 s from pyproject.toml, 600 s for tests
marked chaos or cluster, and a run that asks for more (or for none) is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from tests.conftest import LONG_LIMIT_S, LONG_MARKERS, PLAIN_LIMIT_S, time_limit

REPO = Path(__file__).resolve().parents[2]


def test_every_collected_test_has_a_limit_its_kind_allows(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    assert request.node in items
    for item in items:
        long = any(item.get_closest_marker(name) for name in LONG_MARKERS)
        assert 0 < time_limit(item) <= (LONG_LIMIT_S if long else PLAIN_LIMIT_S), item.nodeid


def test_the_default_limit_is_set_for_the_whole_suite() -> None:
    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]
    assert float(options["ini_options"]["timeout"]) == PLAIN_LIMIT_S


def _run_pytest(
    tmp_path: Path, test_code: str, backstop_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """pytest on one test file beside a copy of the suite's conftest and pytest settings."""
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\ntimeout = 120\nmarkers =\n    chaos: x\n    cluster: x\n"
    )
    (tmp_path / "test_sample.py").write_text(test_code)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=REPO,
        check=False,
        env={**os.environ, "IB_TEST_BACKSTOP_S": str(backstop_s)},
    )


@pytest.mark.parametrize(
    ("mark", "refused"),
    [
        ("@pytest.mark.timeout(0)", True),
        ("@pytest.mark.timeout(121)", True),
        ("@pytest.mark.chaos\n@pytest.mark.timeout(601)", True),
        ("@pytest.mark.cluster\n@pytest.mark.timeout(600)", False),
        ("", False),
    ],
)
def test_a_test_without_a_limit_or_over_its_kind_is_refused(
    tmp_path: Path, mark: str, refused: bool
) -> None:
    done = _run_pytest(tmp_path, f"import pytest\n\n{mark}\ndef test_x():\n    pass\n")
    if refused:
        assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
        assert "time limit" in done.stderr
    else:
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_test_past_its_limit_fails_and_the_run_goes_on(tmp_path: Path) -> None:
    code = (
        "import time, pytest\n\n@pytest.mark.timeout(1)\ndef test_slow():\n    time.sleep(30)\n\n"
        "def test_after():\n    pass\n"
    )
    done = _run_pytest(tmp_path, code)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    assert "Timeout" in done.stdout and "1 failed, 1 passed" in done.stdout


def test_a_teardown_that_hangs_after_the_limit_stops_the_run_with_every_stack(
    tmp_path: Path,
) -> None:
    """pytest-timeout fails the test once; a teardown that then hangs is the backstop's."""
    code = (
        "import time, pytest\n\n@pytest.fixture\ndef sticky():\n    yield\n"
        "    time.sleep(60)  # a teardown that never ends\n\n"
        "@pytest.mark.timeout(1)\ndef test_stuck(sticky):\n    time.sleep(30)\n"
    )
    started = time.monotonic()
    done = _run_pytest(tmp_path, code, backstop_s=2)
    assert time.monotonic() - started < 45
    assert done.returncode == 3, done.stdout + done.stderr
    assert "test_stuck: still running 2 s past its time limit of 1 s" in done.stderr
    assert "time.sleep(60)" in done.stderr or "sticky" in done.stderr  # the hung frame
