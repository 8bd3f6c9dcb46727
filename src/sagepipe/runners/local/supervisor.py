"""The supervisor of one job: `python -m sagepipe.runners.local.supervisor JOBDIR`.

It outlives the server that launched it (its own session), so a server crash neither stops a
job nor loses its outcome: it stages the inputs, runs the command in the sandbox, enforces
MaxRuntimeInSeconds and the VolumeSizeInGB disk quota (on the staged inputs, then every
second while the job runs), reads the job's failure and message files and metrics, uploads the
outputs, and writes result.json last. A SIGTERM asks it to stop the job: SIGTERM to the job,
SIGKILL after the grace period (docs/behaviour.md §11.5); a SIGUSR1 kills it at once.
Everything it does is in the log."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from sagepipe.objectstore.store import ObjectStore, StoreConfig, StoreError
from sagepipe.runners.contracts.plan import Download, JobPlan, Upload
from sagepipe.runners.local.jobdir import JobDir, process_start_time
from sagepipe.runners.local.sandbox import Sandbox

FAILURE_LIMIT = 1024  # characters of /opt/ml/output/failure that become the FailureReason
MESSAGE_LIMIT = 1024  # bytes of /opt/ml/output/message that become the ExitMessage
SERVICE_FAULT = "Step.SERVICE_FAULT"
DISK_CHECK_SECONDS = 1.0  # how often a running job's use of /opt/ml is measured
INSTANCES_CHECK_SECONDS = 0.2  # how soon one instance's failure stops the others
GB = 1024**3
# Object stores made before this process was forked (runners/local/launcher.py): reused, since
# making a client is most of a supervisor's start-up cost.
WARM_STORES: dict[StoreConfig, ObjectStore] = {}


def warm_store(config: StoreConfig) -> None:
    """Make the store's client now, in a launcher, so that every supervisor it forks later
    inherits it warm."""
    if config not in WARM_STORES:
        store = ObjectStore(config)
        store.client  # noqa: B018 - the point: made before the fork
        WARM_STORES[config] = store


class Stopped(Exception):
    pass


class JobFailed(Exception):
    def __init__(self, reason: str, failure_type: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.failure_type = reason, failure_type


class Supervisor:
    def __init__(self, jobdir: JobDir, spec: dict[str, Any], log: IO[bytes]) -> None:
        self.jobdir = jobdir
        self.spec = spec
        self.plan = JobPlan.from_json(spec["plan"])
        config = StoreConfig.from_json(spec["store"])
        self.store = WARM_STORES.get(config) or ObjectStore(config)
        self.log = log
        self.grace = float(spec.get("stop_grace_seconds", 30))
        self.hosts = max(int(self.plan.instance_count or 1), 1)
        # The instances this supervisor runs: all of them on the local runner; one per Ray job
        # on the ray runner, which spreads a job's instances over the cluster.
        self.here: list[int] = spec.get("instances_here") or list(range(1, self.hosts + 1))
        self.children: list[subprocess.Popen[bytes]] = []  # one process per instance here
        self.failed_host = 0  # the instance whose failure file explains a failed job
        self.stop_asked = threading.Event()
        self.timed_out = False
        self.over_quota = 0  # bytes found under /opt/ml when the job passed VolumeSizeInGB

    # ------------------------------------------------------------------ helpers
    def say(self, text: str) -> None:
        self.log.write(f"[sagepipe] {text}\n".encode())
        self.log.flush()

    def request_stop(self, *_: Any) -> None:
        self.stop_asked.set()
        self._end_children()

    def kill_now(self, *_: Any) -> None:
        """Stop without the grace period: SIGKILL to every instance (the ray runner's, when
        Ray has already ended the job's Ray job)."""
        self.stop_asked.set()
        self._signal(signal.SIGKILL)

    def _end_children(self) -> None:
        """SIGTERM to every instance still running, SIGKILL after the grace period."""
        if self._signal(signal.SIGTERM):
            timer = threading.Timer(self.grace, self._signal, (signal.SIGKILL,))
            timer.daemon = True  # the supervisor's own end must not wait for it
            timer.start()

    def _signal(self, number: int) -> bool:
        running = False
        for child in list(self.children):
            if child.poll() is None:
                running = True
                if number == signal.SIGTERM and self.spec["sandbox"] == "bwrap":
                    _terminate_inside_bwrap(child.pid)
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, number)
        return running

    # ------------------------------------------------------------------ instances
    def host_file(self, document: Any, host: int) -> Any:
        """A config file as instance `host` gets it: resourceconfig.json names it current."""
        if isinstance(document, dict) and "current_host" in document:
            return {**document, "current_host": f"algo-{host}"}
        return document

    def check_stop(self) -> None:
        if self.stop_asked.is_set():
            raise Stopped()

    # ------------------------------------------------------------------ the job
    def run(self) -> dict[str, Any]:
        result: dict[str, Any] = {"started": time.time()}
        try:
            self.stage()
            result["training_start"] = time.time()
            code = self.execute()
            result["exit_code"] = code
            result["training_end"] = time.time()
            result.update(self.collect(code))
            if result["status"] == "Succeeded":
                self.upload()
        except Stopped:
            self.say("stopped")
            result["status"] = "Stopped"
        except JobFailed as failed:
            self.say(f"failed: {failed.reason}")
            result.update(status="Failed", failure_reason=failed.reason,
                          failure_type=failed.failure_type)  # fmt: skip
        finally:
            self.save_checkpoints()
        result["ended"] = time.time()
        if result["status"] == "Succeeded":
            self.say("the job succeeded")
        return result

    def stage(self) -> None:
        for host in self.here:
            self._stage_host(host)

    def _stage_host(self, host: int) -> None:
        which = f" (algo-{host})" if self.hosts > 1 else ""
        for download in self.plan.downloads:
            self.check_stop()
            target = self.jobdir.inside(download.path, host)
            shard = (host - 1, self.hosts) if download.sharded else (0, 1)
            try:
                count = self._download(download, target, shard)
            except StoreError as exc:
                raise JobFailed(str(exc), _failure_type(exc)) from None
            self.say(f"staged {download.uri} -> {download.path}{which} ({count} object(s))")
        if self.plan.checkpoint:
            with contextlib.suppress(StoreError):  # nothing to restore on a first run
                self.store.download(self.plan.checkpoint.uri, self.jobdir.inside(
                    self.plan.checkpoint.path, host))  # fmt: skip
        for directory in self.plan.directories:
            self.jobdir.inside(directory, host).mkdir(parents=True, exist_ok=True)
        for path, document in self.plan.files.items():
            target = self.jobdir.inside(path, host)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(self.host_file(document, host)))
        used = self.disk_used(host)
        if self.plan.volume_gb and used > self.plan.volume_gb * GB:
            raise JobFailed(
                f"ClientError: the job's inputs take {used / GB:.2f} GB, more than its "
                f"VolumeSizeInGB ({self.plan.volume_gb} GB). Give the step a larger "
                "VolumeSizeInGB, or fewer inputs."
            )

    def disk_used(self, host: int = 1) -> int:
        """Bytes instance `host`'s /opt/ml tree takes on disk (allocated blocks)."""
        total, pending = 0, [str(self.jobdir.opt_ml(host))]
        while pending:
            with contextlib.suppress(OSError), os.scandir(pending.pop()) as entries:
                for entry in entries:
                    with contextlib.suppress(OSError):
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
        return total

    def _download(self, download: Download, target: Path, shard: tuple[int, int]) -> int:
        if download.data_type != "ManifestFile":
            return self.store.download(download.uri, target, shard)
        try:
            manifest = json.loads(self.store.get_bytes(download.uri))
            prefix, keys = manifest[0]["prefix"], manifest[1:]
        except (ValueError, KeyError, IndexError, TypeError):
            raise JobFailed(
                f"ClientError: the manifest {download.uri} is not a JSON list "
                '[{"prefix": "s3://..."}, "key", ...].'
            ) from None
        mine = keys[shard[0] :: shard[1]]
        for key in mine:
            self.store.download(prefix.rstrip("/") + "/" + key, (target / key).parent)
        return len(mine)

    def execute(self) -> int:
        """Run one process per instance, each in its own sandbox; the exit code of the job:
        0 when every instance exits 0, else the first failing one's (the others are then
        stopped, as a multi-instance job ends when one instance fails)."""
        sandbox = Sandbox(self.spec["sandbox"])
        self.check_stop()
        self.say("running " + " ".join(self.spec["command"]))
        for host in self.here:
            park = self.jobdir.park(host)
            park.mkdir(exist_ok=True)
            command = sandbox.wrap(self.spec["command"], self.jobdir.opt_ml(host),
                                   self.jobdir.hosts, park, self.spec.get("cwd", "/opt/ml"))  # fmt: skip
            try:
                self.children.append(subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                    env=self.spec["environment"], start_new_session=True,
                ))  # fmt: skip
            except OSError as exc:
                self._end_children()
                raise JobFailed(f"ClientError: could not start the job's command: {exc}") from None
        if self.stop_asked.is_set():  # asked while it was being started
            self.request_stop()
        limit = self.plan.max_runtime_seconds
        deadline = time.monotonic() + limit if limit else None
        quota = (self.plan.volume_gb or 0) * GB
        while True:
            codes = [child.poll() for child in self.children]
            failed = [
                host for host, code in zip(self.here, codes, strict=True) if code not in (None, 0)
            ]
            if failed and not self.failed_host:
                # The first to fail explains the job; the others are stopped, once.
                self.failed_host = failed[0]
                if None in codes:
                    self.say(f"algo-{failed[0]} failed: stopping the other instances")
                    self._end_children()
            if None not in codes:
                self.failed_host = self.failed_host or self.here[0]
                return int(codes[self.here.index(self.failed_host)] or 0)
            wait: float | None = DISK_CHECK_SECONDS if quota else None
            if len(self.here) > 1:
                wait = min(wait or INSTANCES_CHECK_SECONDS, INSTANCES_CHECK_SECONDS)
            if deadline is not None:
                wait = max(0.0, min(wait or limit or 0, deadline - time.monotonic()))
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.children[codes.index(None)].wait(timeout=wait)
            if deadline is not None and time.monotonic() >= deadline and not self.timed_out:
                self.timed_out = True
                self.say(f"MaxRuntimeInSeconds ({limit}) reached: stopping the job")
                self.request_stop()
            if quota and not self.over_quota:
                used = max(self.disk_used(host) for host in self.here)
                if used > quota:
                    self.over_quota = used
                    self.say(f"VolumeSizeInGB ({self.plan.volume_gb}) exceeded: stopping the job")
                    self.request_stop()

    def collect(self, code: int) -> dict[str, Any]:
        found: dict[str, Any] = {}
        message_path = self.jobdir.inside("/opt/ml/output/message", self.here[0])
        if message_path.is_file():
            raw = message_path.read_bytes()[:MESSAGE_LIMIT]
            try:
                found["exit_message"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise JobFailed(
                    "ClientError: /opt/ml/output/message is not valid UTF-8 text."
                ) from None
        found["metrics"] = self.metrics()
        if self.timed_out:
            limit = self.plan.max_runtime_seconds
            raise JobFailed(
                f"MaxRuntimeExceeded: the job ran longer than StoppingCondition."
                f"MaxRuntimeInSeconds ({limit} s) and was stopped."
            )
        if self.over_quota:
            raise JobFailed(
                f"ClientError: the job's files under /opt/ml grew to "
                f"{self.over_quota / GB:.2f} GB, past its VolumeSizeInGB "
                f"({self.plan.volume_gb} GB), and it was stopped. Give the step a larger "
                "VolumeSizeInGB, or write less."
            )
        if self.stop_asked.is_set():
            raise Stopped()
        if code == 0:
            found["status"] = "Succeeded"
            return found
        failure = self.jobdir.inside("/opt/ml/output/failure", self.failed_host)
        if failure.is_file():
            text = failure.read_bytes().decode("utf-8", "replace")[:FAILURE_LIMIT]
            if text.strip():
                raise JobFailed(text)
        raise JobFailed(
            f"AlgorithmError: the job's command exited with code {code}. "
            f"Last lines of its log:\n{self.log_tail()}"[:FAILURE_LIMIT]
        )

    def log_tail(self, lines: int = 10) -> str:
        text = self.jobdir.log.read_bytes()[-8192:].decode("utf-8", "replace")
        kept = [line for line in text.splitlines() if not line.startswith("[sagepipe]")]
        return "\n".join(kept[-lines:])

    def metrics(self) -> list[dict[str, Any]]:
        """The last value of each MetricDefinitions regex in the job's log."""
        if not self.plan.metric_definitions:
            return []
        text = self.jobdir.log.read_bytes().decode("utf-8", "replace")
        found = []
        for definition in self.plan.metric_definitions:
            try:
                pattern = re.compile(definition["Regex"])
            except (re.error, KeyError, TypeError):
                continue
            matches = [m for m in pattern.finditer(text) if m.groups()]
            if not matches:
                continue
            try:
                value = float(matches[-1].group(1))
            except (TypeError, ValueError):
                continue
            found.append({"MetricName": definition.get("Name"), "Value": value,
                          "Timestamp": time.time()})  # fmt: skip
        return found

    def upload(self) -> None:
        """Every output of every instance here; where two instances wrote the same file, the
        first instance's is the one kept (it goes last). An archive (model.tar.gz,
        output.tar.gz) is one object: only the supervisor that runs algo-1 makes it."""
        order = sorted(self.here, reverse=True)
        for upload in self.plan.uploads:
            self.check_stop()
            sources = [self.jobdir.inside(upload.path, host) for host in order]
            try:
                if upload.archive and 1 not in self.here:
                    self.say(f"{upload.path} is uploaded by algo-1's job, not this one")
                    continue
                if upload.archive:
                    self._upload_archive(sources, upload)
                    continue
                count = sum(self.store.upload_tree(source, upload.uri) for source in sources
                            if source.is_dir() and any(source.rglob("*")))  # fmt: skip
                if count:
                    self.say(f"uploaded {upload.path} -> {upload.uri} ({count} file(s))")
                else:
                    self.say(f"{upload.path} is empty: nothing uploaded to {upload.uri}")
            except StoreError as exc:
                raise JobFailed(str(exc), _failure_type(exc)) from None

    def _upload_archive(self, sources: list[Path], upload: Upload) -> None:
        with tempfile.NamedTemporaryFile(dir=self.jobdir.path, suffix=".tar.gz") as handle:
            with tarfile.open(fileobj=handle, mode="w:gz") as archive:
                if len(sources) == 1:
                    if sources[0].is_dir():
                        for entry in sorted(sources[0].iterdir()):
                            archive.add(entry, arcname=entry.name)
                else:
                    names: set[str] = set()
                    for source in reversed(sources):  # the first instance's files win
                        for path in sorted(source.rglob("*")) if source.is_dir() else []:
                            name = path.relative_to(source).as_posix()
                            if name not in names and (path.is_file() or path.is_symlink()):
                                names.add(name)
                                archive.add(path, arcname=name, recursive=False)
            handle.flush()
            self.store.upload_file(Path(handle.name), upload.uri)
        self.say(f"uploaded {upload.path} as {upload.uri}")

    def save_checkpoints(self) -> None:
        checkpoint = self.plan.checkpoint
        if checkpoint is None:
            return
        for host in sorted(self.here, reverse=True):
            source = self.jobdir.inside(checkpoint.path, host)
            if source.is_dir() and any(source.rglob("*")):
                with contextlib.suppress(StoreError):
                    self.store.upload_tree(source, checkpoint.uri)
                    self.say(f"checkpoints uploaded to {checkpoint.uri}")


def _terminate_inside_bwrap(group: int) -> None:
    """SIGTERM to the job's processes in process group `group`, but not to bubblewrap's own:
    bwrap dies of a SIGTERM and takes its PID namespace with it, so the job's handler would
    get no grace period. The job's end then ends bwrap."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if int(fields.split()[2]) == group and name != "bwrap":  # field 5: the process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGTERM)


def _failure_type(exc: StoreError) -> str | None:
    """A missing object or bucket is the request's fault, and a full disk waits for someone to
    free space (no retry matches either); anything else
    went wrong on the way to the store, which a Step.SERVICE_FAULT policy may retry."""
    text = str(exc)
    client = ("No S3 objects found", "does not exist", "not an S3 URI", "names no bucket",
              "NoSuchKey", "AccessDenied", "InvalidBucketName", "larger than", "disk is full")  # fmt: skip
    return None if any(marker in text for marker in client) else SERVICE_FAULT


def main(argv: list[str]) -> int:
    jobdir = JobDir(argv[1])
    spec = jobdir.read_json(jobdir.spec)
    pid = os.getpid()
    jobdir.write_json(jobdir.supervisor, {"pid": pid, "start_time": process_start_time(pid),
                                          "parent": os.getppid()})  # fmt: skip
    with open(jobdir.log, "ab", buffering=0) as log:
        supervisor = Supervisor(jobdir, spec, log)
        signal.signal(signal.SIGTERM, supervisor.request_stop)
        signal.signal(signal.SIGUSR1, supervisor.kill_now)
        if jobdir.stop_file.exists():  # a stop asked before this process could hear it
            supervisor.stop_asked.set()
        try:
            result = supervisor.run()
        except Exception as exc:  # a bug here must still end the job with a reason
            supervisor.say(f"internal error: {exc!r}")
            result = {"status": "Failed", "failure_type": "SageMaker.JOB_INTERNAL_ERROR",
                      "failure_reason": f"InternalServerError: the job's supervisor failed: {exc}"}  # fmt: skip
    jobdir.write_json(jobdir.result, result, durable=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
