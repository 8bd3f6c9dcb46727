"""Real S3 APIs for tests: moto's standalone server in a child process, and SeaweedFS run by
sagepipe's own embedded-store supervisor."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class S3Api:
    """An S3 endpoint and the keys to sign for it."""

    url: str
    access_key: str
    secret_key: str

    def client(self, region: str = "us-east-1") -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )


class MotoServer(S3Api):
    access_key = secret_key = "testing"  # moto accepts any

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/moto-api/", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto server was not ready in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class SeaweedServer(S3Api):
    """The embedded object store (SeaweedFS's `weed`, through sagepipe's EmbeddedStore: the
    same flags, credentials and readiness check), started by the test session itself so that
    local-runner tests can put their inputs in before a sagepipe server starts."""

    def __init__(self, root: Path) -> None:
        from sagepipe.objectstore.embedded import EmbeddedStore

        self.store = EmbeddedStore(root)
        config = self.store.prepare()
        self.url = str(config.endpoint_url)
        self.access_key, self.secret_key = str(config.access_key), str(config.secret_key)

    def start(self) -> None:
        asyncio.run(self.store.start())

    def stop(self) -> None:
        asyncio.run(self.store.stop())


@contextmanager
def running_moto() -> Iterator[MotoServer]:
    """moto's server for as long as the block (a fixture) lasts."""
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def running_seaweed(root: Path) -> Iterator[SeaweedServer]:
    server = SeaweedServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
