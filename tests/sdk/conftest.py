"""Fixtures for the real-client tests: one SQLite sagepipe server per test.

Nothing here imports the SageMaker SDK: each test module decides whether it can run."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.support.server import ServerProcess

START_TIMEOUT = 30.0


@pytest.fixture
def backend() -> str:
    """The SDK tests exercise clients, not storage: SQLite only (overrides the root fixture)."""
    return "sqlite"


@pytest.fixture
def server(server_args: list[str]) -> Iterator[ServerProcess]:
    """The root fixture's server, with a hard start-up deadline: ServerProcess.start() reads
    the child's output line by line and would wait forever on a server that neither prints
    "ready" nor exits."""
    process = ServerProcess(server_args)
    failure: list[BaseException] = []

    def start() -> None:
        try:
            process.start()
        except BaseException as error:  # reported below, in the test's thread
            failure.append(error)

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    starter.join(START_TIMEOUT)
    if starter.is_alive() or failure:
        process.kill()
        starter.join(5)
        output = "".join(process.output)
        reason = failure[0] if failure else f"not ready within {START_TIMEOUT:.0f} s"
        pytest.fail(f"sagepipe serve did not start: {reason}\n{output}")
    try:
        yield process
    finally:
        process.stop()
