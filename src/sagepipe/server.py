"""Running the service under uvicorn, announcing the endpoint, shutting down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Iterator

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from sagepipe import __version__
from sagepipe.app import build, data_dir_ready
from sagepipe.config import Config

SWITCH_INTERVAL_S = 0.0005


def _describe_db(config: Config) -> str:
    if config.db and config.db.startswith(("postgresql://", "postgres://")):
        return "PostgreSQL " + config.db.split("@")[-1]
    return "SQLite " + config.database_url


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after serving, which would skip our shutdown: we handle the
    signals ourselves instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _OneWritePerTick:
    """A connection's transport whose writes wait for the end of the loop's current round and
    go out as one. uvicorn writes a response's head and body separately, and each write is a
    system call that, on loopback, also runs the client's side of TCP: under load the two
    calls took about a sixth of the loop thread's time."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)


class _HttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneWritePerTick(transport))  # type: ignore[arg-type]


async def serve(config: Config) -> int:
    data_dir_ready(config)
    service = build(config)
    server = _Server(
        uvicorn.Config(
            service.app, host=config.host, port=config.port, lifespan="off",
            log_level="warning", access_log=False, http=_HttpProtocol,
            loop="none", timeout_graceful_shutdown=5,
            # No X-Forwarded-* rewriting: nothing here reads the client address.
            proxy_headers=False,
        )
    )  # fmt: skip
    await service.start()
    # What start-up built lives as long as the server: out of the cycle collector's full
    # passes, each of which otherwise walked it all again (≈ 30 ms, about once a second
    # under a stream of starts).
    gc.freeze()
    # A finished COMMIT needs the GIL back on its helper thread before the loop can settle
    # the batch and start the next one; while the loop runs Python, the helper waits for the
    # switch interval. Python's 5 ms default is several batches' time: at 0.5 ms, the Start
    # benchmark answers about a tenth more requests per second (bench/README.md).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, setattr, server, "should_exit", True)
    task = loop.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        await service.stop()
        print(
            f"sagepipe: could not listen on {config.host}:{config.port}; is the port in use? "
            "Pick another with --port.",
            file=sys.stderr,
        )
        return 1
    port = server.servers[0].sockets[0].getsockname()[1]
    print(
        f"sagepipe {__version__} ready at http://{config.host}:{port} ({_describe_db(config)})",
        flush=True,
    )
    try:
        await task
    finally:
        await service.stop()
    print("sagepipe stopped", flush=True)
    return 0
