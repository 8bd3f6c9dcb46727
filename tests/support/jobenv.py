"""Virtualenvs that stand in for container images in local-runner tests, and the processes
of local jobs."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def job_environment(*requirements: str) -> Path:
    """A virtualenv with `requirements`, under $SAGEPIPE_JOB_VENVS (default .venv-jobs/),
    made once per set of requirements."""
    key = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:12]
    base = Path(os.environ.get("SAGEPIPE_JOB_VENVS", ROOT / ".venv-jobs"))
    venv = base / key
    stamp = venv / ".ready"
    if stamp.exists():
        return venv
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *requirements]
    subprocess.run(pip, check=True)
    stamp.write_text("\n".join(requirements))
    return venv


def job_processes(data_dir: Path) -> list[int]:
    """Processes whose command line names a job directory under `data_dir`: a job's
    supervisor, its sandbox or its command."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if str(data_dir / "jobs") in command:
                    found.append(int(entry.name))
    return found
