"""Fixtures of the local-runner suite: a real S3 API (moto's server) and a sagepipe server
running real jobs against it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.jobenv import job_environment
from tests.support.s3 import MotoServer, running_moto
from tests.support.server import ServerProcess


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


@pytest.fixture
def s3(s3_server: MotoServer) -> Any:
    return s3_server.client()


@pytest.fixture
def bucket(s3: Any, name: str) -> str:
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["bwrap", "unshare"])
def sandbox(request: pytest.FixtureRequest) -> str:
    """Each sandbox the local runner can use. One that is not installed here is skipped,
    saying so; in CI (SAGEPIPE_REQUIRE_SANDBOXES=1) that is a failure instead."""
    tool = str(request.param)
    if shutil.which(tool) is None:
        message = f"{tool} is not installed (apt-get install bubblewrap / util-linux)"
        if os.environ.get("SAGEPIPE_REQUIRE_SANDBOXES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return tool


@pytest.fixture
def local_server(local_server_with: Any) -> ServerProcess:
    """A local-runner server on moto's S3 server, in the test's sandbox."""
    server: ServerProcess = local_server_with()
    return server


@pytest.fixture
def local_server_with(
    s3_server: MotoServer, tmp_path: Path, sandbox: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """A factory: a local-runner server with extra flags."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
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
