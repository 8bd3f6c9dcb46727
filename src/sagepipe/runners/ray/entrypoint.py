"""What a Ray job runs: `python -m sagepipe.runners.ray.entrypoint SPEC`.

A fresh Python that imports boto3 and makes an S3 client spends about 0.3 s before the job's
own work starts, a good part of a short step. So this entrypoint imports only the standard
library and hands the job to the node's warm launcher (runners/ray/launcher.py) over a Unix
socket, with its own stdout and stderr, which Ray keeps as the job's log: the launcher forks a
worker for the job that writes there directly. The entrypoint then waits for the worker to
say it is done. A stop from Ray (SIGTERM) is passed on to the worker; if this process is
killed outright, the worker sees the socket close and stops the job too, so a job never
outlives its Ray job.

Where no launcher can be reached or started, the job runs in this process."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sagepipe

JOBS_DIR_VARIABLE = "SAGEPIPE_RAY_JOBS_DIR"  # where workers keep job directories
CONNECT_FOR_S = 10.0  # how long a launcher that is starting may take to answer


def launcher_socket(base: Path) -> Path:
    """One launcher per jobs directory, Python and sagepipe version: a node whose sagepipe
    was upgraded starts a new launcher instead of using the old one's code."""
    key = f"{sys.executable}\0{sagepipe.__version__}\0{Path(sagepipe.__file__).parent}"
    return base / f"launcher-{hashlib.sha256(key.encode()).hexdigest()[:12]}.sock"


def jobs_base() -> Path:
    """Where this node keeps its job directories and its launcher's socket."""
    return Path(os.environ.get(JOBS_DIR_VARIABLE) or tempfile.gettempdir()) / "sagepipe-ray-jobs"


def main(argv: list[str]) -> int:
    connection = _hand_over(jobs_base(), argv[1])
    if connection is None:
        from sagepipe.runners.ray import worker

        return worker.run(worker.decode_spec(argv[1]))
    return _wait(connection)


def _hand_over(base: Path, encoded: str) -> socket.socket | None:
    """The job handed to the node's launcher (started if need be), or None."""
    path = launcher_socket(base)
    if len(os.fsencode(path)) > 100:  # a Unix socket's path holds 107 bytes at most
        return None
    started = False
    deadline = time.monotonic() + CONNECT_FOR_S
    while time.monotonic() < deadline:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(str(path))
            socket.send_fds(connection, [encoded.encode() + b"\n"], [1, 2])
            if _read_line(connection) == b"taken":
                return connection
        except OSError:
            pass
        connection.close()
        if not started:
            started = _start_launcher(base, path)
            if not started:
                return None
        time.sleep(0.05)
    return None


def _start_launcher(base: Path, path: Path) -> bool:
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        errors = open(base / "launcher.err", "ab")  # noqa: SIM115 - handed to the launcher
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


def _wait(connection: socket.socket) -> int:
    """Until the worker says it is done; Ray's stop signal asks it to stop the job."""

    def stop(*_: object) -> None:
        with contextlib.suppress(OSError):
            connection.sendall(b"stop\n")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    line = _read_line(connection)
    return 0 if line == b"done" else 1


def _read_line(connection: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(64)
        if not chunk:
            break
        data += chunk
    return data.strip()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
