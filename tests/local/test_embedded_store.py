"""The embedded object store a server runs itself when no --s3-endpoint-url is given
(docs/behaviour.md §11.4): real jobs on it, its objects across restarts, a store killed with
SIGKILL restarted under a running pipeline, a crashed server's store adopted by the next one,
`sagepipe s3-env`, and bad bucket names as clear FailureReasons."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from sagepipe.objectstore.embedded import is_store_process
from tests.local.test_lifecycle import logs, wait_for
from tests.local.test_processing import PREPROCESS, processing_step
from tests.support.jobenv import job_processes
from tests.support.pipelines import create, steps_by_name, wait_status
from tests.support.server import ServerProcess, fresh_pg_database, require_pg

SLOW_WRITER = (
    "import pathlib, time\nprint('run', flush=True)\ntime.sleep(4)\n"
    "pathlib.Path('/opt/ml/processing/train').mkdir(parents=True, exist_ok=True)\n"
    "pathlib.Path('/opt/ml/processing/train/done.txt').write_text('done')\n"
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """The server's data directory; any store left running under it is ended afterwards."""
    path = tmp_path / "data"
    yield path
    running = _running(path)
    if running and is_store_process(running["pid"], path / "s3" / "data"):
        os.kill(running["pid"], signal.SIGKILL)


@pytest.fixture
def servers(data_dir: Path) -> Iterator[Any]:
    """A factory of servers on the embedded store (no --s3-endpoint-url), stopped afterwards."""
    started: list[ServerProcess] = []

    def start(*extra: str) -> ServerProcess:
        server = ServerProcess(
            ["--data-dir", str(data_dir), "--runner", "local", "--sandbox", "auto", *extra]
        )
        server.start(timeout=120)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _running(data_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((data_dir / "s3" / "state.json").read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def s3_env(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagepipe.cli", "s3-env", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def store_client(data_dir: Path) -> Any:
    """An S3 client configured from `sagepipe s3-env`, as a user's shell would be."""
    result = s3_env(data_dir)
    assert result.returncode == 0, result.stderr
    env = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1)
               for line in result.stdout.splitlines())  # fmt: skip
    return boto3.client(
        "s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip


def run_pipeline(server: ServerProcess, name: str, steps: list[dict[str, Any]]) -> str:
    sm = server.client()
    create(sm, name, steps)
    return str(sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"])


def demo_bucket(s3: Any, script: str, data: bytes = b"a,1") -> None:
    """Bucket `demo` with the input raw/data.csv and the job's code at code/preprocess.py,
    as processing_step("Prepare", "demo", "code/preprocess.py") reads them."""
    s3.create_bucket(Bucket="demo")
    s3.put_object(Bucket="demo", Key="raw/data.csv", Body=data)
    s3.put_object(Bucket="demo", Key="code/preprocess.py", Body=script.encode())


def start_slow_job(server: ServerProcess, data_dir: Path, name: str) -> tuple[Any, str]:
    """A one-step pipeline whose job runs for a few seconds, then writes train/done.txt;
    returns once the job has started (the store's client, the execution ARN)."""
    s3 = store_client(data_dir)
    demo_bucket(s3, SLOW_WRITER, b"a")
    arn = run_pipeline(server, name, [processing_step("Prepare", "demo", "code/preprocess.py")])
    wait_for(lambda: "run" in logs(server, arn, "Prepare"))
    return s3, arn


def snapshot(s3: Any, bucket: str) -> dict[str, tuple[str, Any]]:
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: (o["ETag"], o["LastModified"]) for o in listed}


def test_a_pipeline_runs_on_the_embedded_store_which_keeps_every_object_across_restarts(
    servers: Any, data_dir: Path, name: str
) -> None:
    server = servers()
    ready = next(line for line in server.output if " ready at " in line)
    running = _running(data_dir)
    assert running is not None and running["ready"] is True
    assert f"S3 {running['endpoint_url']} embedded" in ready
    assert running["access_key_id"] in ready  # the credentials are in the ready line too
    s3 = store_client(data_dir)
    demo_bucket(s3, PREPROCESS, b"a,1\nb,2")
    arn = run_pipeline(server, name, [processing_step("Prepare", "demo", "code/preprocess.py")])
    assert wait_status(server.client(), arn, timeout=60)["PipelineExecutionStatus"] == "Succeeded"
    exec_id = arn.rsplit("/", 1)[1]
    assert s3.get_object(Bucket="demo", Key=f"{exec_id}/train/train.csv")["Body"].read() == (
        b"A,1\nB,2"
    )
    before = snapshot(s3, "demo")
    assert len(before) == 3

    server.stop()  # a clean shutdown stops the store and forgets its endpoint
    assert not is_store_process(running["pid"], data_dir / "s3" / "data")
    gone = s3_env(data_dir)
    assert gone.returncode == 1 and "sagepipe serve" in gone.stderr and gone.stdout == ""

    server.start(timeout=120)
    again = _running(data_dir)
    assert again is not None and again["pid"] != running["pid"]
    assert again["endpoint_url"] == running["endpoint_url"]  # the port is kept while free
    assert again["access_key_id"] == running["access_key_id"]  # made once, kept
    s3 = store_client(data_dir)
    assert snapshot(s3, "demo") == before
    assert s3.get_object(Bucket="demo", Key=f"{exec_id}/train/train.csv")["Body"].read() == (
        b"A,1\nB,2"
    )


def test_a_store_killed_with_sigkill_is_restarted_and_the_running_pipeline_completes(
    servers: Any, data_dir: Path, name: str
) -> None:
    server = servers()
    s3, arn = start_slow_job(server, data_dir, name)
    first = _running(data_dir)
    assert first is not None
    os.kill(first["pid"], signal.SIGKILL)  # while the job runs; it uploads when it ends

    described = wait_status(server.client(), arn, timeout=90)
    assert described["PipelineExecutionStatus"] == "Succeeded", steps_by_name(server.client(), arn)
    second = _running(data_dir)
    assert second is not None and second["pid"] != first["pid"] and second["ready"]
    assert second["endpoint_url"] == first["endpoint_url"]  # what the job has in its environment
    exec_id = arn.rsplit("/", 1)[1]
    assert s3.get_object(Bucket="demo", Key=f"{exec_id}/train/done.txt")["Body"].read() == b"done"
    assert s3.get_object(Bucket="demo", Key="raw/data.csv")["Body"].read() == b"a"
    assert "exited (status -9); restarting it" in "".join(server.output)


@pytest.mark.parametrize("ending", ["SIGKILL", "SIGTERM"])
def test_a_store_with_jobs_running_outlives_its_server_and_the_next_server_adopts_it(
    servers: Any, data_dir: Path, name: str, ending: str
) -> None:
    server = servers()
    s3, arn = start_slow_job(server, data_dir, name)
    store = _running(data_dir)
    assert store is not None

    # A crash, or a clean stop while a job runs: the job and the store it writes to outlive it.
    server.kill() if ending == "SIGKILL" else server.stop()
    if ending == "SIGTERM":
        assert "keeps running for 1 running local job(s)" in "".join(server.output)
    assert is_store_process(store["pid"], data_dir / "s3" / "data")
    assert s3.get_object(Bucket="demo", Key="raw/data.csv")["Body"].read() == b"a"
    server.start(timeout=120)
    assert _running(data_dir) == store  # adopted: the same process, port and keys
    assert wait_status(server.client(), arn, timeout=60)["PipelineExecutionStatus"] == "Succeeded"
    exec_id = arn.rsplit("/", 1)[1]
    assert s3.get_object(Bucket="demo", Key=f"{exec_id}/train/done.txt")["Body"].read() == b"done"
    assert not job_processes(data_dir)

    server.stop()  # the adopted store stops with the server that adopted it
    assert not is_store_process(store["pid"], data_dir / "s3" / "data")


def test_servers_sharing_postgresql_are_told_to_share_a_store_and_one_data_dir_has_one_store(
    data_dir: Path,
) -> None:
    require_pg()
    with fresh_pg_database() as url:
        first = ServerProcess(["--data-dir", str(data_dir), "--runner", "local", "--db", url])
        first.start(timeout=120)
        try:
            shared = "".join(first.output)
            assert "Servers that share a PostgreSQL database must share one object store" in shared
            second = ServerProcess(["--data-dir", str(data_dir), "--runner", "local", "--db", url])
            with pytest.raises(RuntimeError, match="exited before it was ready") as refused:
                second.start(timeout=60)
            assert "Another sagepipe server runs the embedded object store in" in str(refused.value)
            assert second.proc is not None and second.proc.wait(timeout=10) == 1
        finally:
            first.stop()


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        ("Not_A_Bucket", "Could not upload to s3://Not_A_Bucket/"),
        ("no-such-bucket-here", "the bucket does not exist"),
    ],
)
def test_an_output_bucket_s3_rejects_or_lacks_fails_the_step_and_keeps_the_inputs(
    servers: Any, data_dir: Path, name: str, bucket: str, expected: str
) -> None:
    server = servers()
    s3 = store_client(data_dir)
    demo_bucket(s3, PREPROCESS)
    step = processing_step("Prepare", "demo", "code/preprocess.py")
    output = step["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]
    output["S3Uri"] = f"s3://{bucket}/out"
    before = snapshot(s3, "demo")
    arn = run_pipeline(server, name, [step])
    assert wait_status(server.client(), arn, timeout=60)["PipelineExecutionStatus"] == "Failed"
    reason = steps_by_name(server.client(), arn)["Prepare"]["FailureReason"]
    assert expected in reason, reason
    assert snapshot(s3, "demo") == before
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["demo"]


def test_a_server_that_fails_to_start_leaves_no_store_running(data_dir: Path) -> None:
    server = ServerProcess(["--data-dir", str(data_dir), "--runner", "local",
                            "--faults", str(data_dir / "no-such-rules.json")])  # fmt: skip
    with pytest.raises(RuntimeError, match="exited before it was ready"):
        server.start(timeout=120)
    assert server.proc is not None and server.proc.wait(timeout=10) != 0
    state = _running(data_dir)
    assert state is not None and state["ready"] is False  # the S3 port kept for next time
    assert not any(
        is_store_process(int(pid), data_dir / "s3" / "data")
        for pid in os.listdir("/proc") if pid.isdigit()
    )  # fmt: skip


def test_the_store_takes_writes_to_many_buckets(servers: Any, data_dir: Path) -> None:
    """Each bucket is a SeaweedFS collection with volumes of its own; with weed's automatic
    volume cap (free disk over volume size, seven volumes a bucket) the twelfth bucket on an
    80 GB disk refused every write with InternalError."""
    servers()
    s3 = store_client(data_dir)
    buckets = [f"team-{i:02d}" for i in range(40)]
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=bucket.encode())
    assert [s3.get_object(Bucket=b, Key="k")["Body"].read().decode() for b in buckets] == buckets


BIG_WRITER = (
    "import os, pathlib\nout = pathlib.Path('/opt/ml/processing/train')\n"
    "out.mkdir(parents=True, exist_ok=True)\n"
    "with open(out / 'big.bin', 'wb') as f:\n"
    "    for _ in range(160):\n        f.write(os.urandom(1 << 20))\n"
)


@pytest.fixture
def small_store_disk(data_dir: Path) -> Iterator[Path]:
    """The store's data directory on a 96 MB tmpfs of its own (needs root, as CI runs)."""
    disk = data_dir / "s3" / "data"
    disk.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(disk)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        running = _running(data_dir)
        if running and is_store_process(running["pid"], disk):
            os.kill(running["pid"], signal.SIGKILL)
            wait_for(lambda: not is_store_process(running["pid"], disk))
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_full_store_disk_fails_the_step_clearly_and_keeps_what_the_store_holds(
    servers: Any, data_dir: Path, small_store_disk: Path, name: str
) -> None:
    server = servers()
    s3 = store_client(data_dir)
    demo_bucket(s3, BIG_WRITER)
    before = snapshot(s3, "demo")
    # The job writes 160 MB to /opt/ml (on the big disk); its upload does not fit the store's.
    arn = run_pipeline(server, name, [processing_step("Prepare", "demo", "code/preprocess.py")])
    assert wait_status(server.client(), arn, timeout=300)["PipelineExecutionStatus"] == "Failed"
    reason = steps_by_name(server.client(), arn)["Prepare"]["FailureReason"]
    assert "the object store's disk is full" in reason and str(small_store_disk) in reason, reason
    assert reason.endswith("Free space there, then retry the execution."), reason
    # What the store held before is all still there, and reads back whole.
    assert snapshot(s3, "demo") == before
    assert s3.get_object(Bucket="demo", Key="code/preprocess.py")["Body"].read() == (
        BIG_WRITER.encode()
    )


def test_a_port_taken_before_the_store_could_listen_starts_it_on_other_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port is free when chosen, and anything may take it before `weed` binds it. The
    store's first filer port is one this test holds: weed cannot listen there, and the store
    starts again on other ports and takes writes."""
    import asyncio
    import socket

    from sagepipe.objectstore import embedded

    held = socket.create_server(("127.0.0.1", 0))
    taken = held.getsockname()[1]
    store = embedded.EmbeddedStore(tmp_path / "s3")
    config = store.prepare()
    original, chosen = embedded.free_port, []

    def first_filer_port_taken(preferred: int | None = None) -> int:
        first_spawn_filer = len(chosen) == embedded.INTERNAL_PORTS.index("filer")
        chosen.append(taken if first_spawn_filer else original(preferred))
        return chosen[-1]

    monkeypatch.setattr(embedded, "free_port", first_filer_port_taken)
    try:
        asyncio.run(store.start())
        assert store.ports["filer"] != taken and taken in chosen
        s3 = boto3.client("s3", endpoint_url=config.endpoint_url, region_name=config.region,
                          aws_access_key_id=config.access_key,
                          aws_secret_access_key=config.secret_key)  # fmt: skip
        s3.create_bucket(Bucket="after-retry")
        s3.put_object(Bucket="after-retry", Key="k", Body=b"v")
        assert s3.get_object(Bucket="after-retry", Key="k")["Body"].read() == b"v"
        assert (tmp_path / "s3" / "weed.log.1").is_file()  # the first attempt's log is kept
    finally:
        asyncio.run(store.stop())
        held.close()
