"""Lambda steps under --lambda-endpoint-url (docs/behaviour.md §8) call their function through
a real Lambda API: moto's standalone server, which runs no function code here (that needs
Docker) but answers each Invoke with the next response queued through its moto-api, or with
the event itself when none is queued. So: the step's resolved Arguments are the event, the
function's JSON response gives the declared OutputParameters in their types, a Condition
reads them, and a response without a declared output, or an endpoint that cannot be reached,
fails the step with a reason a RetryPolicy can match."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support.pipelines import create, steps_by_name
from tests.support.s3 import MotoServer, free_port, running_moto
from tests.support.server import ServerProcess
from tests.support.steps import condition, fail, get, retry_policy, start, wait_done

SCORED = [{"OutputName": "score", "OutputType": "Float"},
          {"OutputName": "label", "OutputType": "String"},
          {"OutputName": "rounds", "OutputType": "Integer"},
          {"OutputName": "ok", "OutputType": "Boolean"}]  # fmt: skip
PARAMETERS = [{"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5}]


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


@pytest.fixture
def function_arn(moto: MotoServer) -> str:
    """A function of a fresh moto (no responses left queued by another test)."""
    _moto_api(moto, "reset", {})
    _moto_api(moto, "config", {"lambda": {"use_docker": False}})

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto.url, region_name="us-east-1",
                            aws_access_key_id=moto.access_key,
                            aws_secret_access_key=moto.secret_key)  # fmt: skip

    role = client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("score.py", "def handler(event, context):\n    return event\n")
    return str(client("lambda").create_function(
        FunctionName="score", Runtime="python3.11", Role=role, Handler="score.handler",
        Code={"ZipFile": code.getvalue()})["FunctionArn"])  # fmt: skip


@pytest.fixture
def invoking(
    server_args: list[str], moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerProcess]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    process = ServerProcess(server_args, ["--lambda-endpoint-url", moto.url])
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _moto_api(moto: MotoServer, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{moto.url}/moto-api/{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10):
        pass


def answers(moto: MotoServer, *responses: Any) -> None:
    """The function's next responses, in order."""
    _moto_api(moto, "static/lambda-simple/response",
              {"results": [json.dumps(r) for r in responses], "region": "us-east-1"})  # fmt: skip


def scored_pipeline(function_arn: str, arguments: dict[str, Any], **extra: Any) -> list[dict]:
    score = {"Name": "Score", "Type": "Lambda", "FunctionArn": function_arn,
             "OutputParameters": SCORED, "Arguments": arguments, **extra}  # fmt: skip
    good_enough = {"Type": "GreaterThanOrEqualTo",
                   "LeftValue": get("Steps.Score.OutputParameters['score']"),
                   "RightValue": get("Parameters.Threshold")}  # fmt: skip
    return [score, condition("Check", [good_enough], [], [fail("TooLow", "the score is low")])]


def test_a_lambda_step_invokes_its_function_and_a_condition_reads_its_typed_outputs(
    invoking: ServerProcess, moto: MotoServer, function_arn: str, name: str
) -> None:
    sm = invoking.client()
    create(sm, name, scored_pipeline(function_arn, {"dataset": "s3://b/d.csv"}),
           parameters=PARAMETERS)  # fmt: skip
    answers(moto, {"score": 0.91, "label": "good", "rounds": 3, "ok": True, "extra": [1]})
    described = wait_done(sm, start(sm, name))
    assert described["PipelineExecutionStatus"] == "Succeeded", described
    steps = steps_by_name(sm, described["PipelineExecutionArn"])
    assert steps["Score"]["Metadata"]["Lambda"] == {"Arn": function_arn, "OutputParameters": [
        {"Name": "score", "Value": "0.91"}, {"Name": "label", "Value": "good"},
        {"Name": "rounds", "Value": "3"}, {"Name": "ok", "Value": "true"}]}  # fmt: skip
    assert steps["Check"]["Metadata"] == {"Condition": {"Outcome": "True"}}


def test_the_event_is_the_steps_resolved_arguments(
    invoking: ServerProcess, function_arn: str, name: str
) -> None:
    # Nothing queued: moto's function answers with its event, so the outputs are the
    # Arguments as resolved, and the low score takes the Condition's else branch.
    sm = invoking.client()
    arguments = {"score": get("Parameters.Threshold"), "label": "from-arguments",
                 "rounds": 7, "ok": "false"}  # fmt: skip
    create(sm, name, scored_pipeline(function_arn, arguments), parameters=PARAMETERS)
    described = wait_done(sm, start(sm, name, Threshold=0.25))
    steps = steps_by_name(sm, described["PipelineExecutionArn"])
    assert steps["Score"]["Metadata"]["Lambda"]["OutputParameters"] == [
        {"Name": "score", "Value": "0.25"}, {"Name": "label", "Value": "from-arguments"},
        {"Name": "rounds", "Value": "7"}, {"Name": "ok", "Value": "false"}]  # fmt: skip
    assert steps["Check"]["Metadata"] == {"Condition": {"Outcome": "True"}}  # 0.25 >= 0.25
    assert described["PipelineExecutionStatus"] == "Succeeded"


def test_a_response_without_a_declared_output_fails_the_step_saying_which(
    invoking: ServerProcess, moto: MotoServer, function_arn: str, name: str
) -> None:
    sm = invoking.client()
    create(sm, name, scored_pipeline(function_arn, {}), parameters=PARAMETERS)
    answers(moto, {"score": 0.9, "label": "good", "rounds": "three", "ok": True})
    described = wait_done(sm, start(sm, name))
    assert described["PipelineExecutionStatus"] == "Failed"
    reason = steps_by_name(sm, described["PipelineExecutionArn"])["Score"]["FailureReason"]
    assert reason == (f"ClientError: the Lambda function {function_arn} answered, but its "
                      "'rounds' (\"three\") is not of the declared type Integer")  # fmt: skip
    answers(moto, {"score": 0.9})
    described = wait_done(sm, start(sm, name))
    reason = steps_by_name(sm, described["PipelineExecutionArn"])["Score"]["FailureReason"]
    assert reason.endswith("its response has no 'label', an output the step declares"), reason


def test_an_endpoint_that_cannot_be_reached_is_a_service_fault_a_retry_policy_matches(
    server_args: list[str], function_arn: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    process = ServerProcess(
        server_args, ["--lambda-endpoint-url", f"http://127.0.0.1:{free_port()}"]
    )
    process.start()
    try:
        sm = process.client()
        policy = retry_policy("Step.SERVICE_FAULT", IntervalSeconds=1, MaxAttempts=1)
        create(sm, name, scored_pipeline(function_arn, {}, RetryPolicies=[policy]),
               parameters=PARAMETERS)  # fmt: skip
        described = wait_done(sm, start(sm, name))
        score = steps_by_name(sm, described["PipelineExecutionArn"])["Score"]
        assert score["StepStatus"] == "Failed" and score["AttemptCount"] == 2, score
        assert (
            score["FailureReason"].startswith(
                "InternalServerError: the Lambda endpoint http://127.0.0.1:"
            )
            and "Check --lambda-endpoint-url" in score["FailureReason"]
        )
        assert sm.list_pipelines()["PipelineSummaries"]  # the API is up
    finally:
        process.stop()
