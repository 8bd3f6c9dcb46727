"""One Ray job's work on its node: the job directory, the supervisor, the result.

The job's spec (runners/jobspec.py) comes as one argument, JSON compressed with zlib and
base64-encoded: passing it on the command line keeps Ray from setting up a runtime
environment for every job, a good part of a short job's round trip. `run` makes the job's
directory on this node's disk and runs the same supervisor as the local runner (staging from
S3, the /opt/ml sandbox, the contracts, the uploads), copies the job's log to stdout as it
grows (Ray keeps that as the job's log), and prints the supervisor's result as the last line,
after RESULT_MARKER, for the server to read from the log.

A job with InstanceCount N is N Ray jobs, one per instance (runners/ray/runner.py); each runs
its own instance here, and first finds the nodes its siblings run on through Ray's Jobs API,
so that algo-1..N in /etc/hosts name those nodes."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import threading
import time
import traceback
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sagepipe.runners.jobspec import hosts_file
from sagepipe.runners.local import supervisor
from sagepipe.runners.local.jobdir import JobDir
from sagepipe.runners.local.sandbox import SandboxUnavailable, detect
from sagepipe.runners.port import JOB_INTERNAL_ERROR
from sagepipe.runners.ray.entrypoint import assigned_devices, base_problem, jobs_base

RESULT_MARKER = "[sagepipe-result] "
# How long an instance waits for Ray to place its siblings: Ray queues each instance's job on
# its own, so a cluster short of room runs some instances and leaves the others waiting.
PLACEMENT_TIMEOUT_S = 600.0


def encode_spec(spec: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(zlib.compress(json.dumps(spec).encode(), 6)).decode()


def decode_spec(encoded: str) -> dict[str, Any]:
    spec = json.loads(zlib.decompress(base64.urlsafe_b64decode(encoded)))
    assert isinstance(spec, dict)
    return spec


def run(
    spec: dict[str, Any], stop: threading.Event | None = None,
    gone: threading.Event | None = None, devices: dict[str, str] | None = None,
) -> int:  # fmt: skip
    """The job of `spec`, with its log and result on stdout. `stop` set means stop the job
    (the launcher's watchdog sets it when the Ray job's entrypoint asks for a stop or dies);
    `gone` set means the entrypoint died: Ray has ended the job as lost, so no result is
    reported (a result would turn a lost job into a stopped one). `devices`: the
    accelerators Ray gave the job's entrypoint (default: this process's), for the job."""
    spec["environment"].update(assigned_devices() if devices is None else devices)
    base = jobs_base()
    if (problem := base_problem(base)) is not None:
        return _report({"status": "Failed", "failure_reason": f"ClientError: {problem}"}, gone)
    jobdir = JobDir(base / spec["submission_id"])
    shutil.rmtree(jobdir.path, ignore_errors=True)  # Ray never runs one submission twice
    jobdir.path.mkdir()
    jobdir.log.touch()
    done = threading.Event()
    copier = threading.Thread(target=_copy_log, args=(jobdir.log, done), daemon=True)
    copier.start()
    try:
        result = _work(spec, jobdir, base, stop)
    except Exception as exc:  # a bug here must still end the job with a reason
        with open(jobdir.log, "a") as log:
            log.write("[sagepipe] the ray worker failed:\n" + traceback.format_exc())
        result = {"status": "Failed", "failure_type": JOB_INTERNAL_ERROR,
                  "failure_reason": f"InternalServerError: the ray worker failed: {exc!r}"}  # fmt: skip
    done.set()
    copier.join()
    return _report(result, gone)


def _work(
    spec: dict[str, Any], jobdir: JobDir, base: Path, stop: threading.Event | None
) -> dict[str, Any]:
    try:
        if spec["sandbox"] == "auto":
            spec["sandbox"] = _sandbox(base)
        addresses = _sibling_addresses(spec, jobdir, stop) if spec.get("siblings") else None
    except SandboxUnavailable as exc:
        return {"status": "Failed", "failure_reason": f"ClientError: {exc}"}
    except Unplaced as exc:
        return {"status": "Failed", "failure_reason": exc.reason, "failure_type": exc.kind}
    except Stopped:
        return {"status": "Stopped"}
    jobdir.write_json(jobdir.spec, spec)
    jobdir.hosts.write_text(hosts_file(spec["plan"]["instance_count"], addresses))
    if stop is not None and stop.is_set():
        jobdir.stop_file.touch()
    supervisor.main(["supervisor", str(jobdir.path)])
    result: dict[str, Any] = jobdir.read_json(jobdir.result) or {
        "status": "Failed", "failure_type": JOB_INTERNAL_ERROR,
        "failure_reason": "InternalServerError: the job's supervisor left no result.",
    }  # fmt: skip
    if result.get("status") != "Failed":
        for tree in jobdir.opt_ml_trees():
            shutil.rmtree(tree, ignore_errors=True)
    return result


class Unplaced(Exception):
    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason, self.kind = reason, kind


class Stopped(Exception):
    pass


def _sibling_addresses(
    spec: dict[str, Any], jobdir: JobDir, stop: threading.Event | None
) -> dict[int, str]:
    """algo-i -> the address of the node instance i's Ray job runs on, as Ray's Jobs API at
    the server's --ray-address reports it. A sibling not yet submitted or placed, and a Jobs
    API that does not answer, are waited for until PLACEMENT_TIMEOUT_S."""
    from ray.job_submission import JobSubmissionClient

    # The server's address, not RAY_ADDRESS (Ray sets that in a job's environment, and it would
    # take precedence over the address given).
    os.environ["RAY_API_SERVER_ADDRESS"] = spec["ray_address"]
    siblings: list[str] = spec["siblings"]
    addresses: dict[int, str] = {}
    client: Any = None
    trouble = ""  # the last error from the Jobs API, if it was not answering
    deadline = time.monotonic() + PLACEMENT_TIMEOUT_S
    with open(jobdir.log, "ab", buffering=0) as log:
        said = False
        while len(addresses) < len(siblings):
            try:
                client = client or JobSubmissionClient(spec["ray_address"])
                for host, submission in enumerate(siblings, 1):
                    if host not in addresses and (found := _node_of(client, submission)):
                        addresses[host] = found
                trouble = ""
            except (OSError, RuntimeError) as exc:  # requests' errors are OSErrors
                trouble = str(exc)[:300]
            if len(addresses) == len(siblings):
                break
            if stop is not None and stop.is_set():
                raise Stopped()
            if time.monotonic() > deadline:
                raise _unplaced(spec, len(siblings), trouble)
            if not said:
                waiting = [f"algo-{h}" for h in range(1, len(siblings) + 1) if h not in addresses]
                log.write(f"[sagepipe] waiting for Ray to run {', '.join(waiting)}\n".encode())
                said = True
            time.sleep(0.2)
        hosts = ", ".join(f"algo-{h} on {addresses[h]}" for h in sorted(addresses))
        log.write(f"[sagepipe] instances: {hosts}\n".encode())
    return addresses


def _node_of(client: Any, submission: str) -> str | None:
    """The address of the node a sibling's Ray job runs on; None while it waits. Stopped when
    it ended before every instance ran (the server stopped the job, or it failed)."""
    try:
        info = client.get_job_info(submission)
    except RuntimeError as exc:
        if "does not exist" in str(exc):
            return None  # the server has not submitted it yet
        raise
    if info.driver_agent_http_address:
        return urlsplit(info.driver_agent_http_address).hostname or None
    if str(getattr(info.status, "value", info.status)) in ("SUCCEEDED", "FAILED", "STOPPED"):
        raise Stopped()
    return None


def _unplaced(spec: dict[str, Any], count: int, trouble: str) -> Unplaced:
    if trouble:
        return Unplaced(
            f"InternalServerError: the instance could not ask Ray's Jobs API at "
            f"{spec['ray_address']} where the job's other instances run ({trouble}). Ray's "
            "nodes must reach the server's --ray-address.", JOB_INTERNAL_ERROR,
        )  # fmt: skip
    return Unplaced(
        f"CapacityError: Ray did not run all {count} instances of the job at once within "
        f"{PLACEMENT_TIMEOUT_S:.0f} s. Give the cluster room for InstanceCount instances of the "
        "InstanceType, or lower InstanceCount.", "SageMaker.CAPACITY_ERROR",
    )  # fmt: skip


def _sandbox(base: Path) -> str:
    """The sandbox this worker has: probed once (it runs one), then remembered beside the jobs."""
    known = base / ".sandbox"
    try:
        return known.read_text().strip()
    except OSError:
        tool = detect("auto", base / f".probe-{os.getpid()}").tool
        known.write_text(tool)
        return tool


def _copy_log(path: Path, done: threading.Event) -> None:
    """Follow the job's log into stdout until the supervisor is done, then the rest."""
    out = sys.stdout.buffer
    with open(path, "rb") as log:
        while True:
            chunk = log.read(65536)
            if chunk:
                out.write(chunk)
                out.flush()
                continue
            if done.is_set():
                return
            done.wait(0.2)


def _report(result: dict[str, Any], gone: threading.Event | None) -> int:
    if gone is None or not gone.is_set():
        sys.stdout.write("\n" + RESULT_MARKER + json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0
