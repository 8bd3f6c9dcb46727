"""The `local` runner behind the runner port (runners/port.py).

`start` writes the job's spec into its directory, claims the one launch, and starts the job's
supervisor in a session of its own; from then on the job directory is the truth: `poll` and
`wait` read result.json, `stop` signals the supervisor, `attach` finds the job again after a
restart. Nothing here waits on a child it cannot find again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from sagepipe.objectstore.store import StoreConfig
from sagepipe.runners.contracts.plan import ContractError
from sagepipe.runners.jobspec import SpecMaker, check_remote_function, hosts_file, outcome_of
from sagepipe.runners.local.images import ImageMap
from sagepipe.runners.local.jobdir import JobDir
from sagepipe.runners.local.sandbox import Sandbox
from sagepipe.runners.port import FAILED, STOPPED, Job, JobRequest, Outcome

LAUNCH_GRACE_S = 10.0  # a supervisor this new may not have written its pid yet
POLL_SECONDS = 0.5  # how often a job is looked at when no exit is reported


class LocalRunner:
    name = "local"
    starts_at_once = False  # a job waits for one of --max-local-jobs slots

    def __init__(
        self,
        jobs_dir: Path,
        sandbox: Sandbox,
        store: StoreConfig,
        images: ImageMap,
        max_jobs: int,
        stop_grace_seconds: float = 30.0,
        keep_failed: bool = True,
    ) -> None:
        self.jobs_dir = jobs_dir
        self.sandbox = sandbox
        self.store = store
        self.images = images
        self.max_jobs = max(1, max_jobs)
        self.stop_grace_seconds = stop_grace_seconds
        self.keep_failed = keep_failed
        self.specs = SpecMaker(self.name, images, store, sandbox.tool, stop_grace_seconds)
        self._running: set[str] = set()  # jobs holding one of the max_jobs slots
        self._slot_freed = asyncio.Condition()
        self._launcher: asyncio.subprocess.Process | None = None
        self._launcher_lock = asyncio.Lock()
        self._ended: dict[str, asyncio.Event] = {}  # job dir -> set when its supervisor exits
        self._reader: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ the port
    def prepare(self, request: JobRequest) -> Job:
        return {"job_dir": str(self.jobs_dir / request.job["name"]), "step_type": request.step_type}

    async def start(self, job: Job) -> None:
        jobdir = JobDir(job["job_dir"])
        if jobdir.launched.exists() or jobdir.result.exists():
            return  # started (or refused) once already
        jobdir.path.mkdir(parents=True, exist_ok=True)
        try:
            spec = self.specs.spec(job)
            await check_remote_function(spec)
        except ContractError as refused:
            jobdir.write_json(jobdir.result, {"status": FAILED, "failure_reason": str(refused)})
            return
        await self._take_slot(job["name"])
        jobdir.write_json(jobdir.spec, spec)
        jobdir.hosts.write_text(hosts_file(spec["plan"]["instance_count"]))
        if not jobdir.claim_launch():
            return
        await self._launch(jobdir)

    def poll(self, job: Job) -> Outcome | None:
        jobdir = JobDir(job["job_dir"])
        result = jobdir.read_json(jobdir.result)
        return None if result is None else outcome_of(job, result)

    async def wait(self, job: Job) -> Outcome:
        jobdir = JobDir(job["job_dir"])
        # Woken when the launcher reports the supervisor's exit; a job this server did not
        # launch (found again after a restart) is looked at every POLL_SECONDS.
        ended = self._ended.setdefault(str(jobdir.path), asyncio.Event())
        try:
            while True:
                outcome = self.poll(job)
                if outcome is not None:
                    self._clean(jobdir, outcome)
                    return outcome
                if not self._may_be_running(jobdir):
                    return Outcome.lost(
                        f"InternalServerError: the supervisor of job {job['name']} ended without "
                        "a result; the job is lost."
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), POLL_SECONDS)
        finally:
            self._ended.pop(str(jobdir.path), None)
            await self._free_slot(job["name"])

    async def stop(self, job: Job) -> None:
        jobdir = JobDir(job["job_dir"])
        if jobdir.result.exists():
            return
        jobdir.path.mkdir(parents=True, exist_ok=True)
        jobdir.stop_file.touch()
        if not jobdir.launched.exists() and jobdir.claim_launch():
            # Never started: it never will; it ends stopped.
            jobdir.write_json(jobdir.result, {"status": STOPPED})
            return
        info = jobdir.read_json(jobdir.supervisor)
        if isinstance(info, dict) and jobdir.supervisor_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(info["pid"], signal.SIGTERM)
        # A supervisor that has not written its pid yet reads the stop file when it does.

    async def attach(self, job: Job) -> bool:
        jobdir = JobDir(job["job_dir"])
        if jobdir.result.exists():
            return True
        if not jobdir.launched.exists():
            return True  # prepared, not launched yet: its step is Starting, and starts it
        if self._may_be_running(jobdir):
            self._running.add(job["name"])
            return True
        return False

    async def logs(self, job: Job) -> str:
        try:
            return JobDir(job["job_dir"]).log.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------ helpers
    async def _launch(self, jobdir: JobDir) -> None:
        """Hand the job to the launcher, which forks its supervisor from a warm process."""
        launcher = await self._ready_launcher()
        assert launcher.stdin is not None
        self._ended.setdefault(str(jobdir.path), asyncio.Event())
        launcher.stdin.write(f"{jobdir.path}\n".encode())
        await launcher.stdin.drain()

    async def _ready_launcher(self) -> asyncio.subprocess.Process:
        async with self._launcher_lock:
            launcher = self._launcher
            if launcher is not None and launcher.returncode is None:
                return launcher
            launcher = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sagepipe.runners.local.launcher",
                json.dumps(self.store.to_json()),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                start_new_session=True,  # Ctrl-C on the server does not reach it
            )  # fmt: skip
            assert launcher.stdout is not None
            if await launcher.stdout.readline() != b"ready\n":
                raise RuntimeError("the local runner's launcher did not start")
            self._launcher = launcher
            self._reader = asyncio.get_running_loop().create_task(self._read_ends(launcher))
            return launcher

    async def _read_ends(self, launcher: asyncio.subprocess.Process) -> None:
        assert launcher.stdout is not None
        async for line in launcher.stdout:
            event = self._ended.get(line.decode().strip())
            if event is not None:
                event.set()

    async def close(self) -> None:
        """Stop the launcher (jobs run on: each supervisor has its own session)."""
        if self._launcher is not None and self._launcher.returncode is None:
            assert self._launcher.stdin is not None
            self._launcher.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._launcher.wait(), 5)
        if self._reader is not None:
            self._reader.cancel()

    def running_jobs(self) -> int:
        """Jobs whose supervisor still runs, this server's or not."""
        try:
            paths = list(self.jobs_dir.iterdir())
        except OSError:
            return 0
        return sum(JobDir(path).supervisor_alive() for path in paths)

    def _may_be_running(self, jobdir: JobDir) -> bool:
        if jobdir.supervisor_alive() or jobdir.result.exists():
            return True
        try:
            launched_at = jobdir.launched.stat().st_mtime
        except OSError:
            return False
        return not jobdir.supervisor.exists() and time.time() - launched_at < LAUNCH_GRACE_S

    async def _take_slot(self, name: str) -> None:
        async with self._slot_freed:
            await self._slot_freed.wait_for(lambda: len(self._running) < self.max_jobs)
            self._running.add(name)

    async def _free_slot(self, name: str) -> None:
        async with self._slot_freed:
            self._running.discard(name)
            self._slot_freed.notify_all()

    def _clean(self, jobdir: JobDir, outcome: Outcome) -> None:
        """An ended job keeps its log and result; its /opt/ml tree goes, unless it failed and
        failed jobs are kept for a look."""
        if outcome.status == FAILED and self.keep_failed:
            return
        for tree in jobdir.opt_ml_trees():
            shutil.rmtree(tree, ignore_errors=True)
