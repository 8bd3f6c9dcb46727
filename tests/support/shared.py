"""One long-lived sagepipe server per backend, shared by the tests that do not need a fresh
process (restarts, special flags): starting a server per test would dominate the run time.

Tests on a shared server keep out of each other's way with unique pipeline names, and get a
whole empty (account, region) scope from `fresh_region` when they list pipelines.

Import the fixtures into a test module: `from tests.support.shared import shared, ...`."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.server import ServerProcess, database_args

# Access keys mapped to accounts with `--accounts`; any other key is the default account.
DEFAULT_ACCOUNT = "123456789012"
KEY_A, ACCOUNT_A = "AKIDALPHA", "111111111111"
KEY_B, ACCOUNT_B = "AKIDBRAVO", "222222222222"
ACCOUNTS_FLAG = ["--accounts", f"{KEY_A}={ACCOUNT_A},{KEY_B}={ACCOUNT_B}"]


class ServerPool:
    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self.tmp = tmp
        self.stack = contextlib.ExitStack()
        self.servers: dict[str, ServerProcess] = {}

    def get(self, backend: str) -> ServerProcess:
        if backend not in self.servers:
            args = self.stack.enter_context(database_args(backend, self.tmp))
            server = ServerProcess(args, ACCOUNTS_FLAG)
            server.start()
            self.stack.callback(server.stop)
            self.servers[backend] = server
        server = self.servers[backend]
        assert server.proc is not None and server.proc.poll() is None, "shared server died"
        return server

    def close(self) -> None:
        self.stack.close()


@pytest.fixture(scope="session")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def shared(backend: str, server_pool: ServerPool) -> ServerProcess:
    """The shared server of the current backend (started with ACCOUNTS_FLAG)."""
    return server_pool.get(backend)


@pytest.fixture
def fresh_region() -> str:
    """A region name no other test uses: an empty scope for listing tests."""
    return "test-" + uuid.uuid4().hex[:10]


def error_of(excinfo: pytest.ExceptionInfo[Any]) -> tuple[str, str]:
    """(code, message) of a botocore ClientError."""
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]
