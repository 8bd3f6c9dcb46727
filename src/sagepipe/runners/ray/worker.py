"""What a Ray job runs on its worker: `python -m sagepipe.runners.ray.worker`.

The job's spec (runners/jobspec.py) comes as its one argument, JSON compressed with zlib and
base64-encoded: passing it on the command line keeps Ray from setting up a runtime
environment for every job, a good part of a short job's round trip. The worker makes the job's
directory on its own disk and runs the same supervisor as the local runner in this process
(staging from S3, the /opt/ml sandbox, the contracts, the uploads), copies the job's log to
its stdout as it grows (Ray keeps that as the job's log), and prints the supervisor's result
as the last line, after RESULT_MARKER, for the server to read from the log. A stop from Ray
(SIGTERM) reaches the supervisor, which stops the job as on the local runner."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
import threading
import zlib
from pathlib import Path

from sagepipe.runners.jobspec import hosts_file
from sagepipe.runners.local import supervisor
from sagepipe.runners.local.jobdir import JobDir
from sagepipe.runners.local.sandbox import SandboxUnavailable, detect

RESULT_MARKER = "[sagepipe-result] "
JOBS_DIR_VARIABLE = "SAGEPIPE_RAY_JOBS_DIR"  # where workers keep job directories


def encode_spec(spec: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(zlib.compress(json.dumps(spec).encode(), 6)).decode()


def main(argv: list[str]) -> int:
    spec = json.loads(zlib.decompress(base64.urlsafe_b64decode(argv[1])))
    base = Path(os.environ.get(JOBS_DIR_VARIABLE) or tempfile.gettempdir()) / "sagepipe-ray-jobs"
    jobdir = JobDir(base / spec["job_name"])
    shutil.rmtree(jobdir.path, ignore_errors=True)  # Ray never runs one submission twice
    jobdir.path.mkdir(parents=True)
    try:
        if spec["sandbox"] == "auto":
            spec["sandbox"] = _sandbox(base)
    except SandboxUnavailable as exc:
        return _report({"status": "Failed", "failure_reason": f"ClientError: {exc}"})
    jobdir.write_json(jobdir.spec, spec)
    jobdir.hosts.write_text(hosts_file(spec["plan"]["instance_count"]))
    jobdir.log.touch()
    done = threading.Event()
    copier = threading.Thread(target=_copy_log, args=(jobdir.log, done), daemon=True)
    copier.start()
    supervisor.main(["supervisor", str(jobdir.path)])
    done.set()
    copier.join()
    result = jobdir.read_json(jobdir.result) or {
        "status": "Failed", "failure_type": "SageMaker.JOB_INTERNAL_ERROR",
        "failure_reason": "InternalServerError: the job's supervisor left no result.",
    }  # fmt: skip
    if result.get("status") != "Failed":
        for tree in jobdir.opt_ml_trees():
            shutil.rmtree(tree, ignore_errors=True)
    return _report(result)


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


def _report(result: dict[str, object]) -> int:
    sys.stdout.write("\n" + RESULT_MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
