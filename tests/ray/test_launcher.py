"""A Ray job's entrypoint and its node's warm launcher (runners/ray/entrypoint.py,
launcher.py), run as real processes the way Ray runs them, with no Ray: the entrypoint's
stdout is a file, as Ray's job log is. The first job starts the launcher and the next one
uses it (a client that sends no job is dropped); the job's log and result come on the
entrypoint's stdout; SIGTERM (Ray's stop) stops the job with a Stopped result; a SIGKILLed
entrypoint ends the job at once and reports nothing (Ray ends such a job as lost); and where
no launcher can serve, the job runs in the entrypoint."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagepipe.objectstore.store import StoreConfig
from sagepipe.runners.jobspec import SpecMaker
from sagepipe.runners.local.images import ImageMap
from sagepipe.runners.ray.entrypoint import launcher_socket
from sagepipe.runners.ray.worker import RESULT_MARKER, encode_spec
from tests.support.s3 import MotoServer, running_moto
from tests.support.steps import poll

JOB = """
import os, time
print("hello from", os.environ["PROCESSING_JOB_NAME"], flush=True)
print("devices", os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
if os.environ.get("HOLD"):
    print("holding", flush=True)
    time.sleep(120)
"""


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


@pytest.fixture
def sandbox() -> str:
    for tool in ("bwrap", "unshare"):
        if shutil.which(tool):
            return tool
    message = "neither bwrap nor unshare is installed (apt-get install bubblewrap)"
    if os.environ.get("SAGEPIPE_REQUIRE_SANDBOXES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def jobs_dir() -> Iterator[Path]:
    """A node's jobs directory; its launcher, if one started, is ended afterwards."""
    path = Path(f"/tmp/sp-launch-{uuid.uuid4().hex[:8]}")  # short: the socket's path is limited
    yield path
    for lock in path.glob("sagepipe-ray-jobs/launcher-*.lock"):
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(lock.read_text().strip()), signal.SIGTERM)
    shutil.rmtree(path, ignore_errors=True)


def spec_of(moto: MotoServer, sandbox: str, **environment: str) -> dict[str, Any]:
    store = StoreConfig(moto.url, access_key=moto.access_key, secret_key=moto.secret_key)
    name = f"job-{uuid.uuid4().hex[:8]}"
    job = {"step_type": "Processing", "name": name, "started": time.time(),
           "arn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name}",
           "arguments": {
               "ProcessingResources": {"ClusterConfig": {
                   "InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}},
               "AppSpecification": {"ImageUri": "python:3",
                                    "ContainerEntrypoint": [sys.executable, "-c", JOB]},
               "Environment": environment,
               "RoleArn": "arn:aws:iam::123456789012:role/R"}}  # fmt: skip
    spec = SpecMaker("ray", ImageMap(), store, sandbox, check_commands=False).spec(job)
    return {**spec, "submission_id": name, "instances_here": [1]}


def entrypoint(
    spec: dict[str, Any], jobs_dir: Path, log: Path, **environment: str
) -> subprocess.Popen[bytes]:
    """The Ray job's entrypoint, with the environment Ray gives it (`environment`: e.g. the
    GPUs Ray assigned)."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sagepipe.runners.ray.entrypoint", encode_spec(spec)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "SAGEPIPE_RAY_JOBS_DIR": str(jobs_dir), **environment},
        )  # fmt: skip


def result_of(log: Path) -> dict[str, Any] | None:
    lines = [line for line in log.read_text().splitlines() if line.startswith(RESULT_MARKER)]
    return json.loads(lines[-1][len(RESULT_MARKER) :]) if lines else None


def launcher_pid(jobs_dir: Path) -> int:
    lock = launcher_socket(jobs_dir / "sagepipe-ray-jobs").with_suffix(".lock")
    return int(lock.read_text().strip())


def supervisor_of(jobs_dir: Path, spec: dict[str, Any]) -> dict[str, int]:
    """The process that ran the job's supervisor, and its parent (its supervisor.json)."""
    jobdir = jobs_dir / "sagepipe-ray-jobs" / spec["submission_id"]
    found: dict[str, int] = json.loads((jobdir / "supervisor.json").read_text())
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_first_job_starts_the_launcher_and_the_next_uses_it(
    moto: MotoServer, sandbox: str, jobs_dir: Path, tmp_path: Path
) -> None:
    pids = []
    for i in range(2):
        spec = spec_of(moto, sandbox)
        log = tmp_path / f"log-{i}"
        # Each job sees the GPUs Ray gave its own entrypoint, not the launcher's first job's.
        assert entrypoint(spec, jobs_dir, log, CUDA_VISIBLE_DEVICES=str(i)).wait(timeout=60) == 0
        assert f"hello from {spec['job_name']}\ndevices {i}\n" in log.read_text()
        assert (result_of(log) or {}).get("status") == "Succeeded", log.read_text()[-2000:]
        pids.append(launcher_pid(jobs_dir))
        # The job's supervisor ran in a worker the launcher forked, not in the entrypoint.
        assert supervisor_of(jobs_dir, spec)["parent"] == pids[-1]
        # Whatever else reaches the socket is dropped; the launcher serves on.
        with socket.socket(socket.AF_UNIX) as stray:
            stray.connect(str(launcher_socket(jobs_dir / "sagepipe-ray-jobs")))
            stray.sendall(b"not a job\n")
            assert stray.recv(10) == b""
    assert pids[0] == pids[1] and running(pids[0])


def test_sigterm_to_the_entrypoint_stops_the_job_with_a_stopped_result(
    moto: MotoServer, sandbox: str, jobs_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    process = entrypoint(spec_of(moto, sandbox, HOLD="1"), jobs_dir, log)
    poll("the job to run", log.read_text, lambda text: "holding" in text, 60)
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)  # what Ray's stop_job sends first
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - began < 10
    assert (result_of(log) or {}).get("status") == "Stopped", log.read_text()[-2000:]


def test_a_killed_entrypoint_ends_the_job_at_once_and_reports_nothing(
    moto: MotoServer, sandbox: str, jobs_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    spec = spec_of(moto, sandbox, HOLD="1")
    process = entrypoint(spec, jobs_dir, log)
    poll("the job to run", log.read_text, lambda text: "holding" in text, 60)
    jobdir = jobs_dir / "sagepipe-ray-jobs" / spec["submission_id"]
    supervisor = json.loads((jobdir / "supervisor.json").read_text())["pid"]
    process.kill()  # as when Ray's job supervisor dies: SIGKILL, no word to the worker
    process.wait(timeout=10)
    poll("the job's supervisor to end", lambda: running(supervisor), lambda alive: not alive, 10)
    assert "[sagepipe] stopped" in (jobdir / "log").read_text()
    assert result_of(log) is None  # a result would make Ray's lost job look stopped


def test_without_a_launcher_the_job_runs_in_the_entrypoint(
    moto: MotoServer, sandbox: str, tmp_path: Path
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)  # too long a path for the launcher's socket
    log = tmp_path / "log"
    spec = spec_of(moto, sandbox)
    process = entrypoint(spec, deep, log, CUDA_VISIBLE_DEVICES="1")
    assert process.wait(timeout=60) == 0
    assert "devices 1\n" in log.read_text()
    assert (result_of(log) or {}).get("status") == "Succeeded", log.read_text()[-2000:]
    assert supervisor_of(deep, spec)["pid"] == process.pid  # it ran in the entrypoint
    assert not list(deep.glob("sagepipe-ray-jobs/launcher-*"))
