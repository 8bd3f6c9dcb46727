"""Shared pieces of the benchmarks: server processes, the load generator, SigV4 headers,
machine facts, and the side-by-side report with its pass/fail verdicts."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
LOADGEN = os.path.join(BENCH_DIR, "_loadgen.py")
ACCESS_KEY, SECRET_KEY, REGION = "AKIDBENCH", "bench-secret", "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
JSON_TYPE = "application/x-amz-json-1.1"


# ---------------------------------------------------------------------- machine
def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
    }


def print_machine() -> None:
    m = machine()
    print(
        f"machine: {m['nproc']} cores, {m['cpu']}, {m['memory']}; Python {m['python']}; "
        f"{m['date']}",
        flush=True,
    )


def print_source() -> None:
    """Which sagepipe the servers will run (PYTHONPATH may point at another tree), and the
    git state of that tree, read without touching the index."""
    found = subprocess.run(
        [sys.executable, "-c", "import sagepipe, os; print(os.path.dirname(sagepipe.__file__))"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    root = os.path.dirname(os.path.dirname(found))
    git = ["git", "--no-optional-locks", "-C", root]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    state = "not a git tree"
    if head.returncode == 0:
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "src"], capture_output=True, text=True
        ).stdout.strip()
        state = f"commit {head.stdout.strip()}" + (
            " + uncommitted changes in src/" if dirty else ""
        )
    load1 = os.getloadavg()[0]
    print(f"sagepipe: {found} ({state}); load average {load1:.2f} at start", flush=True)


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc/<pid>/status."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key = line.split(":", 1)[0]
            if key in values:
                values[key] = int(line.split()[1]) / 1024
    return values["VmRSS"], values["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------- processes
class Process:
    """A server in a child process; stopped with SIGTERM (then SIGKILL) by its own pid."""

    def __init__(self, name: str, command: list[str], ready: str, env: dict[str, str]) -> None:
        self.name = name
        self.command = command
        self.ready = ready
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> Process:
        self.proc = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1", **self.env),
        )
        assert self.proc.stdout is not None
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if self.ready in line:
                self.url = "http://" + line.split("http://", 1)[1].split()[0].rstrip("/")
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        self.stop()
        raise RuntimeError(f"{self.name} did not start:\n" + "".join(self.output[-40:]))

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            del self.output[:-200]

    @property
    def host_port(self) -> tuple[str, int]:
        hostport = self.url.split("://", 1)[1]
        host, port = hostport.rsplit(":", 1)
        return host, int(port)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def sagepipe_server(args: list[str]) -> Process:
    command = [sys.executable, "-m", "sagepipe.cli", "serve", "--port", "0"]
    if "--runner" not in args:
        command += ["--runner", "simulate"]  # the control plane alone, unless a bench says
    command += ["--log-level", "warning", *args]
    return Process("sagepipe", command, " ready at http://", {})


def moto_server() -> Process:
    # moto prints its banner on stderr through werkzeug ("Running on http://...").
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = Process("moto", command, "Running on http://", {})
    return proc


def canned_server() -> Process:
    return Process("canned", [sys.executable, LOADGEN, "canned"], "canned ready at http://", {})


@contextlib.contextmanager
def running(*processes: Process) -> Iterator[None]:
    try:
        for process in processes:
            process.start()
        yield
    finally:
        for process in processes:
            process.stop()


# ---------------------------------------------------------------------- clients
def sagemaker(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}, read_timeout=120),
    )


def signed_headers(url: str, operation: str, body: str) -> dict[str, str]:
    """Headers boto3 would send, SigV4 signed once: neither server verifies signatures, so
    one signature serves every request of the operation."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {"Content-Type": JSON_TYPE, "X-Amz-Target": f"SageMaker.{operation}"}
    request = AWSRequest(method="POST", url=url + "/", data=body.encode(), headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "sagemaker", REGION).add_auth(request)
    return {
        "Content-Type": JSON_TYPE,
        "X-Amz-Target": f"SageMaker.{operation}",
        "X-Amz-Date": request.headers["X-Amz-Date"],
        "Authorization": request.headers["Authorization"],
        "User-Agent": "sagepipe-bench",
    }


def load(
    server: Process,
    operation: str,
    *,
    connections: int,
    duration: float,
    warmup: float,
    expect: str,
    bodies: list[str] | None = None,
    template: str | None = None,
    method: str = "POST",
    path: str = "/",
) -> dict[str, Any]:
    """Run the load generator in a separate process against `server` and return its result."""
    host, port = server.host_port
    sample = template.replace("{token}", "x" * 36) if template else (bodies or [""])[0]
    headers = signed_headers(server.url, operation, sample) if method == "POST" else {}
    spec = {
        "host": host,
        "port": port,
        "connections": connections,
        "duration": duration,
        "warmup": warmup,
        "expect": expect,
        "request": {
            "method": method,
            "path": path,
            "headers": headers,
            "bodies": bodies or [],
            "template": template,
        },
    }
    done = subprocess.run(
        [sys.executable, LOADGEN],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=duration + warmup + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@contextlib.contextmanager
def py_spy(pid: int, directory: str | None, name: str) -> Iterator[None]:
    """Record the server with py-spy while the block runs (collapsed stacks, one line per
    stack: open with speedscope or flamegraph.pl). Nothing happens without a directory."""
    if not directory:
        yield
        return
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.txt")
    command = ["py-spy", "record", "-p", str(pid), "-r", "200", "-t", "-f", "raw", "-o", path]
    spy = subprocess.Popen(
        [*command, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    time.sleep(0.5)  # attached before the load starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
        print(f"  py-spy profile of {name}: {path}", flush=True)


def load_measured(server: Process, operation: str, **kwargs: Any) -> dict[str, Any]:
    """`load`, plus the server's CPU use over the whole run (warm-up included)."""
    cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
    result = load(server, operation, **kwargs)
    elapsed = time.perf_counter() - t0
    used = cpu_seconds(server.pid) - cpu0
    result["server_cpu"] = used / elapsed  # cores busy
    # CPU per answered request: steadier than req/s when other work shares the machine.
    result["server_cpu_us_per_req"] = used / max(result["ok_total"], 1) * 1e6
    return result


# ---------------------------------------------------------------------- definitions
def processing_step(name: str, depends_on: list[str] | None = None) -> dict[str, Any]:
    """A Processing step shaped like the SageMaker Python SDK emits it."""
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.xlarge",
                    "VolumeSizeInGB": 30,
                }
            },
            "AppSpecification": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1"},
            "RoleArn": ROLE,
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "out",
                        "S3Output": {
                            "S3Uri": f"s3://bucket/{name}/out",
                            "LocalPath": "/opt/ml/processing/out",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
        },
    }
    if depends_on:
        step["DependsOn"] = depends_on
    return step


def definition(steps: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": steps})


def wait_until_done(sm: Any, arn: str, timeout: float, poll: float = 0.2) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        described: dict[str, Any] = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if described["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return described
        if time.time() > deadline:
            raise TimeoutError(f"{arn} still {described['PipelineExecutionStatus']}")
        time.sleep(poll)


# ---------------------------------------------------------------------- raw limits
# What the database itself can do: single-row UPDATEs, each committed on its own.
def raw_sqlite_commits(directory: str, seconds: float) -> float:
    path = os.path.join(directory, "raw-commits.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
    conn.execute("INSERT OR IGNORE INTO t VALUES (1, 0)")
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE t SET v = v + 1 WHERE id = 1")
        conn.execute("COMMIT")
        n += 1
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return n / elapsed


def raw_pg_commits(url: str, seconds: float) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_raw (id INT PRIMARY KEY, v INT NOT NULL)")
        conn.execute("INSERT INTO bench_raw VALUES (1, 0) ON CONFLICT DO NOTHING")
        n, t0 = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            conn.execute("UPDATE bench_raw SET v = v + 1 WHERE id = 1")
            n += 1
        conn.execute("DROP TABLE bench_raw")
    return n / elapsed


# ---------------------------------------------------------------------- PostgreSQL
@contextlib.contextmanager
def scratch_pg_database(url: str) -> Iterator[str]:
    """A new database on the server named by `url`, dropped afterwards."""
    import psycopg

    name = "sagepipe_bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------- verdicts
class Verdicts:
    """Targets checked in this run; the exit status is non-zero when one is missed."""

    def __init__(self, enforce: bool) -> None:
        self.enforce = enforce
        self.rows: list[tuple[str, str, str, bool]] = []

    def check(self, name: str, measured: str, target: str, ok: bool) -> None:
        self.rows.append((name, measured, target, ok))

    def report(self) -> int:
        print()
        print("targets" + ("" if self.enforce else " (--smoke: reported, not enforced)"))
        width = max((len(r[0]) for r in self.rows), default=10)
        for name, measured, target, ok in self.rows:
            verdict = "PASS" if ok else "FAIL"
            print(f"  {verdict}  {name:<{width}}  {measured}  (target {target})")
        missed = [r for r in self.rows if not r[3]]
        if missed and self.enforce:
            print(f"{len(missed)} target(s) missed")
            return 1
        return 0


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        with open(path, "w") as handle:
            json.dump(dict(payload, machine=machine()), handle, indent=2, default=str)
