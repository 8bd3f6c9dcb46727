"""InstanceCount > 1 on the local runner: one process per instance, each with its own /opt/ml
and `current_host` in resourceconfig.json; ShardedByS3Key splits the inputs between them;
what they all wrote is uploaded, and one failing instance fails the job."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

from tests.local.test_processing import processing_step
from tests.support.pipelines import ROLE, create, steps_by_name, wait_status
from tests.support.server import ServerProcess

SHARD_REPORT = """
import json, os, pathlib
config = json.load(open("/opt/ml/config/resourceconfig.json"))
host = config["current_host"]
seen = sorted(os.listdir("/opt/ml/processing/input"))
out = pathlib.Path("/opt/ml/processing/train"); out.mkdir(parents=True, exist_ok=True)
(out / f"{host}.json").write_text(json.dumps({"hosts": config["hosts"], "seen": seen}))
print("instance", host, "saw", seen)
"""

TRAIN = """
import json, os, pathlib, sys, time
host = json.load(open("/opt/ml/input/config/resourceconfig.json"))["current_host"]
if os.environ.get("FAIL_ON") not in ("", host):
    time.sleep(60)  # the healthy instance is still busy when the other one fails
model = pathlib.Path("/opt/ml/model")
(model / f"{host}.txt").write_text(",".join(sorted(os.listdir("/opt/ml/input/data/train"))))
(model / "shared.txt").write_text(host)
if os.environ.get("FAIL_ON") == host:
    pathlib.Path("/opt/ml/output/failure").write_text(f"{host} broke")
    sys.exit(3)
"""


def training_step(bucket: str, fail_on: str = "") -> dict[str, Any]:
    def channel(name: str, prefix: str, distribution: str) -> dict[str, Any]:
        return {"ChannelName": name, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{prefix}",
            "S3DataDistributionType": distribution}}}  # fmt: skip

    return {
        "Name": "Train", "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "img:1",
                "ContainerEntrypoint": ["python3", "/opt/ml/input/data/code/train.py"]},
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            "ResourceConfig": {"VolumeSizeInGB": 1, "InstanceCount": 2,
                               "InstanceType": "ml.m5.xlarge"},
            "RoleArn": ROLE, "Environment": {"FAIL_ON": fail_on},
            "InputDataConfig": [channel("code", "code/train.py", "FullyReplicated"),
                                channel("train", "shards", "ShardedByS3Key")],
        },
    }  # fmt: skip


def run(server: ServerProcess, name: str, step: dict[str, Any]) -> tuple[str, dict]:
    sm = server.client()
    create(sm, name, [step])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    return wait_status(sm, arn, timeout=120)["PipelineExecutionStatus"], steps_by_name(sm, arn)


def test_two_processing_instances_share_the_sharded_input_and_both_outputs_are_uploaded(
    local_server: ServerProcess, s3: Any, bucket: str, name: str, tmp_path: Path
) -> None:
    for part in ("a", "b", "c", "d"):
        s3.put_object(Bucket=bucket, Key=f"shards/{part}.csv", Body=part.encode())
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=SHARD_REPORT.encode())
    step = processing_step("Prepare", bucket, "code/preprocess.py")
    arguments = step["Arguments"]
    arguments["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 2
    data = arguments["ProcessingInputs"][0]["S3Input"]
    data.update(S3Uri=f"s3://{bucket}/shards", S3DataDistributionType="ShardedByS3Key")
    arguments["ProcessingInputs"][1]["S3Input"]["S3DataDistributionType"] = "FullyReplicated"
    status, ran = run(local_server, name, step)
    assert status == "Succeeded", ran["Prepare"].get("FailureReason")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="")["Contents"]
    reports = {o["Key"].rsplit("/", 1)[1]: json.loads(s3.get_object(
        Bucket=bucket, Key=o["Key"])["Body"].read()) for o in listed if o["Key"].endswith(".json")}  # fmt: skip
    assert sorted(reports) == ["algo-1.json", "algo-2.json"]
    assert all(r["hosts"] == ["algo-1", "algo-2"] for r in reports.values())
    first = set(reports["algo-1.json"]["seen"]) - {"code"}
    second = set(reports["algo-2.json"]["seen"]) - {"code"}
    assert first and second and not first & second  # each object went to one instance
    assert first | second == {"a.csv", "b.csv", "c.csv", "d.csv"}
    # Every instance's /opt/ml tree went with the job (a succeeded one keeps none).
    assert list((tmp_path / "data" / "jobs").glob("*/opt-ml*")) == []


def test_two_training_instances_make_one_model_and_one_failing_instance_fails_the_job(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    for part in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=f"shards/{part}.csv", Body=part.encode())
    s3.put_object(Bucket=bucket, Key="code/train.py", Body=TRAIN.encode())
    status, ran = run(local_server, name, training_step(bucket))
    assert status == "Succeeded", ran["Train"].get("FailureReason")
    job = ran["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    described = local_server.client().describe_training_job(TrainingJobName=job)
    uri = described["ModelArtifacts"]["S3ModelArtifacts"]
    key = uri.split("/", 3)[3]
    body = io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    with tarfile.open(fileobj=body) as archive:
        files = {m.name: archive.extractfile(m).read().decode()  # type: ignore[union-attr]
                 for m in archive.getmembers() if m.isfile()}  # fmt: skip
    assert files == {"algo-1.txt": "a.csv", "algo-2.txt": "b.csv", "shared.txt": "algo-1"}

    started = time.monotonic()
    status, ran = run(local_server, name + "-f", training_step(bucket, fail_on="algo-2"))
    assert status == "Failed"
    # The failing instance explains the job, not the one stopped because of it; and the
    # stopped one did not run its minute out.
    assert ran["Train"]["FailureReason"] == "algo-2 broke"
    assert time.monotonic() - started < 20  # the stop grace is 30 s: SIGTERM was heard
