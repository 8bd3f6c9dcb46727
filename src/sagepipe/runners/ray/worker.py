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
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sagepipe.runners.jobspec import hosts_file
from sagepipe.runners.local import supervisor
from sagepipe.runners.local.jobdir import JobDir
from sagepipe.runners.local.sandbox import SandboxUnavailable, detect
from sagepipe.runners.ray.entrypoint import jobs_base

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
    spec: dict[str, Any], stop: threading.Event | None = None, gone: threading.Event | None = None
) -> int:
    """The job of `spec`, with its log and result on stdout. `stop` set means stop the job
    (the launcher's watchdog sets it when the Ray job's entrypoint asks for a stop or dies);
    `gone` set means the entrypoint died: Ray has ended the job as lost, so no result is
    reported (a result would turn a lost job into a stopped one)."""
    base = jobs_base()
    jobdir = JobDir(base / spec["submission_id"])
    shutil.rmtree(jobdir.path, ignore_errors=True)  # Ray never runs one submission twice
    jobdir.path.mkdir(parents=True)
    jobdir.log.touch()
    done = threading.Event()
    copier = threading.Thread(target=_copy_log, args=(jobdir.log, done), daemon=True)
    copier.start()

    def finish(result: dict[str, Any]) -> int:
        done.set()
        copier.join()
        if gone is None or not gone.is_set():
            sys.stdout.write("\n" + RESULT_MARKER + json.dumps(result) + "\n")
            sys.stdout.flush()
        return 0

    try:
        if spec["sandbox"] == "auto":
            spec["sandbox"] = _sandbox(base)
        addresses = _sibling_addresses(spec, jobdir, stop) if spec.get("siblings") else None
    except SandboxUnavailable as exc:
        return finish({"status": "Failed", "failure_reason": f"ClientError: {exc}"})
    except Unplaced as exc:
        return finish({"status": "Failed", "failure_reason": str(exc),
                       "failure_type": "SageMaker.CAPACITY_ERROR"})  # fmt: skip
    except Stopped:
        return finish({"status": "Stopped"})
    jobdir.write_json(jobdir.spec, spec)
    jobdir.hosts.write_text(hosts_file(spec["plan"]["instance_count"], addresses))
    if stop is not None and stop.is_set():
        jobdir.stop_file.touch()
    supervisor.main(["supervisor", str(jobdir.path)])
    result = jobdir.read_json(jobdir.result) or {
        "status": "Failed", "failure_type": "SageMaker.JOB_INTERNAL_ERROR",
        "failure_reason": "InternalServerError: the job's supervisor left no result.",
    }  # fmt: skip
    if result.get("status") != "Failed":
        for tree in jobdir.opt_ml_trees():
            shutil.rmtree(tree, ignore_errors=True)
    return finish(result)


class Unplaced(Exception):
    pass


class Stopped(Exception):
    pass


def _sibling_addresses(
    spec: dict[str, Any], jobdir: JobDir, stop: threading.Event | None
) -> dict[int, str]:
    """algo-i -> the address of the node instance i's Ray job runs on, as Ray reports it."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(spec["ray_address"])
    siblings: list[str] = spec["siblings"]
    addresses: dict[int, str] = {}
    deadline = time.monotonic() + PLACEMENT_TIMEOUT_S
    with open(jobdir.log, "ab", buffering=0) as log:
        said = False
        while True:
            for host, submission in enumerate(siblings, 1):
                if host in addresses:
                    continue
                info = client.get_job_info(submission)
                status = str(getattr(info.status, "value", info.status))
                if info.driver_agent_http_address:
                    addresses[host] = urlsplit(info.driver_agent_http_address).hostname or ""
                elif status in ("SUCCEEDED", "FAILED", "STOPPED"):
                    raise Stopped()  # the job ended before all its instances ran: stopped
            if len(addresses) == len(siblings):
                break
            if stop is not None and stop.is_set():
                raise Stopped()
            if time.monotonic() > deadline:
                raise Unplaced(
                    f"CapacityError: Ray did not run all {len(siblings)} instances of the job "
                    f"at once within {PLACEMENT_TIMEOUT_S:.0f} s. Give the cluster room for "
                    "InstanceCount instances of the InstanceType, or lower InstanceCount."
                )
            if not said:
                waiting = [f"algo-{h}" for h in range(1, len(siblings) + 1) if h not in addresses]
                log.write(f"[sagepipe] waiting for Ray to run {', '.join(waiting)}\n".encode())
                said = True
            time.sleep(0.2)
        hosts = ", ".join(f"algo-{h} on {addresses[h]}" for h in sorted(addresses))
        log.write(f"[sagepipe] instances: {hosts}\n".encode())
    return addresses


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
