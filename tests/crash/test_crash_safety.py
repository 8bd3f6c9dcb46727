"""SIGKILL at random moments, restart, and check nothing acknowledged was lost and no step
ran twice (see harness.py; `python -m tests.crash.harness --kills 200` is the long run)."""

import os

from tests.crash.harness import run
from tests.support.server import ServerProcess

KILLS = int(os.environ.get("SAGEPIPE_CRASH_KILLS", "20"))
SEED = int(os.environ.get("SAGEPIPE_CRASH_SEED", "20261124"))


def test_nothing_acknowledged_is_lost_and_no_step_runs_twice(server_args, backend):
    extra = ["--lease-seconds", "1"] if backend == "postgres" else []
    server = ServerProcess(server_args, extra)
    server.start()
    try:
        problems = run(server, SEED, KILLS, executions=8, log=lambda *_: None)
    finally:
        server.stop()
    assert problems == []
