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


def server_binary() -> str:
    if Path(SERVER).exists():
        return SERVER
    found = shutil.which("rabbitmq-server")
    if found is None:
        raise RuntimeError("rabbitmq-server is not installed (run: make install)")
    return found


def server_env(workdir: Path, port: int, dist_port: int) -> dict[str, str]:
    """The environment that makes rabbitmq-server private to `workdir`."""
    base = workdir / "rabbitmq"
    base.mkdir(parents=True, exist_ok=True)
    plugins = base / "enabled_plugins"
    plugins.write_text("[].\n")  # no management plugin: nothing listens but AMQP
    return {
        **os.environ,
        "HOME": str(base),  # the Erlang cookie lives here
        "RABBITMQ_NODENAME": f"ib{port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),  # absent: the defaults
    }


def amqp_url(port: int) -> str:
    return f"amqp://guest:guest@127.0.0.1:{port}/%2F"  # guest may connect from loopback


def answers(port: int) -> bool:
    """Whether the broker takes an AMQP connection (the port opens before it is ready)."""
    try:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url(port)))
    except AMQPError:
        return False
    connection.close()
    return True
