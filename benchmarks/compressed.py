"""A compressed body in flight: how much later `/healthz` answers while one 1 MB gzip request
(a bomb: it would inflate to about 1 GiB) is being sent slowly to a receiver process, and
while four are sent at full speed, beside the same probes on an idle receiver.

The receiver refuses any Content-Encoding but identity with a 415 before reading the body
and never inflates (issue #15, defect 1), so neither should delay anybody else.
"""

from __future__ import annotations

import functools
import http.client
import socket
import statistics
import struct
import threading
import time
import zlib
from pathlib import Path

from benchmarks.targets import Section, Target
from invoicebridge.stack.local import LocalStack, StackOptions

MIB = 1024 * 1024
#: what a 1 MB gzip body of zeros inflates to (deflate's best ratio is about 1,030:1)
BOMB_MIB = 1024
PROBES = 30
PROBE_GAP_S = 0.05
#: the slow sender spreads its megabyte over about this long, so probes land while it is sent
SLOW_SEND_S = 2.0
GOAL_MS = 100.0


@functools.cache
def gzip_bomb(inflated_mib: int = BOMB_MIB) -> bytes:
    """A valid gzip member of `inflated_mib` MiB of zeros, about 1 KB per MiB. Each MiB is
    deflated once and ended with a full flush (no reference back past it), so the same
    bytes stand for every MiB and building it costs one pass of CRC-32 over the zeros."""
    zeros = bytes(MIB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH) == block
    crc = 0
    for _ in range(inflated_mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip, deflate, no name, no mtime
    trailer = struct.pack("<II", crc, (inflated_mib * MIB) & 0xFFFFFFFF)
    return header + block * inflated_mib + deflate.flush() + trailer


def bomb_request(path: str, body: bytes, host: str = "127.0.0.1") -> bytes:
    """The head of a POST of `body` as gzip-encoded JSON, a webhook's shape."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


def send_bomb(host: str, port: int, path: str, seconds: float) -> int:
    """POST the bomb over `seconds` (0: at once); the status the receiver answered."""
    body = gzip_bomb()
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(bomb_request(path, body, host))
        chunks = 32 if seconds else 1
        size = -(-len(body) // chunks)
        for start in range(0, len(body), size):
            try:
                sock.sendall(body[start : start + size])
            except OSError:  # answered and closed before the rest was sent: fine
                break
            time.sleep(seconds / chunks)
        answer = sock.recv(64)
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def probe(host: str, port: int, count: int = PROBES) -> list[float]:
    """`count` GETs of /healthz, PROBE_GAP_S apart, on one connection; each one's seconds."""
    latencies = []
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            latencies.append(time.perf_counter() - started)
            assert response.status == 200, response.status
            time.sleep(PROBE_GAP_S)
    finally:
        connection.close()
    return latencies


def probe_during(
    host: str, port: int, path: str, senders: int, seconds: float
) -> tuple[list[float], list[int]]:
    """Probe while `senders` bombs are posted; the probes' seconds and the bombs' statuses."""
    statuses: list[int] = []

    def send() -> None:
        statuses.append(send_bomb(host, port, path, seconds))

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)  # the bombs' heads are in, their bodies on the way
    latencies = probe(host, port, PROBES if seconds else 10)
    for thread in threads:
        thread.join(30)
    return latencies, statuses


def _statuses(statuses: list[int]) -> str:
    return ", ".join(str(status) for status in sorted(statuses))


def _ms(values: list[float]) -> tuple[float, float]:
    return statistics.median(values) * 1000, max(values) * 1000


def run(workdir: Path) -> Section:
    """The table for BENCHMARKS.md and the <100 ms target."""
    gzip_bomb()  # built before anything is timed
    stack = LocalStack(workdir, StackOptions(log_level="warning"))
    stack.write_config()
    try:
        stack.start_redis()
        stack.start_receiver()
        host, port = stack.receiver_host, stack.receiver_port
        path = f"/webhooks/shopify/{stack.tenant}"
        idle = probe(host, port)
        slow, slow_statuses = probe_during(host, port, path, 1, SLOW_SEND_S)
        burst, burst_statuses = probe_during(host, port, path, 4, 0)
    finally:
        stack.down()
    baseline = statistics.median(idle) * 1000
    delay = max(slow) * 1000 - baseline
    rows = [
        ("idle receiver", idle, "–"),
        (f"one 1 MB gzip request sent over {SLOW_SEND_S:g} s", slow, _statuses(slow_statuses)),
        ("four 1 MB gzip requests sent at once", burst, _statuses(burst_statuses)),
    ]
    lines = [
        f"### A compressed body in flight: `/healthz` while 1 MB of gzip ({BOMB_MIB:,} MiB "
        "inflated) is posted",
        "",
        "| while | probes | p50 ms | max ms | the gzip requests got |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {name} | {len(values)} | {_ms(values)[0]:.1f} | {_ms(values)[1]:.1f} | {got} |"
            for name, values, got in rows
        ),
        "",
        f"- `/healthz` delay while one is in flight (max − idle p50): **{delay:.1f} ms** "
        f"(target < {GOAL_MS:g} ms)",
        "",
    ]
    target = Target(
        "/healthz delay while one 1 MB gzip request is in flight",
        GOAL_MS,
        round(delay, 1),
        "ms",
        higher_is_better=False,
    )
    return Section(lines, [target])


if __name__ == "__main__":  # `python -m benchmarks.compressed`: this benchmark alone
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ib-bench-") as workdir:
        section = run(Path(workdir))
    print("\n".join([*(target.row() for target in section.targets), "", *section.lines]))
