"""Redis with fail-over for a LocalStack: a primary, two replicas and three sentinels, each a
real `redis-server` process with its own port and directory. The sentinels agree (quorum 2)
that the primary is gone three seconds after it stops answering, and promote a replica."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import redis

SERVICE = "ib"  #: the name the sentinels monitor the primary under
QUORUM = 2
#: quick enough for a test; production keeps a few seconds (deploy/sentinel.conf). Sentinels
#: ping once a second, so anything near 1 s takes one late answer for a dead primary and fails
#: over from a healthy one (and what it took after the promotion is lost)
DOWN_AFTER_MS = 3_000
FAILOVER_TIMEOUT_MS = 10_000


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (run: make install)")
    return binary


def data_node_argv(host: str, port: int, workdir: Path, replica_of: int | None = None) -> list[str]:
    """A Redis server with AOF in a directory of its own; a replica of `replica_of` if given."""
    home = workdir / f"redis-{port}"
    home.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        host,
        "--dir",
        str(home),
        "--appendonly",
        "yes",
        "--save",
        "",
        # off the loopback (a test network of namespaces) it must take other hosts
        "--protected-mode",
        "yes" if host == "127.0.0.1" else "no",
        # a replica's first sync starts at once, not after Redis's 5 s gathering pause
        "--repl-diskless-sync-delay",
        "0",
    ]
    if replica_of is not None:
        argv += ["--replicaof", host, str(replica_of)]
    return argv


def sentinel_argv(host: str, port: int, workdir: Path, primary_port: int) -> list[str]:
    """A sentinel watching the primary; it rewrites its own file as it learns the set."""
    home = workdir / f"sentinel-{port}"
    home.mkdir(parents=True, exist_ok=True)
    conf = home / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind {host}\ndir {home}\n"
        f"sentinel monitor {SERVICE} {host} {primary_port} {QUORUM}\n"
        f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
        f"sentinel parallel-syncs {SERVICE} 1\n"
    )
    return [redis_binary(), str(conf), "--sentinel"]


def primary_port(host: str, sentinel_ports: list[int]) -> int | None:
    """The primary's port as the first sentinel that answers names it; None if none answers."""
    for port in sentinel_ports:
        client = redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=2)
        try:
            found = client.sentinel_get_master_addr_by_name(SERVICE)  # (host, port) or None
        except redis.RedisError:
            continue
        finally:
            client.close()
        if isinstance(found, tuple):
            return int(found[1])
    return None


def replicas_online(client_of: Callable[[], redis.Redis], replicas: int) -> bool:
    """Whether the primary has `replicas` replicas connected and in sync."""
    with client_of() as client:
        info = client.info("replication")
    online = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
    return sum(1 for v in online if v.get("state") == "online") >= replicas


def replica_caught_up(host: str, port: int) -> bool:
    """A replica linked to its primary and done writing its first AOF (until then Redis
    refuses to shut down on SIGTERM)."""
    with redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=2) as client:
        info = client.info()
    return bool(
        info.get("master_link_status") == "up"
        and not info["aof_rewrite_in_progress"]
        and not info["aof_rewrite_scheduled"]
    )


def sentinels_ready(host: str, sentinel_ports: list[int], replicas: int) -> bool:
    """Every sentinel knows the primary, the other sentinels and `replicas` replicas."""
    for port in sentinel_ports:
        with redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=2) as client:
            state = client.sentinel_master(SERVICE)
        if state["num-slaves"] < replicas or state["num-other-sentinels"] < len(sentinel_ports) - 1:
            return False
    return True


def settings_toml(host: str, sentinel_ports: list[int], min_replicas: int) -> str:
    """The `[redis]` table of a stack on these sentinels."""
    nodes = ", ".join(f'"{host}:{port}"' for port in sentinel_ports)
    return (
        f'[redis]\nsentinels = [{nodes}]\nservice = "{SERVICE}"\n'
        f"min_replicas = {min_replicas}\nsocket_timeout_s = 2\n"
    )
