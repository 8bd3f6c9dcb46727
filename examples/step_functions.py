#!/usr/bin/env python3
"""A pipeline of @step functions (SageMaker Python SDK v2), run for real by sagepipe.

    scripts/serve --images examples/images.json     # in one shell
    scripts/example step_functions                  # in another

Each decorated function is a training job that runs the SDK's own remote-function bootstrap:
the function and its arguments are pickled to S3, the job unpickles and runs them, and the
result goes back to S3. `generate` returns rows, `fit` fits a line to them (its argument is
`generate`'s return value), and a ConditionStep tests the slope `fit` returned.

A @step job needs a Python with the client's minor version and the same `sagemaker` line:
examples/images.json maps this example's image to .venv-sdk, the virtualenv scripts/example
runs it in. Without that mapping the step fails at once, saying what its environment lacks."""

from __future__ import annotations

import contextlib
import sys
import uuid

from common import ROLE, SDK_CONFIG, point_clients_at_sagepipe, print_steps

point_clients_at_sagepipe()

import boto3  # noqa: E402
from botocore.exceptions import WaiterError  # noqa: E402
from sagemaker.workflow.condition_step import ConditionStep  # noqa: E402
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo  # noqa: E402
from sagemaker.workflow.fail_step import FailStep  # noqa: E402
from sagemaker.workflow.function_step import step  # noqa: E402
from sagemaker.workflow.pipeline import Pipeline  # noqa: E402
from sagemaker.workflow.pipeline_context import PipelineSession  # noqa: E402

# examples/images.json maps this image to the SDK v2 virtualenv.
IMAGE = f"sagepipe-examples/sdk-v2-python:{sys.version_info.major}.{sys.version_info.minor}"


@step(name="Generate", role=ROLE, instance_type="ml.m5.large", image_uri=IMAGE)
def generate(count: int) -> list[tuple[float, float]]:
    import random

    rng = random.Random(3)
    return [(x, 2.0 * x + 1.0 + rng.gauss(0, 0.1)) for x in (i / count for i in range(count))]


@step(name="Fit", role=ROLE, instance_type="ml.m5.large", image_uri=IMAGE)
def fit(points: list[tuple[float, float]]) -> dict[str, float]:
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
        (x - mean_x) ** 2 for x, _ in points
    )
    return {"slope": slope, "intercept": mean_y - slope * mean_x}


def main() -> int:
    bucket = f"functions-{uuid.uuid4().hex[:8]}"
    boto_session = boto3.Session()
    boto_session.client("s3").create_bucket(Bucket=bucket)
    session = PipelineSession(boto_session=boto_session, default_bucket=bucket,
                              sagemaker_config=SDK_CONFIG)  # fmt: skip
    line = fit(generate(50))
    check = ConditionStep(
        name="SlopeNearTwo",
        conditions=[ConditionGreaterThanOrEqualTo(left=line["slope"], right=1.8)],
        if_steps=[],
        else_steps=[FailStep(name="WrongSlope", error_message="the fitted slope is off")],
    )
    pipeline = Pipeline(name=f"functions-{uuid.uuid4().hex[:6]}", steps=[check],
                        sagemaker_session=session)  # fmt: skip
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    print(f"started {execution.arn}; each function runs as a job of its own...")
    with contextlib.suppress(WaiterError):  # the waiter raises when the execution fails
        execution.wait(delay=2, max_attempts=300)
    status = execution.describe()["PipelineExecutionStatus"]
    print_steps(execution.list_steps())
    if status == "Succeeded":
        result = execution.result("Fit")
        print(f"Fit returned slope {result['slope']:.3f}, intercept {result['intercept']:.3f} "
              "(the data was y = 2x + 1 plus noise)")  # fmt: skip
    print(f"result: {status}")
    return 0 if status == "Succeeded" else 1


if __name__ == "__main__":
    raise SystemExit(main())
