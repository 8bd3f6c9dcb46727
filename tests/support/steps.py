"""Step builders for every step type the engine tests use, and polling helpers.

Builders return step objects as the SageMaker Python SDK serialises them; `processing` lives
in tests.support.pipelines. Polling helpers never sleep a fixed time: they poll until a
predicate holds or a timeout passes, and fail with what they last saw."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.support.pipelines import ROLE, steps_by_name
from tests.support.server import ServerProcess

T = TypeVar("T")
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/queue"


def get(path: str) -> dict[str, str]:
    return {"Get": path}


def join(on: str, *values: Any) -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def _common(step: dict[str, Any], depends_on: list[Any] | None, extra: dict[str, Any]) -> dict:
    if depends_on:
        step["DependsOn"] = depends_on
    step.update(extra)
    return step


def training(
    name: str, s3_input: Any, depends_on: list[Any] | None = None, **extra: Any
) -> dict[str, Any]:
    arguments = {
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": s3_input,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/models"},
        "ResourceConfig": {
            "InstanceCount": 1,
            "InstanceType": "ml.m5.xlarge",
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    return _common({"Name": name, "Type": "Training", "Arguments": arguments}, depends_on, extra)


def model(
    name: str, model_data: Any, environment: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    container: dict[str, Any] = {"Image": IMAGE, "ModelDataUrl": model_data}
    if environment:
        container["Environment"] = environment
    arguments = {"ExecutionRoleArn": ROLE, "PrimaryContainer": container}
    return _common({"Name": name, "Type": "Model", "Arguments": arguments}, None, extra)


def lambda_step(
    name: str, outputs: list[str], arguments: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    step = {
        "Name": name,
        "Type": "Lambda",
        "FunctionArn": FUNCTION_ARN,
        "OutputParameters": [{"OutputName": o, "OutputType": "String"} for o in outputs],
        "Arguments": arguments or {},
    }
    return _common(step, None, extra)


def callback(
    name: str, outputs: list[str], arguments: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    step = {
        "Name": name,
        "Type": "Callback",
        "SqsQueueUrl": QUEUE_URL,
        "OutputParameters": [{"OutputName": o, "OutputType": "String"} for o in outputs],
        "Arguments": arguments or {},
    }
    return _common(step, None, extra)


def condition(
    name: str,
    conditions: list[dict[str, Any]],
    if_steps: list[dict[str, Any]],
    else_steps: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    arguments = {"Conditions": conditions, "IfSteps": if_steps, "ElseSteps": else_steps}
    return _common({"Name": name, "Type": "Condition", "Arguments": arguments}, None, extra)


def fail(name: str, message: Any, depends_on: list[Any] | None = None) -> dict[str, Any]:
    return _common(
        {"Name": name, "Type": "Fail", "Arguments": {"ErrorMessage": message}}, depends_on, {}
    )


def retry_policy(exception: str = "SageMaker.JOB_INTERNAL_ERROR", **fields: Any) -> dict:
    return {"ExceptionType": [exception], **fields}


# ---------------------------------------------------------------------------------- polling


def poll(what: str, probe: Callable[[], T], ok: Callable[[T], bool], timeout: float = 15) -> T:
    """`probe()` until `ok` holds for its value; fail naming `what` and the last value."""
    deadline = time.time() + timeout
    while True:
        value = probe()
        if ok(value):
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {value!r}")
        time.sleep(0.03)


def wait_step(sm: Any, arn: str, step: str, statuses: tuple[str, ...], timeout: float = 15) -> dict:
    """The step's row once its StepStatus is one of `statuses`."""
    steps = poll(
        f"step {step} in {statuses}",
        lambda: steps_by_name(sm, arn),
        lambda rows: step in rows and rows[step]["StepStatus"] in statuses,
        timeout,
    )
    return steps[step]


def wait_done(sm: Any, arn: str, timeout: float = 30) -> dict[str, Any]:
    """DescribePipelineExecution once the execution has left Executing/Stopping."""
    return poll(
        f"execution {arn} to end",
        lambda: sm.describe_pipeline_execution(PipelineExecutionArn=arn),
        lambda d: d["PipelineExecutionStatus"] not in ("Executing", "Stopping"),
        timeout,
    )


def statuses(sm: Any, arn: str) -> dict[str, str]:
    return {name: row["StepStatus"] for name, row in steps_by_name(sm, arn).items()}


def execution_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def attempts(server: ServerProcess, arn: str) -> list[dict[str, Any]]:
    """The attempt history (docs/behaviour.md §9), oldest first."""
    status, body = server.extension("GET", f"/_sagepipe/executions/{execution_id(arn)}/attempts")
    assert status == 200, body
    return list(body["attempts"])


def attempts_of(server: ServerProcess, arn: str, step: str) -> list[dict[str, Any]]:
    return [a for a in attempts(server, arn) if a["step"] == step]


def arguments_of(server: ServerProcess, arn: str, step: str) -> dict[str, Any]:
    """The resolved Arguments of the step's latest attempt."""
    tried = attempts_of(server, arn, step)
    assert tried, f"step {step} has no attempt"
    return dict(tried[-1]["arguments"])


def start(sm: Any, name: str, **parameters: Any) -> str:
    """StartPipelineExecution with `parameters` given as strings."""
    given = [{"Name": k, "Value": str(v)} for k, v in parameters.items()]
    return str(
        sm.start_pipeline_execution(PipelineName=name, PipelineParameters=given)[
            "PipelineExecutionArn"
        ]
    )
