#!/usr/bin/env python3
"""Fail a step, then resume the execution - with the SageMaker Python SDK v2.

Run a server on the simulate runner first (`scripts/serve --runner simulate`: fault rules
decide the steps' outcomes), then, in a virtualenv with the `sdk` extra
(`pip install -e '.[sdk]'`, see docs/clients.md):

    SAGEPIPE_URL=http://127.0.0.1:8080 python examples/sdk_retry.py

The pipeline is built with the SDK's own classes: a Processing step whose PropertyFile feeds a
Condition (JsonGet), a Training step in its if-branch and a Fail step in its else-branch.
A fault rule supplies the property file and makes the first attempt of Train fail; the SDK's
waiter sees Failed; sagemaker-core's PipelineExecution.retry() resumes the execution in place
and it ends Succeeded, with only Train re-run. Nothing talks to AWS: every S3 location is
explicit (no default bucket, no code upload) and the SDK's telemetry is opted out."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
import uuid

URL = os.environ.get("SAGEPIPE_URL", "http://127.0.0.1:8080").rstrip("/")
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"  # a full ARN: the SDK never asks IAM
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo:latest"

# sagemaker-core creates its own boto3 clients and takes no endpoint URL: boto3 finds it here.
os.environ["AWS_ENDPOINT_URL_SAGEMAKER"] = URL
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

import boto3  # noqa: E402
from botocore.exceptions import WaiterError  # noqa: E402
from sagemaker.estimator import Estimator  # noqa: E402
from sagemaker.inputs import TrainingInput  # noqa: E402
from sagemaker.processing import ProcessingOutput, ScriptProcessor  # noqa: E402
from sagemaker.workflow.condition_step import ConditionStep  # noqa: E402
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo  # noqa: E402
from sagemaker.workflow.fail_step import FailStep  # noqa: E402
from sagemaker.workflow.functions import JsonGet  # noqa: E402
from sagemaker.workflow.parameters import ParameterFloat  # noqa: E402
from sagemaker.workflow.pipeline import Pipeline  # noqa: E402
from sagemaker.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.workflow.properties import PropertyFile  # noqa: E402
from sagemaker.workflow.steps import ProcessingStep, TrainingStep  # noqa: E402
from sagemaker_core.main.resources import PipelineExecution  # noqa: E402

boto_session = boto3.Session(
    aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
)
sagemaker_client = boto_session.client("sagemaker", endpoint_url=URL)
session = PipelineSession(
    boto_session=boto_session,
    sagemaker_client=sagemaker_client,
    # Opt out of the SDK's telemetry (an STS call and an HTTPS request to AWS per create/start).
    sagemaker_config={
        "SchemaVersion": "1.0",
        "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
    },
)


def build(name: str) -> Pipeline:
    min_accuracy = ParameterFloat("MinAccuracy", default_value=0.8)
    processor = ScriptProcessor(
        role=ROLE,
        image_uri=IMAGE,
        command=["python3"],
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
    )
    report = PropertyFile(name="Report", output_name="report", path="report.json")
    prepare = ProcessingStep(
        name="Prepare",
        step_args=processor.run(
            code="s3://demo-bucket/code/prepare.py",  # already in S3: nothing is uploaded
            outputs=[
                ProcessingOutput(
                    output_name="report",
                    source="/opt/ml/processing/report",
                    destination="s3://demo-bucket/report",
                )
            ],
        ),
        property_files=[report],
    )
    estimator = Estimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        output_path="s3://demo-bucket/models",
        sagemaker_session=session,
    )
    data = prepare.properties.ProcessingOutputConfig.Outputs["report"].S3Output.S3Uri
    train = TrainingStep(
        name="Train", step_args=estimator.fit(inputs={"train": TrainingInput(s3_data=data)})
    )
    check = ConditionStep(
        name="GoodEnough",
        conditions=[
            ConditionGreaterThanOrEqualTo(
                left=JsonGet(step_name="Prepare", property_file=report, json_path="accuracy"),
                right=min_accuracy,
            )
        ],
        if_steps=[train],
        else_steps=[FailStep(name="TooLow", error_message="accuracy too low")],
    )
    return Pipeline(
        name=name, parameters=[min_accuracy], steps=[prepare, check], sagemaker_session=session
    )


def add_faults(rules: list[dict]) -> None:
    """Add rules to the simulate runner's fault rules (sagepipe's extension API, not AWS).
    PUT replaces the whole list, so keep the rules already there."""
    with urllib.request.urlopen(f"{URL}/_sagepipe/faults", timeout=10) as response:
        current = json.load(response)["rules"]
    body = json.dumps({"rules": current + rules}).encode()
    request = urllib.request.Request(f"{URL}/_sagepipe/faults", data=body, method="PUT")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def show_steps(execution) -> None:
    for step in sorted(execution.list_steps(), key=lambda s: s["StartTime"]):
        reason = f"  ({step['FailureReason']})" if step.get("FailureReason") else ""
        print(
            f"  {step['StepName']:<10} {step['StepStatus']:<10} "
            f"attempts={step['AttemptCount']}{reason}"
        )


def main() -> int:
    name = f"sdk-retry-{uuid.uuid4().hex[:8]}"
    pipeline = build(name)
    pipeline.upsert(role_arn=ROLE, description="sagepipe SDK example")
    print(f"upserted pipeline {name} at {URL}")
    add_faults(
        [
            # The JSON document Prepare "wrote" for its PropertyFile.
            {"pipeline": name, "step": "Prepare", "property_files": {"Report": {"accuracy": 0.9}}},
            # The first attempt of Train fails.
            {
                "pipeline": name,
                "step": "Train",
                "fail_attempts": 1,
                "exception_type": "SageMaker.CAPACITY_ERROR",
                "failure_reason": "CapacityError: not enough ml.m5.xlarge capacity",
            },
        ]
    )
    execution = pipeline.start(parameters={"MinAccuracy": 0.85})
    print(f"started {execution.arn}")
    try:
        execution.wait(delay=1, max_attempts=60)
    except WaiterError as error:  # the SDK's waiter raises on Failed
        print(f"waiter: {error}")
    status = execution.describe()["PipelineExecutionStatus"]
    print(f"execution {status}")
    show_steps(execution)
    if status != "Failed":
        print(f"expected Failed, got {status}")
        return 1

    # sagemaker-core resumes it in place (boto3's retry_pipeline_execution works the same).
    core = PipelineExecution.get(execution.arn, session=boto_session, region=REGION)
    core.retry(client_request_token=str(uuid.uuid4()), session=boto_session, region=REGION)
    print("retried with sagemaker-core")
    execution.wait(delay=1, max_attempts=60)
    status = execution.describe()["PipelineExecutionStatus"]
    show_steps(execution)
    print(f"result: {status}")
    return 0 if status == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
