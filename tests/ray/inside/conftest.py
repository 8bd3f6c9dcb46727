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

from tests.support.s3 import MotoServer, free_port, running_moto

DASHBOARD = "http://127.0.0.1:8265"
RAY = str(Path(sys.executable).parent / "ray")
INSTANCE_SLOT = "sagepipe_test_instance"
SECOND_NODE_IP = "127.0.0.2"


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
    # One unit of INSTANCE_SLOT per node: a job whose instances each ask for one runs them
    # on distinct nodes (the second node: the `second_node` fixture).
    subprocess.run([RAY, "start", "--head", "--port=6380", "--dashboard-host=127.0.0.1",
                    "--node-ip-address=127.0.0.1", "--num-cpus=2", "--disable-usage-stats",
                    "--object-store-memory=100000000", f"--resources={{\"{INSTANCE_SLOT}\": 1}}"],
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
def second_node(ray_head: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A second Ray node (a raylet of its own, with its own jobs directory), joined to the
    head; yields that jobs directory. It ends with the head's `ray stop`."""
    jobs_dir = tmp_path_factory.mktemp("ray-jobs-second")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "SAGEPIPE_RAY_JOBS_DIR": str(jobs_dir)}
    # On an address of its own (lo carries all of 127/8), as a second machine would be.
    subprocess.run([RAY, "start", "--address=127.0.0.1:6380", f"--node-ip-address={SECOND_NODE_IP}",
                    "--num-cpus=1", "--disable-usage-stats", "--object-store-memory=80000000",
                    # Its agent serves the job's logs; the head's has the default port here.
                    f"--dashboard-agent-listen-port={free_port()}",
                    f"--resources={{\"{INSTANCE_SLOT}\": 1}}"],
                   check=True, env=env, capture_output=True, timeout=120)  # fmt: skip
    from ray.util.state import list_nodes

    from tests.support.steps import poll

    def alive_nodes() -> int:
        return len([n for n in list_nodes(address=DASHBOARD) if n.state == "ALIVE"])

    poll("the second Ray node to join", alive_nodes, lambda count: count >= 2, 60)
    yield jobs_dir


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


@pytest.fixture
def jobs() -> object:
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(DASHBOARD)
