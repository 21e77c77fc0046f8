"""The ports the stacks and tests pick for their servers: never handed out twice by one
process, and outside the kernel's ephemeral range, from which every outgoing connection
takes its port (a port from bind(0) could be taken by one before the server binds it)."""

from __future__ import annotations

import socket

from invoicebridge.stack.driving import _ephemeral_floor, free_port


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(port < _ephemeral_floor() for port in ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))  # nothing else took it


def test_a_port_in_use_is_never_handed_out() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        assert busy not in {free_port() for _ in range(300)}
