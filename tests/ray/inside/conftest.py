"""The ray runner's tests, inside the namespace tests/ray/test_ray_runner.py makes: one Ray
head for the session (~10 s, ~0.5 GB), moto's S3 server, and sagepipe servers on
--runner ray. Outside that namespace they are skipped: run tests/ray/test_ray_runner.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.s3 import MotoServer, running_moto

DASHBOARD = "http://127.0.0.1:8265"
RAY = str(Path(sys.executable).parent / "ray")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("SAGEPIPE_RAY_NETNS") != "1":
        skip = pytest.mark.skip(
            reason="runs inside the namespace tests/ray/test_ray_runner.py makes"
        )
        here = Path(__file__).parent
        for item in items:  # this hook sees every collected test, not only these
            if here in Path(str(item.fspath)).parents:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
           "SAGEPIPE_RAY_JOBS_DIR": str(tmp_path_factory.mktemp("ray-jobs"))}  # fmt: skip
    subprocess.run([RAY, "start", "--head", "--port=6380", "--dashboard-host=127.0.0.1",
                    "--node-ip-address=127.0.0.1", "--num-cpus=2", "--disable-usage-stats",
                    "--object-store-memory=100000000"],
                   check=True, env=env, capture_output=True, timeout=120)  # fmt: skip
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{DASHBOARD}/api/version", timeout=2):
                break
        except OSError:
            assert time.time() < deadline, "the Ray dashboard did not come up"
            time.sleep(0.5)
    try:
        yield DASHBOARD
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


@pytest.fixture
def jobs() -> object:
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(DASHBOARD)
