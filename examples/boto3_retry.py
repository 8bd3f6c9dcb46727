#!/usr/bin/env python3
"""Fail a step, then resume the execution with RetryPipelineExecution - boto3 only.

Run a server on the simulate runner first (`scripts/serve --runner simulate`: the fault rules
below decide the steps' outcomes; the default local runner would run their code), then:

    SAGEPIPE_URL=http://127.0.0.1:8080 python examples/boto3_retry.py

The pipeline is Prepare -> Train -> Evaluate. A fault rule (PUT /_sagepipe/faults) makes the
first attempt of Train fail, so the execution ends Failed; the retry re-runs Train only
(Prepare's result is reused) and the execution ends Succeeded, under the same ARN.
Needs only boto3 (`pip install boto3`)."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
import uuid

import boto3

URL = os.environ.get("SAGEPIPE_URL", "http://127.0.0.1:8080").rstrip("/")
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo:latest"

sm = boto3.client(
    "sagemaker",
    endpoint_url=URL,
    region_name="us-east-1",
    aws_access_key_id="test",  # any key: sagepipe maps unknown keys to account 123456789012
    aws_secret_access_key="test",
)


def processing(name: str, depends_on: list[str]) -> dict:
    return {
        "Name": name,
        "Type": "Processing",
        "DependsOn": depends_on,
        "Arguments": {
            "AppSpecification": {"ImageUri": IMAGE},
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.xlarge",
                    "VolumeSizeInGB": 30,
                }
            },
            "RoleArn": ROLE,
        },
    }


TRAIN = {
    "Name": "Train",
    "Type": "Training",
    "DependsOn": ["Prepare"],
    "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://demo-bucket/models"},
        "ResourceConfig": {
            "InstanceCount": 1,
            "InstanceType": "ml.m5.xlarge",
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "RoleArn": ROLE,
    },
}
DEFINITION = {
    "Version": "2020-12-01",
    "Steps": [processing("Prepare", []), TRAIN, processing("Evaluate", ["Train"])],
}


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


def wait(arn: str, timeout: float = 60) -> str:
    """Poll until the execution leaves Executing/Stopping; return its status."""
    deadline = time.monotonic() + timeout
    while True:
        status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        if status not in ("Executing", "Stopping"):
            return status
        if time.monotonic() > deadline:
            sys.exit(f"timed out: {arn} is still {status}")
        time.sleep(0.2)


def show_steps(arn: str) -> None:
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn, SortOrder="Ascending")
    for step in steps["PipelineExecutionSteps"]:
        reason = f"  ({step['FailureReason']})" if step.get("FailureReason") else ""
        print(
            f"  {step['StepName']:<9} {step['StepStatus']:<10} attempts={step['AttemptCount']}{reason}"
        )


def main() -> int:
    name = f"boto3-retry-{uuid.uuid4().hex[:8]}"
    sm.create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(DEFINITION), RoleArn=ROLE)
    print(f"created pipeline {name} at {URL}")

    # The first attempt of Train fails, as a real capacity error would.
    add_faults(
        [
            {
                "pipeline": name,
                "step": "Train",
                "fail_attempts": 1,
                "exception_type": "SageMaker.CAPACITY_ERROR",
                "failure_reason": "CapacityError: not enough ml.m5.xlarge capacity",
            }
        ]
    )
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    print(f"started {arn}")
    status = wait(arn)
    print(f"execution {status}")
    show_steps(arn)
    if status != "Failed":
        print(f"expected Failed, got {status}")
        return 1

    # Resume in place: same ARN, Prepare reused, Train re-run, Evaluate run for the first time.
    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=str(uuid.uuid4()))
    print("retried")
    status = wait(arn)
    show_steps(arn)
    print(f"result: {status}")
    return 0 if status == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
