"""Training steps on the local runner: script mode through the sagemaker-training toolkit, the
model archive and metrics, failures with the toolkit's own failure file."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.pipelines import ROLE, create, steps_by_name, wait_status
from tests.support.server import ServerProcess

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

TRAIN = """
import argparse, os, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--max_depth", type=int)
args = parser.parse_args()
rows = (pathlib.Path(os.environ["SM_CHANNEL_TRAIN"]) / "train.csv").read_text().splitlines()
print(f"training on {len(rows)} rows, depth {args.max_depth}")
print("rmse=0.5"); print("rmse=0.25")
pathlib.Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text(f"depth={args.max_depth}")
"""


def sourcedir(script: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = script.encode()
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def training_step(bucket: str) -> dict[str, Any]:
    return {
        "Name": "Train", "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": SKLEARN_IMAGE,
                "MetricDefinitions": [{"Name": "validation:rmse", "Regex": "rmse=([0-9\\\\.]+)"}]},
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            "ResourceConfig": {"VolumeSizeInGB": 30, "InstanceCount": 1,
                               "InstanceType": "ml.m5.xlarge"},
            "RoleArn": ROLE,
            "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{bucket}/data/train", "S3DataDistributionType": "FullyReplicated"}}}],
            "HyperParameters": {"max_depth": "5",
                "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
                "sagemaker_program": '"train.py"', "sagemaker_container_log_level": "20",
                "sagemaker_region": '"us-east-1"'},
        },
    }  # fmt: skip


@pytest.fixture
def images_file(training_venv: Path, tmp_path: Path) -> Path:
    path = tmp_path / "images.json"
    path.write_text(json.dumps({"images": [{"match": "*sagemaker-scikit-learn*",
                                            "venv": str(training_venv)}]}))  # fmt: skip
    return path


def test_a_script_mode_training_step_trains_and_its_model_and_metrics_are_real(
    local_server_with: Any, images_file: Path, s3: Any, bucket: str, name: str
) -> None:
    server: ServerProcess = local_server_with("--images", str(images_file))
    s3.put_object(Bucket=bucket, Key="data/train/train.csv", Body=b"1,2\n3,4\n5,6")
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=sourcedir(TRAIN))
    sm = server.client()
    # A Fail step reports what the training job's properties say: the real metric and model.
    report = {"Name": "Report", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
        "On": " ", "Values": [
            {"Get": "Steps.Train.FinalMetricDataList['validation:rmse'].Value"},
            {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}]}}}}  # fmt: skip
    create(sm, name, [training_step(bucket), report])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    described = wait_status(sm, arn, timeout=120)
    steps = steps_by_name(sm, arn)
    assert steps["Train"]["StepStatus"] == "Succeeded", steps
    job = steps["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="models/")["Contents"]}
    model_key = next(k for k in listed if k.lower() == f"models/{job}/output/model.tar.gz")
    archive = s3.get_object(Bucket=bucket, Key=model_key)["Body"].read()
    assert described["FailureReason"] == f"0.25 s3://{bucket}/{model_key}"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.extractfile("model.txt").read() == b"depth=5"  # type: ignore[union-attr]
    exec_id = arn.rsplit("/", 1)[1]
    status, logs = server.extension("GET", f"/_sagepipe/executions/{exec_id}/steps/Train/logs")
    assert "training on 3 rows, depth 5" in logs["logs"]
    # DescribeTrainingJob is the same document: the real model and the real metric.
    job_description = sm.describe_training_job(TrainingJobName=job)
    assert job_description["TrainingJobStatus"] == "Completed"
    assert job_description["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{bucket}/{model_key}"
    assert [(m["MetricName"], m["Value"]) for m in job_description["FinalMetricDataList"]] == [
        ("validation:rmse", 0.25)]  # fmt: skip
    summaries = sm.list_training_jobs()["TrainingJobSummaries"]
    assert [s["TrainingJobName"].lower() for s in summaries] == [job]


# Counts epochs into /opt/ml/checkpoints; the first attempt dies after three of them.
CHECKPOINTED = """
import os, pathlib
state = pathlib.Path("/opt/ml/checkpoints/epoch.txt")
start = int(state.read_text()) if state.exists() else 0
print(f"resuming at epoch {start}")
for epoch in range(start, 5):
    if epoch == 3 and start == 0:
        raise SystemExit("the machine went away at epoch 3")
    state.write_text(str(epoch + 1))
pathlib.Path("/opt/ml/model/epochs.txt").write_text(f"{start}..5")
"""


def checkpointed_step(bucket: str, max_runtime: int) -> dict[str, Any]:
    """A Training step running s3://BUCKET/code/train.py (a plain command, no toolkit) whose
    checkpoints go to s3://BUCKET/checkpoints/run."""
    return {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "python:3",
                                   "ContainerEntrypoint": ["python3",
                                                           "/opt/ml/input/data/code/train.py"]},
        "InputDataConfig": [{"ChannelName": "code", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/code/"}}}],
        "CheckpointConfig": {"S3Uri": f"s3://{bucket}/checkpoints/run"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime}, "RoleArn": ROLE,
        "ResourceConfig": {"VolumeSizeInGB": 1, "InstanceCount": 1,
                           "InstanceType": "ml.m5.xlarge"}}}  # fmt: skip


def test_a_retried_training_job_resumes_from_its_checkpoint(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    """CheckpointConfig: what the job left in its LocalPath is in S3 after it ended (failed or
    not), and the next attempt finds it there again (docs/behaviour.md §11.3)."""
    s3.put_object(Bucket=bucket, Key="code/train.py", Body=CHECKPOINTED.encode())
    step = checkpointed_step(bucket, max_runtime=120)
    sm = local_server.client()
    create(sm, name, [step])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Failed"
    assert "epoch 3" in steps_by_name(sm, arn)["Train"]["FailureReason"]
    saved = s3.get_object(Bucket=bucket, Key="checkpoints/run/epoch.txt")["Body"].read()
    assert saved == b"3"

    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Succeeded"
    job = steps_by_name(sm, arn)["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    archive = s3.get_object(Bucket=bucket, Key=next(
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="models/")["Contents"]
        if o["Key"].lower() == f"models/{job}/output/model.tar.gz"))["Body"].read()  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.extractfile("epochs.txt").read() == b"3..5"  # type: ignore[union-attr]
    assert s3.get_object(Bucket=bucket, Key="checkpoints/run/epoch.txt")["Body"].read() == b"5"
