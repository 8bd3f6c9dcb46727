"""@step functions of the SDK v2, run for real on the local runner: the SDK's own job_driver.sh,
bootstrap and invoke_function run inside the job sandbox, the pickled function, arguments and
results live in S3 where the SDK puts and looks for them, one function's return value feeds
the next (a DelayedReturn), a ConditionStep tests a returned value (Std:JsonGet with an S3Uri,
read by the engine from the object store), and `execution.result()` gives the real value.

The job's environment is this virtualenv (the same Python and sagemaker as the client, which
is what a @step job needs); PIP_NO_INDEX keeps the SDK's `pip install -r requirements -U` of
the job on what is installed. Real server, real S3 API (moto's server), real processes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sdk import SDK_CONFIG, sdk_missing

if sdk_missing("2"):
    pytest.skip(str(sdk_missing("2")), allow_module_level=True)

import boto3  # noqa: E402
from sagemaker.workflow.condition_step import ConditionStep  # noqa: E402
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo  # noqa: E402
from sagemaker.workflow.fail_step import FailStep  # noqa: E402
from sagemaker.workflow.function_step import step  # noqa: E402
from sagemaker.workflow.parameters import ParameterInteger  # noqa: E402
from sagemaker.workflow.pipeline import Pipeline  # noqa: E402
from sagemaker.workflow.pipeline_context import PipelineSession  # noqa: E402

from tests.support.jobenv import job_environment  # noqa: E402
from tests.support.s3 import MotoServer  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
IMAGE = f"example.local/python-sagemaker:{PYTHON}"  # mapped to this virtualenv
BARE_IMAGE = "example.local/python-bare:1"  # mapped to a virtualenv without sagemaker


@pytest.fixture
def local_server(
    s3_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerProcess]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.url)  # where the SDK uploads the pickles
    images = tmp_path / "images.json"
    images.write_text(json.dumps({"images": [
        {"match": IMAGE, "venv": sys.prefix, "environment": {"PIP_NO_INDEX": "1"}},
        {"match": BARE_IMAGE, "venv": str(job_environment("cloudpickle"))},
    ]}))  # fmt: skip
    server = ServerProcess(
        ["--data-dir", str(tmp_path / "data"), "--runner", "local", "--s3-endpoint-url",
         s3_server.url, "--images", str(images)]
    )  # fmt: skip
    server.start()
    try:
        yield server
    finally:
        server.stop()


def session_for(server: ServerProcess, bucket: str) -> PipelineSession:
    boto_session = boto3.Session(region_name=REGION, **KEYS)
    boto_session.client("s3").create_bucket(Bucket=bucket)
    return PipelineSession(
        boto_session=boto_session,
        sagemaker_client=boto_session.client("sagemaker", endpoint_url=server.url),
        default_bucket=bucket,
        sagemaker_config=SDK_CONFIG,
    )


def test_step_functions_pass_values_and_a_condition_tests_a_returned_value(
    local_server: ServerProcess, s3_server: MotoServer
) -> None:
    session = session_for(local_server, "functions")
    count = ParameterInteger("Count", default_value=5)

    # Nested, so cloudpickle pickles them by value as it does a notebook's functions.
    @step(name="Make", role=ROLE, instance_type="ml.m5.large", image_uri=IMAGE)
    def make(n: int) -> list[int]:
        return [i * i for i in range(n)]

    @step(name="Summarise", role=ROLE, instance_type="ml.m5.large", image_uri=IMAGE)
    def summarise(values: list[int]) -> dict[str, float]:
        return {"total": sum(values), "mean": sum(values) / len(values)}

    summary = summarise(make(count))
    check = ConditionStep(
        name="BigEnough",
        conditions=[ConditionGreaterThanOrEqualTo(left=summary["total"], right=10)],
        if_steps=[],
        else_steps=[FailStep(name="TooSmall", error_message="the total is below 10")],
    )
    built = Pipeline(name="squares", parameters=[count], steps=[check], sagemaker_session=session)
    built.upsert(role_arn=ROLE)

    execution = built.start()
    execution.wait(delay=1, max_attempts=300)
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert {n: s["StepStatus"] for n, s in steps.items()} == {
        "Make": "Succeeded", "Summarise": "Succeeded", "BigEnough": "Succeeded"
    }  # fmt: skip
    assert steps["BigEnough"]["Metadata"]["Condition"]["Outcome"] == "True"
    assert execution.result("Make") == [0, 1, 4, 9, 16]
    assert execution.result("Summarise") == {"total": 30, "mean": 6.0}
    # The results are where the SDK writes them: <s3 root>/<execution id>/<step>/results.
    exec_id = execution.arn.rsplit("/", 1)[1]
    s3 = boto3.client("s3", endpoint_url=s3_server.url, region_name=REGION, **KEYS)
    key = f"squares/{exec_id}/Summarise/results/results.json"
    document = json.loads(s3.get_object(Bucket="functions", Key=key)["Body"].read())
    assert document["Result"] == {"total": 30, "mean": 6.0}
    # The job's log is the SDK's own bootstrap and invocation.
    _, logs = local_server.extension("GET", f"/_sagepipe/executions/{exec_id}/steps/Make/logs")
    assert "Invoking remote function" in logs["logs"]

    # A count whose total is too small takes the other branch.
    small = built.start(parameters={"Count": 2})
    with pytest.raises(Exception):  # noqa: B017 - the SDK's waiter raises on a failed run
        small.wait(delay=1, max_attempts=300)
    steps = {s["StepName"]: s for s in small.list_steps()}
    assert steps["BigEnough"]["Metadata"]["Condition"]["Outcome"] == "False"
    assert steps["TooSmall"]["StepStatus"] == "Failed"
    assert small.describe()["FailureReason"] == "the total is below 10"
    assert small.result("Summarise") == {"total": 1, "mean": 0.5}


def test_a_step_function_job_without_the_sdk_fails_up_front_saying_what_to_install(
    local_server: ServerProcess,
) -> None:
    session = session_for(local_server, "bare")

    @step(name="Hello", role=ROLE, instance_type="ml.m5.large", image_uri=BARE_IMAGE)
    def hello() -> str:
        return "hello"

    built = Pipeline(name="bare", steps=[hello()], sagemaker_session=session)
    built.upsert(role_arn=ROLE)
    execution = built.start()
    with pytest.raises(Exception):  # noqa: B017 - the SDK's waiter raises on a failed run
        execution.wait(delay=1, max_attempts=120)
    (hello_step,) = execution.list_steps()
    reason = hello_step["FailureReason"]
    assert hello_step["StepStatus"] == "Failed"
    assert reason.startswith("ClientError: this @step function's job needs Python ")
    assert "has no sagemaker" in reason and "pip install sagemaker==2." in reason, reason
    # Refused before it ran: the SDK's bootstrap never started.
    exec_id = execution.arn.rsplit("/", 1)[1]
    _, logs = local_server.extension("GET", f"/_sagepipe/executions/{exec_id}/steps/Hello/logs")
    assert "Bootstraping runtime environment" not in logs.get("logs", "")
