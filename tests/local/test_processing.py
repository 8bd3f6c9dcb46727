"""Processing steps that run their real code on the local runner, through a real server,
real S3 (moto's server) and real processes, under both sandboxes."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.support.pipelines import ROLE, create, steps_by_name, wait_status
from tests.support.server import ServerProcess

PREPROCESS = """
import os, pathlib, sys
rows = pathlib.Path("/opt/ml/processing/input/data.csv").read_text().splitlines()
out = pathlib.Path("/opt/ml/processing/train"); out.mkdir(parents=True, exist_ok=True)
(out / "train.csv").write_text("\\n".join(r.upper() for r in rows))
print("rows", len(rows), "job", os.environ["PROCESSING_JOB_NAME"], "args", sys.argv[1:])
"""


def processing_step(name: str, bucket: str, script_key: str, **extra: Any) -> dict[str, Any]:
    return {
        "Name": name, "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {
                "InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
            "AppSpecification": {
                "ImageUri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocess.py"],
                "ContainerArguments": ["--ratio", "0.8"]},
            "RoleArn": ROLE,
            "ProcessingInputs": [
                {"InputName": "input-1", "S3Input": {
                    "S3Uri": f"s3://{bucket}/raw/data.csv", "LocalPath": "/opt/ml/processing/input",
                    "S3DataType": "S3Prefix", "S3InputMode": "File"}},
                {"InputName": "code", "S3Input": {
                    "S3Uri": f"s3://{bucket}/{script_key}",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {
                "S3Uri": {"Std:Join": {"On": "/", "Values": [
                    "s3:/", bucket, {"Get": "Execution.PipelineExecutionId"}, "train"]}},
                "LocalPath": "/opt/ml/processing/train", "S3UploadMode": "EndOfJob"}}]},
        },
        **extra,
    }  # fmt: skip


def test_a_processing_step_runs_its_script_and_uploads_what_it_wrote(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,1\nb,2\nc,3")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=PREPROCESS.encode())
    sm = local_server.client()
    create(sm, name, [processing_step("Preprocess", bucket, "code/preprocess.py")])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    described = wait_status(sm, arn, timeout=60)
    steps = steps_by_name(sm, arn)
    assert described["PipelineExecutionStatus"] == "Succeeded", steps
    exec_id = arn.rsplit("/", 1)[1]
    body = s3.get_object(Bucket=bucket, Key=f"{exec_id}/train/train.csv")["Body"].read()
    assert body == b"A,1\nB,2\nC,3"
    job_arn = steps["Preprocess"]["Metadata"]["ProcessingJob"]["Arn"]
    assert job_arn.startswith("arn:aws:sagemaker:us-east-1:123456789012:processing-job/pipelines-")
    status, logs = local_server.extension(
        "GET", f"/_sagepipe/executions/{exec_id}/steps/Preprocess/logs"
    )
    assert status == 200, logs
    assert "rows 3 job pipelines-" in logs["logs"]
    assert "args ['--ratio', '0.8']" in logs["logs"]
    # The same lines on CloudWatch Logs' protocol, where the SDK's log tailer reads them.
    cloudwatch = boto3.client("logs", endpoint_url=local_server.url, region_name="us-east-1",
                              aws_access_key_id="a", aws_secret_access_key="b")  # fmt: skip
    job = job_arn.rsplit("/", 1)[1]
    [stream] = cloudwatch.describe_log_streams(
        logGroupName="/aws/sagemaker/ProcessingJobs", logStreamNamePrefix=job
    )["logStreams"]
    events = cloudwatch.get_log_events(logGroupName="/aws/sagemaker/ProcessingJobs",
                                       logStreamName=stream["logStreamName"], startFromHead=True)  # fmt: skip
    assert any(e["message"].startswith("rows 3 job pipelines-") for e in events["events"])


def test_a_failing_script_fails_its_step_with_the_failure_file_or_the_log_tail(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    script = (
        "import pathlib\n"
        "pathlib.Path('/opt/ml/output').mkdir(parents=True, exist_ok=True)\n"
        "pathlib.Path('/opt/ml/output/failure').write_text('ValueError: bad column x' * 100)\n"
        "raise SystemExit(3)\n"
    )
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=script.encode())
    sm = local_server.client()
    create(sm, name, [processing_step("Preprocess", bucket, "code/preprocess.py")])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Failed"
    step = steps_by_name(sm, arn)["Preprocess"]
    assert step["StepStatus"] == "Failed"
    assert step["FailureReason"] == ("ValueError: bad column x" * 100)[:1024]
    exec_id = arn.rsplit("/", 1)[1]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{exec_id}/")
    assert listed.get("KeyCount", 0) == 0  # a failed job uploads nothing


def test_an_input_that_matches_no_object_fails_the_step_naming_the_uri(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=PREPROCESS.encode())
    sm = local_server.client()
    create(sm, name, [processing_step("Preprocess", bucket, "code/preprocess.py")])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Failed"
    reason = steps_by_name(sm, arn)["Preprocess"]["FailureReason"]
    assert reason == f'ClientError: No S3 objects found under S3 URL "s3://{bucket}/raw/data.csv".'
    json.dumps(reason)


EVALUATE = """
import json, pathlib
out = pathlib.Path("/opt/ml/processing/evaluation"); out.mkdir(parents=True, exist_ok=True)
(out / "evaluation.json").write_text(json.dumps({"metrics": {"accuracy": {"value": 0.91}}}))
"""


def evaluation_pipeline(bucket: str, threshold: float) -> list[dict[str, Any]]:
    evaluate = processing_step("Evaluate", bucket, "code/evaluate.py")
    evaluate["Arguments"]["AppSpecification"]["ContainerEntrypoint"][1] = (
        "/opt/ml/processing/input/code/evaluate.py"
    )
    evaluate["Arguments"]["ProcessingOutputConfig"]["Outputs"] = [{
        "OutputName": "evaluation", "S3Output": {
            "S3Uri": f"s3://{bucket}/evaluation", "LocalPath": "/opt/ml/processing/evaluation",
            "S3UploadMode": "EndOfJob"}}]  # fmt: skip
    evaluate["PropertyFiles"] = [{"PropertyFileName": "EvaluationReport",
                                  "OutputName": "evaluation", "FilePath": "evaluation.json"}]  # fmt: skip
    check = {
        "Name": "CheckAccuracy", "Type": "Condition",
        "Arguments": {
            "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": {"Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                "Path": "metrics.accuracy.value"}}, "RightValue": threshold}],
            "IfSteps": [{"Name": "Good", "Type": "Fail", "Arguments": {"ErrorMessage": "good"}}],
            "ElseSteps": [{"Name": "Bad", "Type": "Fail", "Arguments": {"ErrorMessage": {
                "Std:Join": {"On": " ", "Values": ["accuracy", {"Std:JsonGet": {
                    "S3Uri": f"s3://{bucket}/evaluation/evaluation.json",
                    "Path": "metrics.accuracy.value"}}]}}}}],
        },
    }  # fmt: skip
    return [evaluate, check]


def test_a_condition_reads_the_property_file_the_job_wrote(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="code/evaluate.py", Body=EVALUATE.encode())
    sm = local_server.client()
    create(sm, name, evaluation_pipeline(bucket, 0.95))
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    described = wait_status(sm, arn, timeout=60)
    steps = steps_by_name(sm, arn)
    assert steps["Evaluate"]["StepStatus"] == "Succeeded", steps
    assert steps["CheckAccuracy"]["Metadata"]["Condition"]["Outcome"] == "False"
    assert "Good" not in steps
    # The Fail step's message read the same document through the S3Uri form.
    assert described["FailureReason"] == "accuracy 0.91"


def test_steps_that_create_no_compute_are_recorded_and_succeed_under_the_local_runner(
    local_server: ServerProcess, name: str
) -> None:
    """Model, EndpointConfig and Endpoint steps create resources, not work: as on AWS they
    succeed at once, and a Lambda step is simulated, under every runner."""
    container = {"Image": "python:3", "ModelDataUrl": "s3://models/model.tar.gz"}
    steps = [
        {"Name": "Model", "Type": "Model",
         "Arguments": {"ExecutionRoleArn": ROLE, "PrimaryContainer": container}},
        {"Name": "Config", "Type": "EndpointConfig", "Arguments": {"ProductionVariants": [
            {"VariantName": "v", "ModelName": {"Get": "Steps.Model.ModelName"},
             "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}]}},
        {"Name": "Endpoint", "Type": "Endpoint", "Arguments": {
            "EndpointConfigName": {"Get": "Steps.Config.EndpointConfigName"}}},
        {"Name": "Notify", "Type": "Lambda",
         "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:notify",
         "Arguments": {"endpoint": {"Get": "Steps.Endpoint.EndpointArn"}}},
    ]  # fmt: skip
    sm = local_server.client()
    create(sm, name, steps)
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Succeeded"
    rows = steps_by_name(sm, arn)
    assert {n: r["StepStatus"] for n, r in rows.items()} == dict.fromkeys(
        ("Model", "Config", "Endpoint", "Notify"), "Succeeded"
    )
    model = rows["Model"]["Metadata"]["Model"]["Arn"].rsplit("/", 1)[1]
    assert sm.describe_model(ModelName=model)["PrimaryContainer"]["Image"] == "python:3"
    assert rows["Endpoint"]["Metadata"]["Endpoint"]["Arn"].startswith(
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint/"
    )
