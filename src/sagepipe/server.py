"""Running the service, announcing the endpoint, shutting down cleanly."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys

from sagepipe import __version__
from sagepipe.app import Service, build, data_dir_ready
from sagepipe.config import Config
from sagepipe.gateway.http import HttpServer
from sagepipe.gateway.sigv4 import describe

SWITCH_INTERVAL_S = 0.0005


def _describe_db(config: Config) -> str:
    if _shared_db(config):
        return "PostgreSQL " + (config.db or "").split("@")[-1]
    return "SQLite " + config.database_url


def _shared_db(config: Config) -> bool:
    return bool(config.db and config.db.startswith(("postgresql://", "postgres://")))


def _describe_store(service: Service) -> str:
    store = service.store
    if store is None:
        return ""
    if service.embedded_store is None:
        return f"; S3 {store.endpoint_url}"
    return (
        f"; S3 {store.endpoint_url} embedded, access key {store.access_key} secret "
        f"{store.secret_key} (`sagepipe s3-env` prints them for a shell)"
    )


def _describe_access(service: Service) -> str:
    credentials = service.app.credentials
    if credentials is None:
        return "open: any access key is accepted; give --credentials FILE to verify signatures"
    return f"SigV4 verified: {describe(credentials)}"


async def serve(config: Config) -> int:
    data_dir_ready(config)
    service = build(config)
    if service.embedded_store is not None:
        print(f"sagepipe: starting the embedded object store in {service.embedded_store.root}",
              file=sys.stderr, flush=True)  # fmt: skip
        if _shared_db(config):
            print(
                "sagepipe: note: the embedded object store serves this server alone. Servers "
                "that share a PostgreSQL database must share one object store too: give each "
                "the same --s3-endpoint-url.",
                file=sys.stderr,
                flush=True,
            )
    await service.start()
    server = HttpServer(service.app)
    try:
        port = await server.start(config.host, config.port)
    except OSError as exc:
        await service.stop()
        print(
            f"sagepipe: could not listen on {config.host}:{config.port} ({exc.strerror}); is the "
            "port in use? Pick another with --port.",
            file=sys.stderr,
        )
        return 1
    # What start-up built lives as long as the server: out of the cycle collector's full
    # passes, each of which otherwise walked it all again (≈ 30 ms, about once a second
    # under a stream of starts).
    gc.freeze()
    # A finished COMMIT needs the GIL back on its helper thread before the loop can settle
    # the batch and start the next one; while the loop runs Python, the helper waits for the
    # switch interval. Python's 5 ms default is several batches' time: at 0.5 ms, the Start
    # benchmark answers about a tenth more requests per second (bench/README.md).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    print(
        f"sagepipe {__version__} ready at http://{config.host}:{port} "
        f"({_describe_db(config)}{_describe_store(service)}; {_describe_access(service)})",
        flush=True,
    )
    try:
        await stopping.wait()
        await server.stop(grace_s=5)
    finally:
        await service.stop()
    print("sagepipe stopped", flush=True)
    return 0
