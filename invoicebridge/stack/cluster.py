"""Several hosts on one machine: Linux network namespaces on a bridge, for tests of what
crosses a network (`tests/e2e/test_cluster.py`).

`Net` makes the hosts (`db`, `a`, `b`: 10.77.<key>.1-3, the machine itself .254) and can cut
one off (its link goes down: a host that vanished from the network, processes still
running). `ClusterStack` is a LocalStack whose processes start inside those hosts: Redis,
RabbitMQ and the sandboxes on `db`; a receiver and a worker process on `a`, and another
receiver and worker on `b`. `Forwarder` gives the test process loopback addresses for
them, since the load generator posts to loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field

from invoicebridge.stack.local import LocalStack

HOSTS = ("db", "a", "b")
#: which host each of the stack's processes runs on
PLACEMENT = {
    "redis": "db",
    "rabbitmq": "db",
    "icount": "db",
    "idoklad": "db",
    "icash": "db",
    "smtp": "db",
    "receiver": "a",
    "workers": "a",
    "receiver-1": "b",
    "workers-1": "b",
}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def namespaces_forbidden() -> str | None:
    """Why this machine cannot make network namespaces, or None when it can."""
    probe = "ib-probe"
    try:
        _ip("netns", "add", probe)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"cannot create network namespaces here: {detail.decode().strip() or exc}"
    _ip("netns", "del", probe)
    return None


@dataclass
class Net:
    """Hosts `db`, `a` and `b` on one bridge; `key` keeps concurrent nets apart."""

    key: int

    def ip(self, host: str) -> str:
        return f"10.77.{self.key}.{HOSTS.index(host) + 1}"

    def ns(self, host: str) -> str:
        return f"ib{self.key}{host}"

    def exec(self, host: str) -> list[str]:
        """The argv prefix that runs a command on `host`."""
        return ["ip", "netns", "exec", self.ns(host)]

    def up(self) -> Net:
        self.down()  # what a run that was killed may have left under this key
        bridge = f"ib{self.key}br"
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"10.77.{self.key}.254/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for host in HOSTS:
            ns, outer, inner = self.ns(host), f"ib{self.key}{host}", f"ib{self.key}{host}p"
            _ip("netns", "add", ns)
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", outer, "master", bridge)
            _ip("link", "set", outer, "up")
            _ip("-n", ns, "addr", "add", f"{self.ip(host)}/24", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        return self

    def cut(self, host: str) -> None:
        """Take `host` off the network; its processes go on, unreachable."""
        _ip("link", "set", f"ib{self.key}{host}", "down")

    def down(self) -> None:
        """Kill what still runs on the hosts (RabbitMQ's epmd daemonizes out of our process
        groups), then remove them: a namespace lives on while anything runs in it."""
        for host in HOSTS:
            found = subprocess.run(
                ["ip", "netns", "pids", self.ns(host)], capture_output=True, text=True, check=False
            )
            for pid in found.stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            for args in (("netns", "del", self.ns(host)), ("link", "del", f"ib{self.key}{host}")):
                with contextlib.suppress(subprocess.CalledProcessError):
                    _ip(*args)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", f"ib{self.key}br")


@dataclass
class ClusterStack(LocalStack):
    """A LocalStack spread over a `Net`'s hosts."""

    net: Net = field(default_factory=lambda: Net(0))

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        super().spawn(name, [*self.net.exec(PLACEMENT[name]), *argv], env)


class Forwarder:
    """127.0.0.1:<port> -> host:port, byte for byte, on a thread of its own."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="forwarder")

    def start(self) -> int:
        self._thread.start()
        self._ready.wait(10)
        return self.port

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(asyncio.start_server(self._pipe, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(asyncio.sleep(0.1))  # let the closed transports finish closing
        loop.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            await asyncio.gather(_copy(reader, upstream_writer), _copy(upstream_reader, writer))
        except OSError:
            pass
        finally:  # also when cancelled while connecting to a host that was cut off
            writer.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()
