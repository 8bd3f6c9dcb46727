"""Running the service under uvicorn, announcing the endpoint, shutting down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator

import uvicorn

from sagepipe import __version__
from sagepipe.app import build, data_dir_ready
from sagepipe.config import Config


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


async def serve(config: Config) -> int:
    data_dir_ready(config)
    service = build(config)
    server = _Server(
        uvicorn.Config(
            service.app, host=config.host, port=config.port, lifespan="off",
            log_level="warning", access_log=False, http="httptools",
            loop="none", timeout_graceful_shutdown=5,
            # No X-Forwarded-* rewriting: nothing here reads the client address.
            proxy_headers=False,
        )
    )  # fmt: skip
    await service.start()
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
