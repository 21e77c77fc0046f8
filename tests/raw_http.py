"""HTTP/1.1 over a bare socket, for bytes an HTTP client refuses to send (a header that is
not UTF-8, a header line a byte at a time, broken chunking) and for reading what comes back
exactly as it was sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  #: names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(
    method: str, path: str, headers: Mapping[str, str | bytes], body: bytes = b""
) -> bytes:
    """A request with exactly these headers (values as given, bytes untouched) and body;
    Host and Content-Length are added unless given."""
    lines = [f"{method} {path} HTTP/1.1".encode()]
    given = {name.lower() for name in headers}
    fixed: dict[str, str | bytes] = {} if "host" in given else {"Host": "127.0.0.1"}
    if body and "content-length" not in given and "transfer-encoding" not in given:
        fixed["Content-Length"] = str(len(body))
    for name, value in {**fixed, **headers}.items():
        raw = value if isinstance(value, bytes) else value.encode()
        lines.append(name.encode() + b": " + raw)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One response: its status line, headers and Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in filter(None, header_lines):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Answer(int(status_line.split(" ")[1]), headers, body)


async def exchange(port: int, raw: bytes, timeout: float = 5.0) -> Answer:
    """Send `raw` on a new connection to 127.0.0.1:`port`; the first answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(timeout):
            return await read_answer(reader)
    finally:
        writer.close()
