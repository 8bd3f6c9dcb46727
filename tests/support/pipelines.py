"""Pipeline definitions and waiting helpers shared by acceptance tests."""

from __future__ import annotations

import json
import time
from typing import Any

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def processing(name: str, depends_on: list[str] | None = None, **extra: Any) -> dict[str, Any]:
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
    step.update(extra)
    return step


def definition(steps: list[dict[str, Any]], parameters: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"Version": "2020-12-01", "Parameters": parameters or [], "Steps": steps})


def create(sm: Any, name: str, steps: list[dict[str, Any]], **kwargs: Any) -> str:
    return sm.create_pipeline(
        PipelineName=name, PipelineDefinition=definition(steps, kwargs.pop("parameters", None)),
        RoleArn=ROLE, **kwargs,
    )["PipelineArn"]  # fmt: skip


def wait_status(
    sm: Any, arn: str, timeout: float = 30, running: tuple[str, ...] = ("Executing", "Stopping")
) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if described["PipelineExecutionStatus"] not in running or time.time() > deadline:
            return described
        time.sleep(0.05)


def steps_by_name(sm: Any, arn: str) -> dict[str, dict[str, Any]]:
    rows = sm.get_paginator("list_pipeline_execution_steps").paginate(PipelineExecutionArn=arn)
    return {s["StepName"]: s for page in rows for s in page["PipelineExecutionSteps"]}
