"""The CLI refuses bad configuration with a clear message and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoicebridge.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_missing_config_file(command: str, tmp_path: Path) -> None:
    """A config path that does not exist: exit 2 and the path in the message."""
    result = run_cli(command, "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "nope.toml: cannot read" in result.stderr


def test_bad_key_is_named(tmp_path: Path) -> None:
    """A misspelt key: exit 2, the key's dotted path in the message, no traceback."""
    config = tmp_path / "config.toml"
    config.write_text('[tenants.acme]\nsource = "shopify"\nsecret = "s"\nprovider = "icont"\n')
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 2
    assert "tenants.acme.provider" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_config_at_all(tmp_path: Path) -> None:
    """Neither --config nor INVOICEBRIDGE_CONFIG: exit 2, saying how to fix it."""
    result = run_cli("serve", env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "INVOICEBRIDGE_CONFIG" in result.stderr
