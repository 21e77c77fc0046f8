"""deploy/compose.yaml, checked from the file: no Docker engine runs where the tests run.

The wiring compose itself would only report at `docker compose up`: secrets and configs that
are used but not declared (or whose files are missing), volumes that are not declared, a
service waiting on a healthcheck that does not exist, the receiver and workers built from
different images, grace periods shorter than the processes' own shutdown timeouts, and the
mounted configuration not loading. Not checked here: the compose specification's full schema
(no copy of it ships with a Python package), image pulls, and the containers really starting.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy_lint import DEPLOY, secret_refs
from worker.settings import load_settings

COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = ("receiver", "worker")


def seconds(duration: str) -> float:
    """A compose duration such as "45s", "1m30s" or "500ms", in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_expected_services_with_healthchecks() -> None:
    assert set(SERVICES) == {"redis", "receiver", "worker", "rabbitmq"}
    for name, service in SERVICES.items():
        assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
        image = service["image"]
        assert re.search(r":\d[\w.-]*$", image) and not image.endswith(":latest"), image


def test_receiver_and_workers_share_one_image_and_build() -> None:
    builds = [SERVICES[name]["build"] for name in OURS]
    assert builds[0] == builds[1]
    assert (DEPLOY / builds[0]["context"] / builds[0]["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    )
    assert SERVICES["receiver"]["image"] == SERVICES["worker"]["image"]
    assert "build" not in SERVICES["redis"] and "build" not in SERVICES["rabbitmq"]


def test_secrets_configs_and_volumes_are_declared_and_present() -> None:
    for name, service in SERVICES.items():
        for secret in service.get("secrets", []):
            source = DEPLOY / COMPOSE["secrets"][secret]["file"]
            # the real file is made on the host from its FAKE example (secrets/.gitignore)
            assert source.exists() or source.with_name(source.name + ".example").exists()
        for config in service.get("configs", []):
            assert (DEPLOY / COMPOSE["configs"][config["source"]]["file"]).is_file()
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                path = DEPLOY / source
                assert path.exists() or path.with_name(path.name + ".example").exists(), name
            else:
                assert source in COMPOSE["volumes"], f"{name}: undeclared volume {source}"


def test_dependencies_wait_for_a_healthy_redis() -> None:
    for name in OURS:
        depends = SERVICES[name]["depends_on"]
        assert depends == {"redis": {"condition": "service_healthy"}}, name
    redis = SERVICES["redis"]
    assert "ports" not in redis, "Redis stays on the project network"
    command = redis["command"]
    conf = command[1]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in redis["volumes"]}
    assert mounts[conf] == "./redis.conf"
    assert mounts[flag(command, "--dir")] == "redis-data"
    assert "--maxmemory" in command


def test_grace_periods_outlast_the_shutdown_timeouts() -> None:
    worker = SERVICES["worker"]
    assert worker["command"][0] == "worker"
    shutdown_timeout = float(flag(worker["command"], "--shutdown-timeout"))
    assert seconds(worker["stop_grace_period"]) > shutdown_timeout
    assert seconds(SERVICES["receiver"]["stop_grace_period"]) > 30  # serve.py shutdown_timeout
    assert worker["deploy"]["replicas"] >= 2


def test_rabbitmq_is_optional() -> None:
    assert SERVICES["rabbitmq"]["profiles"] == ["rabbitmq"]
    for name in OURS:
        assert "rabbitmq" not in SERVICES[name].get("depends_on", {})


def test_receiver_healthcheck_and_port_match_its_command() -> None:
    receiver = SERVICES["receiver"]
    port = flag(receiver["command"], "--port")
    assert receiver["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(receiver["healthcheck"]["test"])


def test_the_mounted_configuration_loads_with_the_secrets(tmp_path: Path) -> None:
    config = SERVICES["receiver"]["configs"][0]
    assert config["target"] == SERVICES["receiver"]["environment"]["INVOICEBRIDGE_CONFIG"]
    text = (DEPLOY / COMPOSE["configs"][config["source"]]["file"]).read_text()
    mounted = set(SERVICES["receiver"]["secrets"])
    assert {Path(p).name for p in secret_refs(text, "file")} <= mounted
    assert all(Path(p).parent == Path("/run/secrets") for p in secret_refs(text, "file"))
    for secret in mounted:  # stand-ins for /run/secrets, from the FAKE examples
        example = DEPLOY / (COMPOSE["secrets"][secret]["file"] + ".example")
        (tmp_path / secret).write_text(example.read_text())
    (tmp_path / "config.toml").write_text(text.replace("file:/run/secrets/", f"file:{tmp_path}/"))
    settings = load_settings(tmp_path / "config.toml")
    assert settings.redis.url.startswith("redis://redis:")
    assert settings.metrics.worker_host == "0.0.0.0"  # noqa: S104 (inside its container)
    worker_check = " ".join(SERVICES["worker"]["healthcheck"]["test"])
    assert f"'127.0.0.1', {settings.metrics.worker_port}" in worker_check
