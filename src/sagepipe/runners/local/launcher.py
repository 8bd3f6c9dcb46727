"""The launcher: `python -m sagepipe.runners.local.launcher STORE_JSON`, one per server.

Starting a Python process that imports boto3 and makes an S3 client costs about half a
second of CPU; a job's own work is often less. So the launcher does that once, and forks a
supervisor per job from its warm state: the server writes a job directory's path on a line of
the launcher's stdin, and reads the same path back on its stdout when that job's supervisor
has exited. Each supervisor starts a session of its own, so it outlives the launcher and the
server; a launcher whose server went away (EOF) simply exits."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys

from sagepipe.objectstore.store import StoreConfig
from sagepipe.runners.local import supervisor


def main(argv: list[str]) -> int:
    supervisor.warm_store(StoreConfig.from_json(json.loads(argv[1])))
    children: dict[int, str] = {}
    out = sys.stdout

    def reap(*_: object) -> None:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            path = children.pop(pid, None)
            if path is not None:
                with contextlib.suppress(OSError):
                    out.write(path + "\n")
                    out.flush()

    signal.signal(signal.SIGCHLD, reap)
    print("ready", flush=True)
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        pid = os.fork()
        if pid == 0:
            _child(path)
        children[pid] = path
    return 0


def _child(path: str) -> None:
    code = 1
    try:
        os.setsid()  # its own session: the server's signals and end do not reach it
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        errors = os.open(
            os.path.join(path, "supervisor.err"), os.O_WRONLY | os.O_CREAT | os.O_APPEND
        )
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(errors, 2)
        code = supervisor.main(["supervisor", path])
    finally:
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
