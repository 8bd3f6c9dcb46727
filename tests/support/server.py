"""Running a real sagepipe server process for tests, and real clients pointed at it."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

import boto3
import pytest
from botocore.config import Config

PG_URL = os.environ.get("SAGEPIPE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_SKIP_REASON = "PostgreSQL suite skipped: no PostgreSQL server at " + PG_URL.split("@")[-1]
READY = "ready at "


@cache
def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def require_pg() -> None:
    """Skip the calling test when PostgreSQL is unreachable; with SAGEPIPE_REQUIRE_PG=1 (CI),
    where the PostgreSQL suite must run, fail it instead."""
    if pg_available():
        return
    if os.environ.get("SAGEPIPE_REQUIRE_PG") == "1":
        pytest.fail("SAGEPIPE_REQUIRE_PG=1 but PostgreSQL is unreachable at " + PG_URL)
    pytest.skip(PG_SKIP_REASON)


@contextlib.contextmanager
def database_args(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """`sagepipe serve` flags for a fresh, empty database of `backend` ("sqlite" or "postgres")."""
    if backend == "postgres":
        with fresh_pg_database() as url:
            yield ["--db", url]
    else:
        yield ["--data-dir", str(tmp_path_factory.mktemp("data"))]


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty database on the test server; dropped afterwards."""
    import psycopg

    name = "sagepipe_t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ServerProcess:
    """`sagepipe serve` in a child process; the port is chosen once and kept across restarts.

    `program` is what runs `sagepipe`: by default this interpreter's `python -m sagepipe.cli`
    (the project as the test virtualenv has it); tests/packaging passes the `sagepipe` console
    script of a virtualenv the wheel was installed into."""

    def __init__(
        self, args: list[str], extra: list[str] | None = None, program: list[str] | None = None
    ) -> None:
        self.args = list(args) + list(extra or [])
        self.program = list(program or [sys.executable, "-m", "sagepipe.cli"])
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        command = [*self.program, "serve", "--port", str(self.port)]
        if "--runner" not in self.args:
            # Suites that drive outcomes with fault rules run on the simulate runner; the
            # local-runner suites say --runner local.
            command += ["--runner", "simulate"]
        self.proc = subprocess.Popen(
            command + self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain, args=(self.proc, lines), daemon=True).start()
        deadline = time.time() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                self.kill()
                raise RuntimeError(
                    f"sagepipe was not ready within {timeout}s:\n" + "".join(self.output)
                ) from None
            if line is None:
                raise RuntimeError("sagepipe exited before it was ready:\n" + "".join(self.output))
            if READY in line:
                self.port = int(line.split(READY, 1)[1].split()[0].rsplit(":", 1)[1])
                return

    def _drain(self, proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.output.append(line)
            lines.put(line)
        lines.put(None)

    def stop(self) -> int | None:
        """SIGTERM and wait: a clean shutdown."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, *, crash: bool = False) -> None:
        self.kill() if crash else self.stop()
        self.start()

    def client(self, access_key: str = "AKIDTEST", region: str = "us-east-1") -> Any:
        return boto3.client(
            "sagemaker",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key="secret",
            config=Config(retries={"max_attempts": 1}),
        )

    def extension(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def set_faults(self, rules: list[dict[str, Any]]) -> None:
        status, body = self.extension("PUT", "/_sagepipe/faults", {"rules": rules})
        assert status == 200, body
