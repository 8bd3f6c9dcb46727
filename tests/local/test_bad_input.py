"""Requests the local runner cannot run end their step with a clear FailureReason, and change
nothing else (docs/behaviour.md §11.3)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.local.test_processing import PREPROCESS, processing_step
from tests.support.pipelines import create, steps_by_name, wait_status
from tests.support.server import ServerProcess


@pytest.fixture
def local_run() -> tuple[str, str]:
    return ("auto", "moto")  # the sandboxes and stores themselves are covered elsewhere


def run_one(server: ServerProcess, name: str, step: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    sm = server.client()
    create(sm, name, [step])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    status = wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"]
    return status, steps_by_name(sm, arn)[step["Name"]]


def test_a_missing_bucket_is_named(local_server: ServerProcess, name: str) -> None:
    status, step = run_one(local_server, name, processing_step("P", "no-such-bucket", "x.py"))
    assert status == "Failed"
    assert "s3://no-such-bucket/raw/data.csv" in step["FailureReason"]


def test_an_entrypoint_that_is_not_installed_names_the_image_and_the_images_flag(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    step = processing_step("P", bucket, "code/preprocess.py")
    step["Arguments"]["AppSpecification"]["ContainerEntrypoint"] = ["no-such-program", "x"]
    status, row = run_one(local_server, name, step)
    assert status == "Failed"
    assert "'no-such-program'" in row["FailureReason"]
    assert "sagemaker-scikit-learn:1.2-1-cpu-py3" in row["FailureReason"]
    assert "--images" in row["FailureReason"]


def test_an_image_without_an_entrypoint_says_how_to_map_one(
    local_server: ServerProcess, bucket: str, name: str
) -> None:
    step = processing_step("P", bucket, "code/preprocess.py")
    del step["Arguments"]["AppSpecification"]["ContainerEntrypoint"]
    status, row = run_one(local_server, name, step)
    assert status == "Failed"
    assert "no ContainerEntrypoint" in row["FailureReason"] and "--images" in row["FailureReason"]


def test_pipe_mode_is_refused(local_server: ServerProcess, bucket: str, name: str) -> None:
    step = processing_step("P", bucket, "code/preprocess.py")
    step["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3InputMode"] = "Pipe"
    status, row = run_one(local_server, name, step)
    assert status == "Failed"
    assert "S3InputMode Pipe" in row["FailureReason"]


def test_an_output_the_job_never_wrote_uploads_nothing_and_the_step_succeeds(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=b"print('nothing written')\n")
    status, row = run_one(local_server, name, processing_step("P", bucket, "code/preprocess.py"))
    assert status == "Succeeded", row
    listed = s3.list_objects_v2(Bucket=bucket)
    assert sorted(o["Key"] for o in listed["Contents"]) == ["code/preprocess.py", "raw/data.csv"]


def test_a_message_file_that_is_not_utf8_fails_the_job(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    script = (
        "import pathlib\np = pathlib.Path('/opt/ml/output'); p.mkdir(parents=True, exist_ok=True)\n"
        "(p / 'message').write_bytes(b'\\xff\\xfe bad')\n"
    )
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=script.encode())
    status, row = run_one(local_server, name, processing_step("P", bucket, "code/preprocess.py"))
    assert status == "Failed"
    assert row["FailureReason"] == "ClientError: /opt/ml/output/message is not valid UTF-8 text."


def test_max_runtime_stops_the_job_and_fails_the_step(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=b"import time\ntime.sleep(300)\n")
    step = processing_step("P", bucket, "code/preprocess.py")
    step["Arguments"]["StoppingCondition"] = {"MaxRuntimeInSeconds": 1}
    status, row = run_one(local_server, name, step)
    assert status == "Failed"
    assert row["FailureReason"].startswith("MaxRuntimeExceeded:")


def test_a_job_that_fills_its_disk_quota_is_stopped_and_fails_its_step(
    local_server: ServerProcess, s3: Any, bucket: str, name: str, tmp_path: Any
) -> None:
    # posix_fallocate takes the blocks without writing them: 1.2 GB on disk in an instant.
    script = (
        "import os, time\nos.makedirs('/opt/ml/processing/train', exist_ok=True)\n"
        "fd = os.open('/opt/ml/processing/train/big', os.O_CREAT | os.O_WRONLY)\n"
        "os.posix_fallocate(fd, 0, 1200 * 1024 * 1024)\nprint('filled', flush=True)\n"
        "time.sleep(300)\n"
    )
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=script.encode())
    step = processing_step("P", bucket, "code/preprocess.py")
    step["Arguments"]["ProcessingResources"]["ClusterConfig"]["VolumeSizeInGB"] = 1
    status, row = run_one(local_server, name, step)
    assert status == "Failed"
    assert row["FailureReason"].startswith("ClientError: the job's files under /opt/ml grew to "
                                           "1.17 GB, past its VolumeSizeInGB (1 GB)"), row  # fmt: skip
    listed = s3.list_objects_v2(Bucket=bucket)  # nothing uploaded from the failed job
    assert sorted(o["Key"] for o in listed["Contents"]) == ["code/preprocess.py", "raw/data.csv"]


def test_a_built_in_algorithm_image_without_a_mapping_says_how_to_map_one(
    local_server: ServerProcess, bucket: str, name: str
) -> None:
    """A built-in algorithm (XGBoost here) is a Docker image with its own program: no script
    mode hyperparameters, no ContainerEntrypoint."""
    step = {"Name": "T", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws"
                                   ".com/sagemaker-xgboost:1.7-1", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/R",
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}}}  # fmt: skip
    status, row = run_one(local_server, name, step)
    assert status == "Failed"
    reason = row["FailureReason"]
    assert (
        reason.startswith("ClientError: image '683313688378.dkr.ecr")
        and "sagemaker-xgboost" in reason
    )
    assert "no ContainerEntrypoint" in reason and "--images" in reason


@pytest.mark.parametrize(
    ("step_type", "arguments", "why"),
    [
        ("EMR", {"ClusterId": "j-1ABCDEFGHIJKL", "StepConfig": {"HadoopJarStep": {"Jar": "x"}}},
         "they run on an Amazon EMR cluster"),
        ("Tuning", {"HyperParameterTuningJobConfig": {"Strategy": "Bayesian"}},
         "train with fixed hyperparameters"),
        ("QualityCheck", {"ProcessingResources": {}}, "Model Monitor's own container image"),
        ("ClarifyCheck", {"ProcessingResources": {}}, "Clarify's own container image"),
        ("AutoML", {"AutoMLJobConfig": {}}, "Autopilot chooses and trains"),
        ("EMRServerless", {"ApplicationId": "00f1"}, "EMR Serverless application"),
        ("Athena", {"QueryString": "select 1"}, "Amazon Athena query"),
    ],
)  # fmt: skip
def test_steps_whose_work_runs_in_another_service_are_refused_not_faked(
    local_server: ServerProcess, name: str, step_type: str, arguments: dict[str, Any], why: str
) -> None:
    status, row = run_one(local_server, name, {"Name": "S", "Type": step_type,
                                               "Arguments": arguments})  # fmt: skip
    assert status == "Failed" and row["StepStatus"] == "Failed"
    assert row["FailureReason"].startswith(f"ClientError: the local runner cannot run {step_type}")
    assert why in row["FailureReason"] and "--runner simulate" in row["FailureReason"]


def test_the_good_input_still_runs_after_the_bad_ones(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,1")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=PREPROCESS.encode())
    status, row = run_one(local_server, name, processing_step("P", bucket, "code/preprocess.py"))
    assert status == "Succeeded", row
