"""Drive an HTTP server with wrk (the external load generator: a Python one caps what it
measures), one signed webhook body with a fresh event id on every request.

The body and its signature stay the same; the event id travels in a header the signature does
not cover (Shopify's `X-Shopify-Event-Id`), so every request is a new event to the receiver.
wrk's Lua hooks set that header per request, pace the connections when a rate is asked for
(`delay`), and print the summary as one JSON line (`done`), which `run_wrk` reads back.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

#: the wrk script: its $-placeholders are filled by `_script` (Lua's own `%` stays as it is)
_LUA = Template("""
local body_file = io.open("$body", "rb")
wrk.method = "POST"
wrk.body = body_file:read("*a")
body_file:close()
$headers
local count = 0
local pause_ms = $pause_ms

request = function()
  count = count + 1
  wrk.headers["$id_header"] = "$id_prefix" .. count
  return wrk.format(nil, "$path")
end

if pause_ms > 0 then
  math.randomseed(os.time())
  -- exponential pauses: the connections' requests together arrive as a Poisson stream,
  -- not in step (equal pauses would send all connections' requests at once)
  delay = function() return -math.log(1 - math.random()) * pause_ms end
end

done = function(summary, latency, requests)
  local status = summary.errors.status
  local failed = summary.errors.connect + summary.errors.read + summary.errors.write
  failed = failed + summary.errors.timeout
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, status, failed,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
""")


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured: requests answered in the time, and their latency."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _script(
    workdir: Path,
    body: bytes,
    headers: Mapping[str, str],
    id_header: str,
    id_prefix: str,
    path: str,
    pause_ms: float,
) -> Path:
    body_path = workdir / f"{id_prefix}body"
    body_path.write_bytes(body)
    lines = [
        f'wrk.headers["{_lua_string(name)}"] = "{_lua_string(value)}"'
        for name, value in headers.items()
        if name.lower() != id_header.lower()
    ]
    text = _LUA.substitute(
        body=_lua_string(str(body_path)),
        headers="\n".join(lines),
        pause_ms=f"{pause_ms:.3f}",
        id_header=_lua_string(id_header),
        id_prefix=_lua_string(id_prefix),
        path=_lua_string(path),
    )
    script = workdir / f"{id_prefix}run.lua"
    script.write_text(text)
    return script


def wrk_path() -> str:
    """wrk's executable; a clear error when it is missing (`make bench` installs it)."""
    found = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
    if found is None:
        raise RuntimeError("wrk is not installed: `make wrk` (or apt-get install wrk)")
    return found


def run_wrk(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    workdir: Path,
    id_header: str,
    id_prefix: str,
    seconds: int = 10,
    connections: int = 32,
    rate: float | None = None,
) -> WrkRun:
    """POST `body` to `url` for `seconds` (whole ones: wrk takes no fraction) over
    `connections` (one wrk thread), a fresh `id_header` value (`id_prefix` + a counter) on
    every request. With `rate`, each
    connection pauses a random time, `connections / rate` on average (exponentially
    distributed), after each answer: requests arrive as a Poisson stream of at most `rate` per
    second (a little less, as a connection's answer time adds to its pause)."""
    host, _, path = url.removeprefix("http://").partition("/")
    pause_ms = connections / rate * 1000 if rate else 0.0
    workdir.mkdir(parents=True, exist_ok=True)
    script = _script(workdir, body, headers, id_header, id_prefix, "/" + path, pause_ms)
    command = [
        wrk_path(),
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://{host}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK-JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[:500]}")
    found = json.loads(line.removeprefix("WRK-JSON "))
    return WrkRun(
        requests=found["requests"],
        seconds=found["duration_us"] / 1e6,
        non_2xx=found["non_2xx"],
        socket_errors=found["socket_errors"],
        p50_ms=found["p50_us"] / 1000,
        p90_ms=found["p90_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        max_ms=found["max_us"] / 1000,
    )
