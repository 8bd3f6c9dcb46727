"""Shared fixtures: a real `sagepipe serve` process on each backend, and real clients.

PostgreSQL: the suite uses SAGEPIPE_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test)
and gives every server a fresh database. Without a reachable server the PostgreSQL half is
skipped and the run says so; with SAGEPIPE_REQUIRE_PG=1 (CI) that is a failure instead."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support.server import (
    PG_SKIP_REASON,
    PG_URL,
    ServerProcess,
    database_args,
    pg_available,
    require_pg,
)


def pytest_report_header(config: pytest.Config) -> str:
    if pg_available():
        return f"sagepipe: PostgreSQL suite runs against {PG_URL.split('@')[-1]}"
    if os.environ.get("SAGEPIPE_REQUIRE_PG") == "1":
        return "sagepipe: PostgreSQL is REQUIRED but unreachable: the PostgreSQL suite will fail"
    return f"sagepipe: {PG_SKIP_REASON} (set SAGEPIPE_TEST_PG to run it)"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if not pg_available() and os.environ.get("SAGEPIPE_REQUIRE_PG") != "1":
        terminalreporter.write_line(f"NOTE: {PG_SKIP_REASON}.", yellow=True, bold=True)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        require_pg()
    return str(request.param)


@pytest.fixture
def server_args(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Database flags for a server of the current backend (a fresh database each test)."""
    with database_args(backend, tmp_path_factory) as args:
        yield args


@pytest.fixture
def server(server_args: list[str]) -> Iterator[ServerProcess]:
    """A fresh sagepipe server process for one test."""
    process = ServerProcess(server_args)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def sm(server: ServerProcess):  # type: ignore[no-untyped-def]
    return server.client()


@pytest.fixture
def name() -> str:
    """A pipeline name unique to the test."""
    return "p-" + uuid.uuid4().hex[:10]
