"""A job's directory: the one place a job's state lives, so that the server, the job's
supervisor and a server that restarts all read the same facts.

    spec.json        what to run (written by the server before the launch)
    launched         created exclusively by the one launch that may happen
    supervisor.json  the supervisor's pid, its process start time (pid reuse check) and
                     the pid of the process that started it
    opt-ml/          what the job sees at /opt/ml (its first instance: the others, with
                     InstanceCount > 1, see opt-ml-algo-<i>/)
    log              the job's stdout and stderr, in order
    result.json      how it ended, written once, atomically, after the uploads
    stop             present once a stop was asked for
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class JobDir:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    spec = property(lambda self: self.path / "spec.json")
    launched = property(lambda self: self.path / "launched")
    supervisor = property(lambda self: self.path / "supervisor.json")
    log = property(lambda self: self.path / "log")
    result = property(lambda self: self.path / "result.json")
    stop_file = property(lambda self: self.path / "stop")
    hosts = property(lambda self: self.path / "hosts")

    def opt_ml(self, host: int = 1) -> Path:
        """What instance `host` (1-based) of the job sees at /opt/ml."""
        return self.path / ("opt-ml" if host == 1 else f"opt-ml-algo-{host}")

    def park(self, host: int = 1) -> Path:
        """Where instance `host`'s sandbox keeps the machine's own /opt meanwhile."""
        return self.path / ("host-opt" if host == 1 else f"host-opt-algo-{host}")

    def opt_ml_trees(self) -> list[Path]:
        """Every instance's /opt/ml tree there is."""
        return sorted(self.path.glob("opt-ml*"))

    def inside(self, container_path: str, host: int = 1) -> Path:
        """The host path of a path under /opt/ml, as instance `host` sees it."""
        return self.opt_ml(host) / container_path[len("/opt/ml") :].lstrip("/")

    def write_json(self, path: Path, document: Any, *, durable: bool = False) -> None:
        """Atomically: a reader sees the old file or the whole new one, never a part.
        `durable`: on disk before this returns (a job's result must survive a machine crash;
        a spec need not: a job whose machine crashed is lost anyway)."""
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "w") as handle:
            json.dump(document, handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)

    def read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def claim_launch(self) -> bool:
        """True for exactly one caller, ever: the one that may start the job."""
        try:
            fd = os.open(self.launched, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def supervisor_alive(self) -> bool:
        """Whether the job's supervisor still runs (the same process, not a reused pid)."""
        info = self.read_json(self.supervisor)
        if not isinstance(info, dict):
            return False
        return process_start_time(info.get("pid")) == info.get("start_time")


def process_start_time(pid: Any) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22)."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has ended
        return None
    return int(fields[19])
