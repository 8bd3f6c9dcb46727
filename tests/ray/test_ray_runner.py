"""The ray runner's suite (tests/ray/inside), run where Ray may be run: Ray binds to and
advertises the machine's own network address even when told 127.0.0.1, and tests here send
traffic to loopback only. So this test runs the suite in a network namespace of its own with
only `lo` up, and a PID namespace, so every process Ray starts ends with it:

    unshare --net --pid --fork --mount-proc sh -c 'ip link set lo up && pytest tests/ray/inside'

Where such namespaces cannot be made (not root and no user namespaces) it is skipped, saying
so; with SAGEPIPE_REQUIRE_RAY=1 (CI) that fails instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _namespace_problem() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return (
            "unshare (util-linux) and ip (iproute2) are needed to give Ray a loopback-only network"
        )
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed (pip install 'sagepipe[ray]'; the test extra has it)"
    probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "sh", "-c",
                            "ip link set lo up"], capture_output=True, text=True)  # fmt: skip
    if probe.returncode != 0:
        return f"cannot make a network and PID namespace here: {probe.stderr.strip()}"
    return None


def require_namespaces() -> None:
    """Skip the calling test where Ray cannot be given a loopback-only network (fail in CI)."""
    problem = _namespace_problem()
    if problem:
        if os.environ.get("SAGEPIPE_REQUIRE_RAY") == "1":
            pytest.fail(f"SAGEPIPE_REQUIRE_RAY=1 but {problem}")
        pytest.skip(problem)


def test_the_ray_runner_suite_inside_a_loopback_only_network(tmp_path: Path) -> None:
    require_namespaces()
    inner = (f"ip link set lo up && exec {sys.executable} -m pytest -p no:cacheprovider "
             f"--basetemp={tmp_path / 'inner'} -q tests/ray/inside")  # fmt: skip
    done = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount-proc", "sh", "-c", inner],
        cwd=ROOT, env={**os.environ, "SAGEPIPE_RAY_NETNS": "1"}, capture_output=True, text=True,
        timeout=1200,
    )  # fmt: skip
    sys.stdout.write(done.stdout[-20000:])
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-4000:]
    assert (
        " passed" in done.stdout.splitlines()[-1] and "skipped" not in done.stdout.splitlines()[-1]
    )
