"""A job with InstanceCount 2 on a two-node Ray cluster (docs/behaviour.md §12): one Ray job
per instance, `<job name>-algo-<i>`, each on its own node (each instance asks for one unit of a
resource each node has one of); algo-2 reaches algo-1 by its host name, each instance gets
its own shard and resourceconfig.json, every instance's checkpoints reach S3 and
model.tar.gz is algo-1's. When one instance fails, the other is stopped and the step fails
with the failing instance's reason."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ray.inside.conftest import INSTANCE_SLOT, SECOND_NODE_IP
from tests.ray.inside.test_on_ray import job_name_of, ray_jobs_of
from tests.support.pipelines import ROLE, create, steps_by_name, wait_status
from tests.support.s3 import MotoServer, free_port
from tests.support.server import ServerProcess

# Each instance lists its shard into a checkpoint; algo-1 listens on the address its
# /etc/hosts gives algo-1, algo-2 says hello to it by that name, and algo-1 keeps what it
# heard as the model. FAIL_ON makes one fail.
TRAIN = """
import json, os, pathlib, socket, sys, time
config = json.load(open("/opt/ml/input/config/resourceconfig.json"))
me, hosts = config["current_host"], config["hosts"]
port = int(os.environ["PEER_PORT"])
shard = sorted(p.name for p in pathlib.Path("/opt/ml/input/data/data").iterdir())
print(me, "of", hosts, "sees", shard, flush=True)
print(me, "resolves", ", ".join(f"{h} on {socket.gethostbyname(h)}" for h in hosts), flush=True)
pathlib.Path(f"/opt/ml/checkpoints/{me}.json").write_text(json.dumps({"shard": shard, "hosts": hosts}))
if os.environ.get("FAIL_ON") == me:
    print("failing on purpose", flush=True)
    sys.exit(3)
if me == "algo-1":
    server = socket.create_server((socket.gethostbyname("algo-1"), port))
    server.settimeout(120)
    connection, _ = server.accept()
    pathlib.Path("/opt/ml/model/peer.txt").write_text(connection.recv(100).decode())
else:
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("algo-1", port), timeout=2).sendall(f"hello from {me}".encode())
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    pathlib.Path("/opt/ml/model/peer.txt").write_text("not algo-1's")
print("done", me, flush=True)
"""


@pytest.fixture
def bucket(s3_server: MotoServer) -> str:
    name = f"inst-{uuid.uuid4().hex[:8]}"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=name)
    for part in ("part-a.csv", "part-b.csv"):
        s3.put_object(Bucket=name, Key=f"data/{part}", Body=b"x,1\n")
    s3.put_object(Bucket=name, Key="code/train.py", Body=TRAIN.encode())
    return name


@pytest.fixture
def spread(
    ray_head: str, second_node: Path, s3_server: MotoServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ServerProcess]:  # fmt: skip
    """A server whose ml.test.slot instances each take a node's one INSTANCE_SLOT."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    types = tmp_path / "types.json"
    types.write_text(json.dumps({"instance_types": {
        "ml.test.slot": {"cpus": 1, "resource": INSTANCE_SLOT}}}))  # fmt: skip
    server = ServerProcess(["--data-dir", str(tmp_path / "data"), "--runner", "ray",
                            "--ray-address", ray_head, "--s3-endpoint-url", s3_server.url,
                            "--ray-instance-types", str(types)])  # fmt: skip
    server.start()
    try:
        yield server
    finally:
        server.stop()


def two_instance_step(bucket: str, **environment: str) -> dict[str, Any]:
    return {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "python:3",
                                   "ContainerEntrypoint": ["python3", "/opt/ml/input/data/code/train.py"]},
        "InputDataConfig": [
            {"ChannelName": "code", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/code/train.py"}}},
            {"ChannelName": "data", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/",
                "S3DataDistributionType": "ShardedByS3Key"}}}],
        "Environment": {"PEER_PORT": str(free_port()), **environment},
        "CheckpointConfig": {"S3Uri": f"s3://{bucket}/checkpoints", "LocalPath": "/opt/ml/checkpoints"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300}, "RoleArn": ROLE,
        "ResourceConfig": {"VolumeSizeInGB": 1, "InstanceCount": 2, "InstanceType": "ml.test.slot"}}}  # fmt: skip


def test_two_instances_run_as_two_ray_jobs_on_two_nodes_and_talk_by_host_name(
    spread: ServerProcess, s3_server: MotoServer, bucket: str, jobs: Any, name: str
) -> None:
    sm = spread.client()
    create(sm, name, [two_instance_step(bucket)])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    status = wait_status(sm, arn, timeout=120)["PipelineExecutionStatus"]
    assert status == "Succeeded", steps_by_name(sm, arn)["Train"].get("FailureReason")
    job = sm.describe_training_job(TrainingJobName=job_name_of(steps_by_name(sm, arn)["Train"]))[
        "TrainingJobName"
    ]
    ray_jobs = sorted(ray_jobs_of(jobs, job), key=lambda j: j.submission_id)
    assert [j.submission_id for j in ray_jobs] == [f"{job}-algo-1", f"{job}-algo-2"]
    assert len({j.driver_node_id for j in ray_jobs}) == 2, "both instances ran on one node"
    s3 = s3_server.client()
    seen = {}
    for host in ("algo-1", "algo-2"):
        body = s3.get_object(Bucket=bucket, Key=f"checkpoints/{host}.json")["Body"].read()
        seen[host] = json.loads(body)
        assert seen[host]["hosts"] == ["algo-1", "algo-2"]
    assert sorted(seen["algo-1"]["shard"] + seen["algo-2"]["shard"]) == ["part-a.csv", "part-b.csv"]
    artifacts = sm.describe_training_job(TrainingJobName=job)["ModelArtifacts"]["S3ModelArtifacts"]
    key = artifacts.split(f"s3://{bucket}/", 1)[1]
    archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as model:
        peer = model.extractfile("peer.txt")
        assert peer is not None and peer.read() == b"hello from algo-2"
    exec_id = arn.rsplit("/", 1)[1]
    _, logs = spread.extension("GET", f"/_sagepipe/executions/{exec_id}/steps/Train/logs")
    text = logs["logs"]
    assert "algo-1 of ['algo-1', 'algo-2']" in text and "done algo-2" in text
    # Each instance's /etc/hosts names the node each instance runs on: algo-1 listens on the
    # address algo-1 has there, and algo-2 reached it by that name.
    placed = [line for line in text.splitlines() if line.startswith("[sagepipe] instances:")]
    assert len(placed) == 2 and placed[0] == placed[1], placed
    assert placed[0] in (
        f"[sagepipe] instances: algo-1 on 127.0.0.1, algo-2 on {SECOND_NODE_IP}",
        f"[sagepipe] instances: algo-1 on {SECOND_NODE_IP}, algo-2 on 127.0.0.1",
    ), placed
    where = placed[0].split(": ", 1)[1]
    assert f"algo-1 resolves {where}" in text and f"algo-2 resolves {where}" in text


def test_when_one_instance_fails_the_other_is_stopped_and_the_step_fails_with_its_reason(
    spread: ServerProcess, bucket: str, jobs: Any, name: str
) -> None:
    sm = spread.client()
    create(sm, name, [two_instance_step(bucket, FAIL_ON="algo-2")])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_status(sm, arn, timeout=120)["PipelineExecutionStatus"] == "Failed"
    step = steps_by_name(sm, arn)["Train"]
    assert step["StepStatus"] == "Failed"
    assert "exited with code 3" in step["FailureReason"], step["FailureReason"]
    assert "failing on purpose" in step["FailureReason"]
    statuses = {
        j.submission_id.rsplit("-", 1)[1]: j.status for j in ray_jobs_of(jobs, job_name_of(step))
    }
    assert statuses["1"] == "STOPPED", statuses  # algo-1 waited for algo-2 until stopped
