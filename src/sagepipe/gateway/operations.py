"""The SageMaker operations sagepipe serves (docs/behaviour.md §2) and the provider method for each."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

IN_SCOPE = (
    "CreatePipeline", "UpdatePipeline", "DescribePipeline", "DeletePipeline", "ListPipelines",
    "ListPipelineVersions", "UpdatePipelineVersion", "StartPipelineExecution",
    "DescribePipelineExecution", "ListPipelineExecutions", "ListPipelineExecutionSteps",
    "StopPipelineExecution", "RetryPipelineExecution", "UpdatePipelineExecution",
    "DescribePipelineDefinitionForExecution", "ListPipelineParametersForExecution",
    "SendPipelineExecutionStepSuccess", "SendPipelineExecutionStepFailure",
    "AddTags", "ListTags", "DeleteTags",
    "DescribeProcessingJob", "DescribeTrainingJob", "DescribeTransformJob",
    "ListProcessingJobs", "ListTrainingJobs", "ListTransformJobs",
    "StopProcessingJob", "StopTrainingJob", "StopTransformJob",
    "DescribeModel", "ListModels", "DeleteModel",
    "CreateModelPackageGroup", "DescribeModelPackageGroup", "ListModelPackageGroups",
    "DeleteModelPackageGroup", "DescribeModelPackage", "ListModelPackages",
    "UpdateModelPackage", "DeleteModelPackage",
)  # fmt: skip

# And CloudWatch Logs' three job-log operations, on the same port (target Logs_20140328.*).
LOGS_IN_SCOPE = ("DescribeLogStreams", "GetLogEvents", "FilterLogEvents")
SERVED = IN_SCOPE + LOGS_IN_SCOPE

Handler = Callable[..., Awaitable[dict[str, Any]]]


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def bind(providers: list[object]) -> dict[str, Handler]:
    """Map each served operation to the provider method named after it."""
    table: dict[str, Handler] = {}
    for operation in SERVED:
        method = snake_case(operation)
        owners = [p for p in providers if hasattr(p, method)]
        if len(owners) != 1:
            raise RuntimeError(f"{operation}: expected one provider with {method}()")
        table[operation] = getattr(owners[0], method)
    return table


def arguments(body: dict[str, Any]) -> dict[str, Any]:
    """Top-level members as snake_case keyword arguments (nested shapes stay as sent)."""
    return {snake_case(key): value for key, value in body.items()}
