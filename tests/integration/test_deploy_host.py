"""deploy/systemd and deploy/redis.conf, run through the real tools: systemd-analyze, redis-server.

`systemd-analyze verify` parses the units as systemd would (unknown keys, bad values, a missing
ExecStart binary, a drop-in that fails to replace ExecStart). The units point at
/opt/invoicebridge/venv/bin/invoicebridge, which does not exist here, so they are verified as
copies whose ExecStart names a stand-in executable; nothing else is changed. The hardening
options are only parsed, not exercised: no systemd runs as PID 1 here to start the services.
redis.conf is loaded by redis-server the way compose and Kubernetes start it and the way the
Debian drop-in includes it, and a write is shown to survive a restart.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml
from redis.backoff import NoBackoff
from redis.retry import Retry

from invoicebridge.cli import build_parser
from tests.conftest import free_port
from tests.deploy_lint import DEPLOY, secret_refs
from worker.settings import load_settings

SYSTEMD = DEPLOY / "systemd"
OUR_BINARY = "/opt/invoicebridge/venv/bin/invoicebridge"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (Debian package: systemd)"
)


def unit_settings(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every line: systemd allows a key more than once."""
    section, found = "", []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            found.append((section, key, value))
    return found


def values(path: Path, key: str) -> list[str]:
    return [v for _, k, v in unit_settings(path) if k == key]


def environment(path: Path) -> dict[str, str]:
    pairs = " ".join(values(path, "Environment")).split()
    return dict(pair.split("=", 1) for pair in pairs)


def verify(*paths: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not output, output  # warnings count too


@needs_systemd_analyze
def test_units_verify(tmp_path: Path) -> None:
    stand_in = tmp_path / "invoicebridge"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    for unit in SYSTEMD.glob("*.service"):
        text = unit.read_text()
        assert OUR_BINARY in text
        (tmp_path / unit.name).write_text(text.replace(OUR_BINARY, str(stand_in)))
    shutil.copy(SYSTEMD / "invoicebridge-prune.timer", tmp_path)
    verify(
        tmp_path / "invoicebridge-receiver.service",
        tmp_path / "invoicebridge-worker@1.service",
        tmp_path / "invoicebridge-prune.service",
        tmp_path / "invoicebridge-prune.timer",
    )


def test_the_retention_timer_runs_a_oneshot_prune_daily() -> None:
    timer = dict((k, v) for _, k, v in unit_settings(SYSTEMD / "invoicebridge-prune.timer"))
    assert timer["OnCalendar"].startswith("*-*-* ") and timer["Persistent"] == "true"
    service = SYSTEMD / "invoicebridge-prune.service"
    assert values(service, "Type") == ["oneshot"]
    settings = {k: v for section, k, v in unit_settings(service) if section == "Service"}
    assert settings["User"] not in {"root", "0"} and settings["ProtectSystem"] == "strict"
    assert settings["NoNewPrivileges"] == "yes" and settings["CapabilityBoundingSet"] == ""
    (exec_start,) = values(service, "ExecStart")
    argv = exec_start.split()
    assert argv[0] == OUR_BINARY and argv[1:3] == ["jobs", "prune"] and "--yes" in argv
    parsed = build_parser().parse_args(argv[1:])  # the real CLI takes these arguments
    assert parsed.before < time.time() - 30 * 86_400


@needs_systemd_analyze
def test_the_redis_drop_in_replaces_debians_exec_start(tmp_path: Path) -> None:
    """Against Debian's redis-server.service when installed, else a stand-in of its shape."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (make install puts it there)")
    debian = Path("/lib/systemd/system/redis-server.service")
    shape = "[Service]\nType=notify\nExecStart=/usr/bin/redis-server /etc/redis/redis.conf\n"
    unit = debian.read_text() if debian.exists() else shape
    (tmp_path / "redis-server.service").write_text(unit.replace("/usr/bin/redis-server", server))
    drop_in = (SYSTEMD / "redis-invoicebridge.conf").read_text()
    assert values(SYSTEMD / "redis-invoicebridge.conf", "ExecStart")[0] == "", "reset first"
    (tmp_path / "redis-server.service.d").mkdir()
    (tmp_path / "redis-server.service.d" / "invoicebridge.conf").write_text(
        drop_in.replace("/usr/bin/redis-server", server)
    )
    verify(tmp_path / "redis-server.service")


UNITS = ["invoicebridge-receiver.service", "invoicebridge-worker@.service"]


@pytest.mark.parametrize("unit", UNITS)
def test_units_stop_gracefully_and_are_hardened(unit: str) -> None:
    path = SYSTEMD / unit
    service = {k: v for section, k, v in unit_settings(path) if section == "Service"}
    assert service["Restart"] == "on-failure" and service["KillSignal"] == "SIGTERM"
    assert values(path, "EnvironmentFile")[0] == "/etc/invoicebridge/env"
    assert service["User"] not in {"root", "0"}
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[key] == value, key
    assert "AF_NETLINK" not in service["RestrictAddressFamilies"]
    exec_start = service["ExecStart"]
    assert exec_start.startswith(OUR_BINARY + " ")
    defaults = environment(path)
    assert set(re.findall(r"\$\{(\w+)\}", exec_start)) <= defaults.keys(), "a default for each"
    ours = {name for name in defaults if name.startswith("INVOICEBRIDGE_")}
    command = exec_start.split()[1]
    help_text = subprocess.run(
        [sys.executable, "-m", "invoicebridge", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert {name for name in ours if name != "INVOICEBRIDGE_CONFIG"} <= set(
        re.findall(r"INVOICEBRIDGE_\w+", help_text)
    ), "each variable the unit sets is one the command reads"
    timeout = float(defaults.get("INVOICEBRIDGE_SHUTDOWN_TIMEOUT", 30))  # the receiver's: 30 s
    assert float(service["TimeoutStopSec"]) > timeout + 10


def test_env_example_covers_the_example_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (SYSTEMD / "env.example").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert all(value.startswith("FAKE") for value in env.values())
    example = DEPLOY / "config.example.toml"
    assert secret_refs(example.read_text(), "env") <= env.keys()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings(example).tenants


def test_the_kubernetes_copy_of_redis_conf_is_identical() -> None:
    docs = yaml.safe_load_all((DEPLOY / "k8s" / "redis.yaml").read_text())
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert config["data"]["redis.conf"] == (DEPLOY / "redis.conf").read_text()


def run_redis(args: list[str], port: int) -> Iterator[redis.Redis]:
    """redis-server with `args` on loopback; yields a client, shuts it down (saving) after."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (make install puts it there)")
    proc = subprocess.Popen(
        [server, *args, "--port", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # no retries: redis-py's default backoff would wait seconds on the shutdown's closed socket
    client = redis.Redis(port=port, decode_responses=True, retry=Retry(NoBackoff(), 0))
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = proc.communicate()[0].decode()
                pytest.fail(f"redis-server did not start:\n{output}")
            time.sleep(0.05)
    try:
        yield client
    finally:
        client.shutdown(save=True)
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
        client.close()


def assert_ledger_persistence(client: redis.Redis) -> None:
    config = client.config_get("*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["aof-use-rdb-preamble"] == "yes"
    assert config["maxmemory-policy"] == "noeviction"
    assert config["save"] == "900 1 300 100 60 10000"


def test_redis_conf_as_compose_and_kubernetes_start_it(tmp_path: Path) -> None:
    """Our file, a data directory and maxmemory: persistent, and a write survives a restart."""
    args = [str(DEPLOY / "redis.conf"), "--dir", str(tmp_path), "--maxmemory", "64mb"]
    port = free_port()
    for client in run_redis(args, port):
        assert_ledger_persistence(client)
        assert client.config_get("maxmemory")["maxmemory"] == str(64 * 1024 * 1024)
        client.hset("ib:event:evt_persist", mapping={"state": "queued"})
    assert (tmp_path / "appendonlydir").is_dir()
    for client in run_redis(args, port):
        assert client.hget("ib:event:evt_persist", "state") == "queued"


def test_redis_conf_included_after_a_distribution_config_wins(tmp_path: Path) -> None:
    """The drop-in's `--include` comes after Debian's file, so our settings take effect."""
    base = tmp_path / "distribution.conf"
    base.write_text('appendonly no\nsave ""\nmaxmemory-policy allkeys-lru\n')
    args = [str(base), "--include", str(DEPLOY / "redis.conf"), "--dir", str(tmp_path)]
    for client in run_redis(args, free_port()):
        assert_ledger_persistence(client)


def test_the_documented_rdb_restore_keeps_the_data(tmp_path: Path) -> None:
    """docs/operations.md, "Restore": an RDB backup from `redis-cli --rdb`, loaded with AOF off,
    then AOF switched on and rewritten; and why: with AOF on from the start, Redis would
    ignore dump.rdb and start empty."""
    cli = shutil.which("redis-cli")
    if cli is None:
        pytest.skip("redis-cli is not installed (Debian package: redis-tools)")
    conf, port = str(DEPLOY / "redis.conf"), free_port()
    for path in ("live", "restore", "naive"):
        (tmp_path / path).mkdir()
    # no 5 s wait for other replicas before a diskless transfer (Redis's default)
    live = [conf, "--dir", str(tmp_path / "live"), "--repl-diskless-sync-delay", "0"]
    for client in run_redis(live, port):
        client.hset("ib:event:evt_backup", mapping={"state": "done"})
        backup = tmp_path / "restore" / "dump.rdb"
        subprocess.run(
            [cli, "-p", str(port), "--rdb", str(backup)],
            check=True,
            capture_output=True,
            timeout=30,
        )
    shutil.copy(backup, tmp_path / "naive" / "dump.rdb")
    for client in run_redis([conf, "--dir", str(tmp_path / "naive")], port):
        assert client.dbsize() == 0, "AOF on and no AOF directory: dump.rdb is ignored"
    restore = [conf, "--dir", str(tmp_path / "restore")]
    for client in run_redis([*restore, "--appendonly", "no"], port):
        assert client.hget("ib:event:evt_backup", "state") == "done"
        client.config_set("appendonly", "yes")
        deadline = time.monotonic() + 10
        while client.info("persistence")["aof_rewrite_in_progress"] or (
            client.info("persistence")["aof_last_bgrewrite_status"] != "ok"
        ):
            assert time.monotonic() < deadline, "the AOF rewrite did not finish"
            time.sleep(0.05)
    for client in run_redis(restore, port):
        assert client.hget("ib:event:evt_backup", "state") == "done"


def test_sentinel_conf_watches_a_primary_started_from_redis_conf(tmp_path: Path) -> None:
    """deploy/sentinel.conf, pointed at a real primary, is taken by redis-server --sentinel
    with the quorum and timings it documents."""
    primary_port, sentinel_port = free_port(), free_port()
    conf = tmp_path / "sentinel.conf"  # Sentinel insists on a file it may rewrite
    text = (DEPLOY / "sentinel.conf").read_text()
    conf.write_text(text.replace("10.0.0.11 6379", f"127.0.0.1 {primary_port}"))
    data = [str(DEPLOY / "redis.conf"), "--dir", str(tmp_path)]
    for _primary in run_redis(data, primary_port):
        for sentinel in run_redis([str(conf), "--sentinel"], sentinel_port):
            watched = sentinel.sentinel_master("invoicebridge")
            assert isinstance(watched, dict)
            assert (watched["port"], watched["quorum"]) == (primary_port, 2)
            assert watched["down-after-milliseconds"] == 5000
            assert watched["failover-timeout"] == 60000 and watched["parallel-syncs"] == 1
