"""Real local jobs while the server is SIGKILLed and restarted (see local_jobs.py; `python -m
tests.crash.local_jobs --kills 30` is a longer run)."""

import os
from pathlib import Path

from tests.crash.local_jobs import run

KILLS = int(os.environ.get("SAGEPIPE_CRASH_LOCAL_KILLS", "6"))
SEED = int(os.environ.get("SAGEPIPE_CRASH_SEED", "20261203"))


def test_real_jobs_survive_server_crashes_and_nothing_runs_or_uploads_twice(
    tmp_path: Path,
) -> None:
    problems, kills = run(SEED, KILLS, executions=6, workdir=tmp_path)
    assert kills == KILLS
    assert problems == []
