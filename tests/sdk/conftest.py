"""Fixtures for the real-client tests: one SQLite sagepipe server per test.

Nothing here imports the SageMaker SDK: each test module decides whether it can run. Where a
run exists for one SDK's module (scripts/test sets SAGEPIPE_REQUIRE_SDK_SUITE to its path),
that module's skipping itself, or passing no test, fails the run instead of looking green."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from tests.support.s3 import MotoServer, running_moto
from tests.support.server import ServerProcess

START_TIMEOUT = 30.0
REQUIRED_SUITE = os.environ.get("SAGEPIPE_REQUIRE_SDK_SUITE", "")
_required_suite_missing: list[str] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not REQUIRED_SUITE or exitstatus not in (0, pytest.ExitCode.NO_TESTS_COLLECTED):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats if reporter is not None else {}
    if any(r.nodeid.startswith(REQUIRED_SUITE) for r in stats.get("passed", [])):
        return
    reasons = sorted(
        {
            str(r.longrepr[2]) if isinstance(r.longrepr, tuple) else str(r.longrepr)
            for r in stats.get("skipped", [])
            if r.nodeid.startswith(REQUIRED_SUITE)
        }
    )
    _required_suite_missing.append(
        f"{REQUIRED_SUITE} passed no test" + (f": {'; '.join(reasons)}" if reasons else "")
    )
    if exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    for line in _required_suite_missing:
        terminalreporter.write_line(
            f"FAILED: SAGEPIPE_REQUIRE_SDK_SUITE is set but {line}", red=True, bold=True
        )


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


@pytest.fixture(scope="module")
def s3_server() -> Iterator[MotoServer]:
    """A real S3 API (moto's server) for the modules whose pipelines run for real."""
    with running_moto() as server:
        yield server
