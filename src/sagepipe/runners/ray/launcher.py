"""A node's warm launcher: `python -m sagepipe.runners.ray.launcher SOCKET`.

The ray runner's counterpart of runners/local/launcher.py: it imports the worker and makes
the object store's client once, then forks a worker per Ray job from that warm state. The job's
entrypoint (runners/ray/entrypoint.py) connects to SOCKET and sends the job's spec with its
stdout and stderr; the forked worker answers "taken", runs the job with its output going
straight to Ray's log, and says "done" at the end. A watchdog thread in the worker stops the
job when the entrypoint asks ("stop", from Ray's stop_job) or goes away (the socket closes:
Ray killed it, or its node agent died).

The first entrypoint on a node starts the launcher; it detaches (it forks, and the process
the entrypoint started exits once the socket listens), so ending that Ray job does not end
it. One file lock keeps two from serving the same socket. It exits after IDLE_EXIT_S without
a job; the workers it forked do not depend on it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import threading
from pathlib import Path
from typing import Any

from sagepipe.objectstore.store import StoreConfig
from sagepipe.runners.local import supervisor
from sagepipe.runners.local.jobdir import JobDir
from sagepipe.runners.ray import worker

IDLE_EXIT_S = 600.0
RECEIVE_TIMEOUT_S = 10.0


def main(argv: list[str]) -> int:
    path = Path(argv[1])
    jobs_umask = os.umask(0o077)  # the socket and the lock: this user's only, from the start
    # Not through a symbolic link: the lock file is truncated below.
    descriptor = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    lock = os.fdopen(descriptor, "r+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another launcher serves this socket
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by a launcher that ended
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    os.umask(jobs_umask)  # the jobs' files as the entrypoint would have made them
    if os.fork():
        os._exit(0)  # the entrypoint that started us sees the socket listening
    os.setsid()
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")  # the lock file names the launcher, for operators and tests
    lock.flush()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    listener.settimeout(IDLE_EXIT_S)
    while True:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            break
        received = _receive(connection) if _same_user(connection) else None
        if received is None:
            connection.close()
            continue
        spec, devices, fds = received
        if os.fork() == 0:
            listener.close()
            lock.close()  # a worker must not keep a later launcher from taking the lock
            _work(connection, fds, spec, devices)
        connection.close()
        for fd in fds:
            os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return 0


def _same_user(connection: socket.socket) -> bool:
    """Whether the peer runs as this user (the socket's mode says so too; this does not rely
    on the directory's)."""
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return uid == os.getuid()


def _receive(
    connection: socket.socket,
) -> tuple[dict[str, Any], dict[str, str], list[int]] | None:
    """The job's spec, the devices Ray gave it, and the entrypoint's stdout and stderr; None
    for anything else (whatever one client sends must not end the launcher)."""
    fds: list[int] = []
    connection.settimeout(RECEIVE_TIMEOUT_S)  # a client that sends nothing holds no one up
    try:
        message, fds, _flags, _address = socket.recv_fds(connection, 1 << 20, 2)
        while not message.endswith(b"\n"):
            chunk = connection.recv(1 << 20)
            if not chunk:
                raise ConnectionError("the entrypoint went away")
            message += chunk
        if not fds:
            raise ValueError("no stdout came with the job")
        handed = json.loads(message)
        spec = worker.decode_spec(handed["spec"])
        devices = {str(k): str(v) for k, v in dict(handed.get("devices") or {}).items()}
        supervisor.warm_store(StoreConfig.from_json(spec["store"]))
    except Exception:  # noqa: BLE001
        for fd in fds:
            os.close(fd)
        return None
    connection.settimeout(None)
    return spec, devices, fds


def _work(
    connection: socket.socket, fds: list[int], spec: dict[str, Any], devices: dict[str, str]
) -> None:
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the supervisor waits for its children
        os.dup2(fds[0], 1)
        os.dup2(fds[1] if len(fds) > 1 else fds[0], 2)
        for fd in fds:
            os.close(fd)
        stop, gone = threading.Event(), threading.Event()
        # A stop asked before the supervisor listens for SIGTERM or SIGUSR1 must not kill
        # this process; the supervisor reads `stop` through the job's stop file.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGUSR1, lambda *_: stop.set())
        connection.sendall(b"taken\n")
        jobdir = JobDir(worker.jobs_base() / str(spec["submission_id"]))
        watchdog = threading.Thread(target=_watch, args=(connection, jobdir, stop, gone))
        watchdog.daemon = True
        watchdog.start()
        code = worker.run(spec, stop, gone, devices)
        with contextlib.suppress(OSError):
            connection.sendall(b"done\n")
    finally:
        os._exit(code)


def _watch(
    connection: socket.socket, jobdir: JobDir, stop: threading.Event, gone: threading.Event
) -> None:
    """A "stop" from the entrypoint stops the job: the job directory's stop file for a
    supervisor not yet started, and SIGTERM to this process, which a running supervisor takes
    as a stop (the job gets its grace period). The entrypoint's end (`gone`: Ray killed it,
    or its stop wait ran out) ends the job now: SIGUSR1, which the supervisor takes as a
    kill, so that no job outlives its Ray job."""
    asked = False
    with contextlib.suppress(OSError):
        for line in connection.makefile("rb"):
            if line.strip() == b"stop" and not asked:
                asked = True
                _stop(jobdir, stop, signal.SIGTERM)
    gone.set()
    _stop(jobdir, stop, signal.SIGUSR1)


def _stop(jobdir: JobDir, stop: threading.Event, number: int) -> None:
    stop.set()
    with contextlib.suppress(OSError):
        jobdir.stop_file.touch()
    os.kill(os.getpid(), number)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
