"""A private rabbitmq-server for a LocalStack: its own node name, ports and directories, so
several can run on one machine beside a system one, and nothing outlives the stack."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pika
from pika.exceptions import AMQPError

#: the real server behind Debian's /usr/sbin wrapper (which would switch to the rabbitmq user
#: and the system's directories)
SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
#: RabbitMQ's built-in user, which it lets in from loopback only; a stack on other hosts
#: (invoicebridge.stack.cluster) lets it in from anywhere (`loopback_users`), for tests
USER = PASSWORD = "guest"  # noqa: S105 (the well-known test user, private servers only)


def server_binary() -> str:
    if Path(SERVER).exists():
        return SERVER
    found = shutil.which("rabbitmq-server")
    if found is None:
        raise RuntimeError("rabbitmq-server is not installed (run: make install)")
    return found


def server_env(workdir: Path, host: str, port: int, dist_port: int) -> dict[str, str]:
    """The environment that makes rabbitmq-server private to `workdir`."""
    base = workdir / "rabbitmq"
    base.mkdir(parents=True, exist_ok=True)
    plugins = base / "enabled_plugins"
    plugins.write_text("[].\n")  # no management plugin: nothing listens but AMQP
    return {
        **os.environ,
        "HOME": str(base),  # the Erlang cookie lives here
        "RABBITMQ_NODENAME": f"ib{port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": host,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
        "RABBITMQ_CONFIG_FILE": str(_config(base)),
    }


def _config(base: Path) -> Path:
    """A config that lets `guest` in from the other test hosts too (never in production)."""
    path = base / "rabbitmq.conf"
    path.write_text("loopback_users = none\n")
    return path


def amqp_url(host: str, port: int) -> str:
    """The broker's URL; a 5 s AMQP heartbeat, so a worker cut off from the network is found
    dead, and its unacknowledged messages redelivered, in seconds rather than minutes."""
    return f"amqp://{USER}:{PASSWORD}@{host}:{port}/%2F?heartbeat=5"


def answers(url: str) -> bool:
    """Whether the broker takes an AMQP connection (the port opens before it is ready)."""
    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
    except AMQPError:
        return False
    connection.close()
    return True
