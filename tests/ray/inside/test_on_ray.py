"""The ray runner against a real Ray head (docs/behaviour.md §12): the local runner's pipeline
runs as Ray jobs, stop and retry, a server SIGKILLed while its job runs finds the job again
(never submitted twice), a job Ray loses fails as SageMaker.JOB_INTERNAL_ERROR and a
RetryPolicy runs it again, a job that ends while the cluster is out of the server's reach is
found when it answers again, and a cluster that does not answer fails the step with a reason
while the API stays up."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local.test_processing import PREPROCESS, processing_step
from tests.support.pipelines import ROLE, create, steps_by_name, wait_status
from tests.support.s3 import MotoServer, free_port
from tests.support.server import ServerProcess
from tests.support.steps import poll, wait_step

# Waits until the S3 object `release` exists (so a test decides when it ends), then writes
# its model. With `once`, a second attempt finds the first's mark and ends at once.
TRAIN = """
import os, pathlib, sys, time, boto3
s3 = boto3.client("s3")
bucket = os.environ["BUCKET"]
print("training on", os.environ["TRAINING_JOB_NAME"], flush=True)
def exists(key):
    try:
        s3.head_object(Bucket=bucket, Key=key); return True
    except Exception:
        return False
if not exists("marks/started"):
    s3.put_object(Bucket=bucket, Key="marks/started", Body=b"1")
    while not exists("release"):
        time.sleep(0.3)
pathlib.Path("/opt/ml/model/model.txt").write_text("trained")
print("done", flush=True)
"""


def training_step(bucket: str, **extra: Any) -> dict[str, Any]:
    return {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "python:3",
                                   "ContainerEntrypoint": ["python3", "/opt/ml/input/data/code/train.py"]},
        "InputDataConfig": [{"ChannelName": "code", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/code/train.py"}}}],
        "Environment": {"BUCKET": bucket},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300}, "RoleArn": ROLE,
        "ResourceConfig": {"VolumeSizeInGB": 1, "InstanceCount": 1, "InstanceType": "ml.m5.xlarge"}},
        **extra}  # fmt: skip


@pytest.fixture
def bucket(s3_server: MotoServer) -> str:
    name = f"ray-{uuid.uuid4().hex[:8]}"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="raw/data.csv", Body=b"a,1\nb,2")
    s3.put_object(Bucket=name, Key="code/preprocess.py", Body=PREPROCESS.encode())
    s3.put_object(Bucket=name, Key="code/train.py", Body=TRAIN.encode())
    return name


@pytest.fixture
def on_ray(
    ray_head: str, s3_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerProcess]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    server = ServerProcess(["--data-dir", str(tmp_path / "data"), "--runner", "ray",
                            "--ray-address", ray_head, "--s3-endpoint-url", s3_server.url,
                            "--ray-max-cpus", "1"])  # fmt: skip
    server.start()
    try:
        yield server
    finally:
        server.stop()


def released(s3_server: MotoServer, bucket: str) -> None:
    s3_server.client().put_object(Bucket=bucket, Key="release", Body=b"go")


def ray_jobs_of(jobs: Any, job_name: str) -> list[Any]:
    """The Ray jobs of a job (ARNs lower-case the name, as AWS does)."""
    return [j for j in jobs.list_jobs()
            if (j.metadata or {}).get("sagepipe_job", "").lower() == job_name.lower()]  # fmt: skip


def job_name_of(row: dict[str, Any]) -> str:
    metadata = row["Metadata"]
    return next(iter(metadata.values()))["Arn"].rsplit("/", 1)[1]


def test_a_processing_and_training_pipeline_runs_as_ray_jobs(
    on_ray: ServerProcess, s3_server: MotoServer, bucket: str, jobs: Any, name: str
) -> None:
    sm = on_ray.client()
    prepare = processing_step("Prepare", bucket, "code/preprocess.py")
    create(sm, name, [prepare, training_step(bucket, DependsOn=["Prepare"])])
    released(s3_server, bucket)
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_status(sm, arn, timeout=120)["PipelineExecutionStatus"] == "Succeeded"
    steps = steps_by_name(sm, arn)
    exec_id = arn.rsplit("/", 1)[1]
    s3 = s3_server.client()
    assert (
        s3.get_object(Bucket=bucket, Key=f"{exec_id}/train/train.csv")["Body"].read() == b"A,1\nB,2"
    )
    job = job_name_of(steps["Train"])
    described = sm.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed"
    assert described["ModelArtifacts"]["S3ModelArtifacts"].endswith("/output/model.tar.gz")
    # Each attempt is one Ray job whose submission id is the job's name, and its log is the
    # step's log.
    (ray_job,) = ray_jobs_of(jobs, described["TrainingJobName"])
    assert ray_job.submission_id == described["TrainingJobName"] and ray_job.status == "SUCCEEDED"
    _, logs = on_ray.extension("GET", f"/_sagepipe/executions/{exec_id}/steps/Prepare/logs")
    assert "rows 2 job" in logs["logs"] and "[sagepipe] the job succeeded" in logs["logs"]
    assert "[sagepipe-result]" not in logs["logs"]


def test_stop_stops_the_ray_job_and_a_retry_runs_it_again(
    on_ray: ServerProcess, s3_server: MotoServer, bucket: str, jobs: Any, name: str
) -> None:
    sm = on_ray.client()
    create(sm, name, [training_step(bucket)])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    first = wait_step(sm, arn, "Train", ("Executing",), timeout=60)
    poll("the Ray job to run", lambda: ray_jobs_of(jobs, job_name_of(first)),
         lambda found: bool(found) and found[0].status == "RUNNING", 60)  # fmt: skip
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Stopped"
    (stopped,) = ray_jobs_of(jobs, job_name_of(first))
    assert stopped.status == "STOPPED"
    released(s3_server, bucket)
    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
    assert wait_status(sm, arn, timeout=120)["PipelineExecutionStatus"] == "Succeeded"
    assert steps_by_name(sm, arn)["Train"]["AttemptCount"] == 2


def test_a_server_killed_while_its_ray_job_runs_finds_the_job_again(
    on_ray: ServerProcess, s3_server: MotoServer, bucket: str, jobs: Any, name: str
) -> None:
    sm = on_ray.client()
    create(sm, name, [training_step(bucket)])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    row = wait_step(sm, arn, "Train", ("Executing",), timeout=60)
    poll("the Ray job", lambda: ray_jobs_of(jobs, job_name_of(row)), bool, 60)
    on_ray.kill()
    released(s3_server, bucket)  # it ends while no server is there
    on_ray.start()
    sm = on_ray.client()
    assert wait_status(sm, arn, timeout=120)["PipelineExecutionStatus"] == "Succeeded"
    assert steps_by_name(sm, arn)["Train"]["AttemptCount"] == 1
    assert len(ray_jobs_of(jobs, job_name_of(row))) == 1  # never submitted twice


def test_a_job_ray_loses_fails_as_job_internal_error_and_a_retry_policy_reruns_it(
    on_ray: ServerProcess, s3_server: MotoServer, bucket: str, jobs: Any, name: str
) -> None:
    sm = on_ray.client()
    policy = {"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 1,
              "MaxAttempts": 1}  # fmt: skip
    create(sm, name, [training_step(bucket, RetryPolicies=[policy])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    row = wait_step(sm, arn, "Train", ("Executing",), timeout=60)
    poll("the first attempt to start", lambda: s3_object(s3_server, bucket, "marks/started"),
         bool, 60)  # fmt: skip
    # The node's job supervisor dies, as when its node is lost: the job ends without a result.
    killed = kill_matching("JobSupervisor")
    assert killed, "no Ray JobSupervisor process to kill"
    assert wait_status(sm, arn, timeout=120)["PipelineExecutionStatus"] == "Succeeded"
    attempts = [
        a
        for a in on_ray.extension("GET", f"/_sagepipe/executions/{arn.rsplit('/', 1)[1]}/attempts")[
            1
        ]["attempts"]
    ]
    assert [a["status"] for a in attempts] == ["Failed", "Succeeded"]
    assert attempts[0]["failure_reason"].startswith("InternalServerError: Ray ended job")
    assert job_name_of(row) != attempts[1]["job_name"]


def test_a_cluster_that_does_not_answer_fails_the_step_and_the_api_stays_up(
    s3_server: MotoServer, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    server = ServerProcess(["--data-dir", str(tmp_path / "data"), "--runner", "ray",
                            "--ray-address", "http://127.0.0.1:9", "--s3-endpoint-url",
                            s3_server.url])  # fmt: skip
    server.start()
    try:
        sm = server.client()
        create(sm, name, [training_step(bucket)])
        arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
        assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Failed"
        reason = steps_by_name(sm, arn)["Train"]["FailureReason"]
        assert "the Ray cluster at http://127.0.0.1:9 did not take the job" in reason
        assert [p["PipelineName"] for p in sm.list_pipelines()["PipelineSummaries"]] == [name]
    finally:
        server.stop()


def s3_object(s3_server: MotoServer, bucket: str, key: str) -> bool:
    try:
        s3_server.client().head_object(Bucket=bucket, Key=key)
        return True
    except Exception:
        return False


def kill_matching(text: str) -> list[int]:
    killed = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in command:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed


class Forwarder:
    """A TCP relay on a fixed loopback port to the Ray dashboard, which a test can take away
    and bring back: the server sees the cluster vanish and return."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port, self.target = port, target
        self.listener: socket.socket | None = None
        self.open: list[socket.socket] = []

    def start(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.close()
        self.open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def test_a_job_that_ends_while_the_cluster_is_away_is_found_when_it_answers_again(
    ray_head: str, s3_server: MotoServer, bucket: str, jobs: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, name: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    relay = Forwarder(free_port(), ("127.0.0.1", 8265))
    relay.start()
    server = ServerProcess(["--data-dir", str(tmp_path / "data"), "--runner", "ray",
                            "--ray-address", f"http://127.0.0.1:{relay.port}",
                            "--s3-endpoint-url", s3_server.url, "--ray-max-cpus", "1"])  # fmt: skip
    server.start()
    try:
        sm = server.client()
        create(sm, name, [training_step(bucket)])
        arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
        row = wait_step(sm, arn, "Train", ("Executing",), timeout=60)
        poll("the job to start", lambda: s3_object(s3_server, bucket, "marks/started"), bool, 60)
        relay.stop()  # the cluster is away for the server; the job runs on and ends
        released(s3_server, bucket)
        poll("the job to end", lambda: ray_jobs_of(jobs, job_name_of(row))[0].status,
             lambda status: status == "SUCCEEDED", 60)  # fmt: skip
        time.sleep(2)  # the server tries at least once more and waits
        assert steps_by_name(sm, arn)["Train"]["StepStatus"] == "Executing"  # nothing lost
        assert sm.list_pipelines()["PipelineSummaries"]  # the API is up
        assert any("does not answer" in line for line in server.output), server.output[-5:]
        relay.start()
        assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Succeeded"
        assert steps_by_name(sm, arn)["Train"]["AttemptCount"] == 1
        assert len(ray_jobs_of(jobs, job_name_of(row))) == 1
    finally:
        server.stop()
        relay.stop()
