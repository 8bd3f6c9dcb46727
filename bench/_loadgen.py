"""HTTP/1.1 keep-alive load generator, run in its own process so the server under test does
not share an interpreter (or a GIL) with the client.

    python bench/_loadgen.py < spec.json > result.json   # load a server
    python bench/_loadgen.py canned                       # a canned-response server (ceiling)

The spec is JSON: host, port, connections, warmup and duration (seconds), and `request`:
method, path, headers, and either `bodies` (cycled) or `template` (a body in which each
`{token}` becomes a fresh 36-character token, as boto3's auto-filled ClientRequestToken).
Every response must be HTTP 200 and contain `expect`; anything else counts as an error.
A server that answers `Connection: close` (or HTTP/1.0) is reconnected to, and counted.
Only requests that start and finish inside the measured window are counted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from typing import Any

try:  # the fastest loop available: the client must not be the bottleneck
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


class Requests:
    """Ready-to-send request bytes; only the body varies between requests."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.host = spec["host"]
        self.port = spec["port"]
        req = spec["request"]
        self.method = req.get("method", "POST")
        self.path = req.get("path", "/")
        self.headers = req.get("headers", {})
        self.bodies = [b.encode() for b in req.get("bodies", [])]
        self.template = req.get("template")
        self._cycle = itertools.cycle(self.bodies) if self.bodies else None
        self._counter = itertools.count()
        self._prefix = os.urandom(4).hex()

    def next(self) -> bytes:
        if self.template is not None:
            token = f"{self._prefix}-bench-{next(self._counter):022d}"  # 36 characters
            body = self.template.replace("{token}", token).encode()
        elif self._cycle is not None:
            body = next(self._cycle)
        else:
            body = b""
        head = [f"{self.method} {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        if body or self.method == "POST":
            head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.error_samples: list[str] = []
        self.reconnects = 0
        self.outside = 0
        self.ok_total = 0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    length, close = None, version == "HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection":
            close = value.strip().lower() == "close"
    if length is None:  # no length: the body runs to the end of the connection
        body = await reader.read()
        close = True
    else:
        body = await reader.readexactly(length)
    return int(status), body, close


async def _worker(
    requests: Requests, expect: bytes, start: float, end: float, stats: Stats
) -> None:
    reader, writer = await asyncio.open_connection(requests.host, requests.port)
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                return
            writer.write(requests.next())
            status, body, close = await _read_response(reader)
            t1 = time.perf_counter()
            ok = status == 200 and expect in body
            stats.ok_total += ok
            if not ok:
                stats.errors += 1
                if len(stats.error_samples) < 5:
                    stats.error_samples.append(f"{status} {body[:300]!r}")
            elif t0 >= start and t1 <= end:
                stats.latencies.append(t1 - t0)
            else:
                stats.outside += 1
            if close:
                writer.close()
                stats.reconnects += 1
                reader, writer = await asyncio.open_connection(requests.host, requests.port)
    finally:
        writer.close()


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    requests = Requests(spec)
    expect = spec.get("expect", "").encode()
    stats = Stats()
    now = time.perf_counter()
    start = now + float(spec.get("warmup", 1.0))
    end = start + float(spec["duration"])
    cpu0 = time.process_time()
    await asyncio.gather(
        *(_worker(requests, expect, start, end, stats) for _ in range(spec["connections"]))
    )
    window = end - start
    lat = sorted(stats.latencies)
    return {
        "requests": len(lat),
        "window_s": window,
        "rps": len(lat) / window,
        "p50_ms": _percentile(lat, 0.50) * 1000,
        "p99_ms": _percentile(lat, 0.99) * 1000,
        "max_ms": (lat[-1] * 1000) if lat else float("nan"),
        "errors": stats.errors,
        "error_samples": stats.error_samples,
        "reconnects": stats.reconnects,
        "ok_total": stats.ok_total,  # warm-up and window edges included
        "client_cpu_s": time.process_time() - cpu0,
    }


# ---------------------------------------------------------------------- canned server
_CANNED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
    b'Content-Length: 30\r\n\r\n{"PipelineExecutionArn":"x"} \n'
)


class _Canned(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").lower()
            length = 0
            for line in head.split("\r\n"):
                if line.startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            self.transport.write(_CANNED)  # type: ignore[attr-defined]


async def canned() -> None:
    """A server that answers every request with the same bytes: the loadgen's ceiling."""
    server = await asyncio.get_running_loop().create_server(_Canned, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"canned ready at http://127.0.0.1:{port}", flush=True)
    await server.serve_forever()


def main() -> int:
    if uvloop is not None:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if sys.argv[1:] == ["canned"]:
        asyncio.run(canned())
        return 0
    spec = json.load(sys.stdin)
    result = asyncio.run(run(spec))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
