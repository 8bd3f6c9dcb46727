"""What a Ray job runs: `python -m sagepipe.runners.ray.entrypoint SPEC`.

A fresh Python that imports boto3 and makes an S3 client spends about 0.3 s before the job's
own work starts, a good part of a short step. So this entrypoint imports only the standard
library and hands the job to the node's warm launcher (runners/ray/launcher.py) over a Unix
socket, with its own stdout and stderr, which Ray keeps as the job's log: the launcher forks a
worker for the job that writes there directly. The entrypoint then waits for the worker to
say it is done. A stop from Ray (SIGTERM, or SIGINT) is passed on to the worker; when this
process ends first (Ray kills it after its stop wait, or when the job's JobSupervisor dies),
the worker sees the socket close and kills the job at once, so a job never outlives its Ray
job.

Where no launcher can be reached or started, or the jobs directory is not safe for its
socket (base_problem), the job runs in this process."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

import sagepipe

JOBS_DIR_VARIABLE = "SAGEPIPE_RAY_JOBS_DIR"  # where workers keep job directories
# The accelerators Ray gave this job (it sets these for a job that asks for GPUs or other
# accelerators): the job's own environment gets them, wherever its worker was forked.
DEVICE_VARIABLES = ("CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
                    "NEURON_RT_VISIBLE_CORES", "TPU_VISIBLE_CHIPS", "ONEAPI_DEVICE_SELECTOR")  # fmt: skip
CONNECT_FOR_S = 10.0  # how long a launcher that is starting may take to answer


def launcher_socket(base: Path) -> Path:
    """One launcher per jobs directory, Python and sagepipe version: a node whose sagepipe
    was upgraded starts a new launcher instead of using the old one's code."""
    key = f"{sys.executable}\0{sagepipe.__version__}\0{Path(sagepipe.__file__).parent}"
    return base / f"launcher-{hashlib.sha256(key.encode()).hexdigest()[:12]}.sock"


def assigned_devices() -> dict[str, str]:
    return {name: os.environ[name] for name in DEVICE_VARIABLES if name in os.environ}


def jobs_base() -> Path:
    """Where this node keeps its job directories and its launcher's socket."""
    return Path(os.environ.get(JOBS_DIR_VARIABLE) or tempfile.gettempdir()) / "sagepipe-ray-jobs"


def base_problem(base: Path) -> str | None:
    """Why `base` (made if missing) must not hold this user's jobs and launcher socket: another
    user who can write there could stand in for the launcher. None when it is fine."""
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        found = os.lstat(base)
    except OSError as exc:
        return f"the jobs directory {base} cannot be made: {exc}"
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o022:
        return (
            f"the jobs directory {base} is not a directory of this user that only this user "
            f"can write to; set {JOBS_DIR_VARIABLE} to one that is"
        )
    return None


def main(argv: list[str]) -> int:
    base = jobs_base()
    handed = None if base_problem(base) else _hand_over(base, argv[1])
    if handed is None:
        from sagepipe.runners.ray import worker

        return worker.run(worker.decode_spec(argv[1]))
    return _wait(*handed)


def _hand_over(base: Path, encoded: str) -> tuple[socket.socket, BinaryIO] | None:
    """The job handed to the node's launcher (started if need be), or None. Once the launcher
    has said "taken" the job is its; a launcher that closes without saying so did not take
    it, and one that says nothing in time is let go (a worker it forks then finds the socket
    closed and stops at once)."""
    path = launcher_socket(base)
    if len(os.fsencode(path)) > 100:  # a Unix socket's path holds 107 bytes at most
        return None
    started_at = -1.0
    deadline = time.monotonic() + CONNECT_FOR_S
    while time.monotonic() < deadline:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(max(deadline - time.monotonic(), 0.1))
        reader = connection.makefile("rb")
        try:
            connection.connect(str(path))
            message = json.dumps({"spec": encoded, "devices": assigned_devices()})
            socket.send_fds(connection, [message.encode() + b"\n"], [1, 2])
            if reader.readline().strip() == b"taken":
                connection.settimeout(None)
                return connection, reader
        except OSError:
            pass
        reader.close()
        connection.close()
        if time.monotonic() - started_at > 1.0:  # none yet, or one that has since ended
            started_at = time.monotonic()
            if not _start_launcher(path):
                return None
        time.sleep(0.05)
    return None


def _start_launcher(path: Path) -> bool:
    try:
        errors = open(path.parent / "launcher.err", "ab")  # noqa: SIM115 - the launcher's
    except OSError:
        return False
    with errors:
        # The launcher detaches itself (it forks, and this child exits once it listens), so
        # it is not one of this job's processes, which Ray ends with the job.
        launched = subprocess.run(
            [sys.executable, "-m", "sagepipe.runners.ray.launcher", str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
            start_new_session=True, check=False,
        )  # fmt: skip
    return launched.returncode == 0


def _wait(connection: socket.socket, reader: BinaryIO) -> int:
    """Until the worker says it is done; Ray's stop signal asks it to stop the job."""

    def stop(*_: object) -> None:
        with contextlib.suppress(OSError):
            connection.sendall(b"stop\n")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return 0 if reader.readline().strip() == b"done" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
