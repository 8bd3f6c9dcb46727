"""Fixtures of the local-runner suite: a real S3 API and a sagepipe server running real jobs
against it.

Each test runs three times: under bubblewrap and under unshare against moto's S3 server, and
once more under bubblewrap against the embedded store (SeaweedFS, started by this session
through sagepipe's own supervisor; tests/local/test_embedded_store.py covers the store a
server runs itself)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.jobenv import job_environment
from tests.support.s3 import MotoServer, SeaweedServer, running_moto, running_seaweed
from tests.support.server import ServerProcess

RUNS = [("bwrap", "moto"), ("unshare", "moto"), ("bwrap", "seaweedfs")]


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


@pytest.fixture(scope="session")
def seaweedfs_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    with running_seaweed(tmp_path_factory.mktemp("seaweedfs") / "s3") as server:
        yield server


@pytest.fixture(params=RUNS, ids=["-".join(run) for run in RUNS])
def local_run(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(sandbox, object store) of this run of the test."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def s3_server(local_run: tuple[str, str], request: pytest.FixtureRequest) -> Any:
    """The S3 API of this run: moto's server or the embedded store."""
    return request.getfixturevalue(f"{local_run[1]}_s3")


@pytest.fixture
def s3(s3_server: Any) -> Any:
    return s3_server.client()


@pytest.fixture
def bucket(s3: Any, name: str) -> str:
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def sandbox(local_run: tuple[str, str]) -> str:
    """The sandbox of this run. One that is not installed here is skipped, saying so; in CI
    (SAGEPIPE_REQUIRE_SANDBOXES=1) that is a failure instead."""
    tool = local_run[0]
    if tool != "auto" and shutil.which(tool) is None:
        message = f"{tool} is not installed (apt-get install bubblewrap / util-linux)"
        if os.environ.get("SAGEPIPE_REQUIRE_SANDBOXES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return tool


@pytest.fixture
def local_server(local_server_with: Any) -> ServerProcess:
    """A local-runner server on this run's S3 API, in its sandbox."""
    server: ServerProcess = local_server_with()
    return server


@pytest.fixture
def local_server_with(
    s3_server: Any, tmp_path: Path, sandbox: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """A factory: a local-runner server with extra flags."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    servers: list[ServerProcess] = []

    def start(*extra: str) -> ServerProcess:
        server = ServerProcess(
            ["--data-dir", str(tmp_path / "data"), "--runner", "local", "--sandbox", sandbox,
             "--s3-endpoint-url", s3_server.url, *extra]
        )  # fmt: skip
        server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
def training_venv() -> Path:
    """A job environment with the sagemaker-training toolkit and scikit-learn, as a framework
    image would have them (built once, reused while its requirements are unchanged)."""
    return job_environment("sagemaker-training", "scikit-learn")
