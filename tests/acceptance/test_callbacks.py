"""Callback steps and SendPipelineExecutionStepSuccess/Failure (docs/behaviour.md §4, §6)."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.support.pipelines import create, processing, steps_by_name
from tests.support.steps import (
    arguments_of,
    callback,
    get,
    lambda_step,
    statuses,
    wait_done,
    wait_step,
)


def token_of(sm, arn: str, step: str) -> str:
    row = wait_step(sm, arn, step, ("Executing",))
    return str(row["Metadata"]["Callback"]["CallbackToken"])


def error_of(call) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception) as caught:
        call()
    error = caught.value.response["Error"]  # type: ignore[attr-defined]
    return error["Code"], error["Message"]


def consumer() -> dict:
    step = processing("Use", ["Ask"])
    step["Arguments"]["Environment"] = {"ANSWER": get("Steps.Ask.OutputParameters['answer']")}
    return step


def test_success_completes_the_step_and_its_outputs_flow_downstream(server, sm, name):
    create(sm, name, [callback("Ask", ["answer"], {"question": "ok?"}), consumer()])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    token = token_of(sm, arn, "Ask")
    row = steps_by_name(sm, arn)["Ask"]
    assert row["Metadata"]["Callback"]["SqsQueueUrl"].startswith("https://sqs.")
    time.sleep(0.3)  # nothing moves without the answer
    assert statuses(sm, arn) == {"Ask": "Executing"}
    response = sm.send_pipeline_execution_step_success(
        CallbackToken=token, OutputParameters=[{"Name": "answer", "Value": "42"}]
    )
    assert response["PipelineExecutionArn"] == arn
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    steps = steps_by_name(sm, arn)
    assert steps["Ask"]["StepStatus"] == "Succeeded"
    assert steps["Ask"]["Metadata"]["Callback"] == {
        "CallbackToken": token,
        "SqsQueueUrl": steps["Ask"]["Metadata"]["Callback"]["SqsQueueUrl"],
        "OutputParameters": [{"Name": "answer", "Value": "42"}],
    }
    assert arguments_of(server, arn, "Ask") == {"question": "ok?"}
    assert arguments_of(server, arn, "Use")["Environment"] == {"ANSWER": "42"}
    # The token answered its attempt: using it again is ResourceNotFound.
    code, _ = error_of(lambda: sm.send_pipeline_execution_step_success(CallbackToken=token))
    assert code == "ResourceNotFound"
    code, _ = error_of(
        lambda: sm.send_pipeline_execution_step_failure(CallbackToken=token, FailureReason="x")
    )
    assert code == "ResourceNotFound"


def test_failure_fails_the_step_and_the_execution(server, sm, name):
    create(sm, name, [callback("Ask", ["answer"]), consumer()])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    token = token_of(sm, arn, "Ask")
    sm.send_pipeline_execution_step_failure(CallbackToken=token, FailureReason="rejected by QA")
    described = wait_done(sm, arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "Step failure: One or multiple steps failed."
    steps = steps_by_name(sm, arn)
    assert set(steps) == {"Ask"}
    assert steps["Ask"]["StepStatus"] == "Failed"
    assert steps["Ask"]["FailureReason"] == "rejected by QA"


def test_unknown_tokens_and_idempotent_answers(server, sm, name):
    code, _ = error_of(
        lambda: sm.send_pipeline_execution_step_success(CallbackToken=uuid.uuid4().hex[:10])
    )
    assert code == "ResourceNotFound"
    create(sm, name, [callback("Ask", ["answer"]), consumer()])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    token = token_of(sm, arn, "Ask")
    request = uuid.uuid4().hex
    outputs = [{"Name": "answer", "Value": "yes"}]
    first = sm.send_pipeline_execution_step_success(
        CallbackToken=token, OutputParameters=outputs, ClientRequestToken=request
    )
    # A resent request (same ClientRequestToken, same body) gets the same answer...
    again = sm.send_pipeline_execution_step_success(
        CallbackToken=token, OutputParameters=outputs, ClientRequestToken=request
    )
    assert again["PipelineExecutionArn"] == first["PipelineExecutionArn"] == arn
    # ...the same ClientRequestToken with another body conflicts.
    code, _ = error_of(
        lambda: sm.send_pipeline_execution_step_success(
            CallbackToken=token,
            OutputParameters=[{"Name": "answer", "Value": "no"}],
            ClientRequestToken=request,
        )  # fmt: skip
    )
    assert code == "ConflictException"
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    assert arguments_of(server, arn, "Use")["Environment"] == {"ANSWER": "yes"}


def test_stop_waits_for_callback_answers_and_running_lambdas(server, sm, name):
    server.set_faults([{"pipeline": name, "step": "Lam", "duration_seconds": 1.0}])
    create(sm, name, [callback("Yes", ["a"]), callback("No", ["a"]), lambda_step("Lam", ["x"]),
                      processing("Never", ["Yes"])])  # fmt: skip
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    yes, no = token_of(sm, arn, "Yes"), token_of(sm, arn, "No")
    wait_step(sm, arn, "Lam", ("Executing",))
    sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    # The Lambda finishes; the Callback steps are Stopping until they are answered.
    assert wait_step(sm, arn, "Lam", ("Succeeded",), timeout=5)["StepStatus"] == "Succeeded"
    time.sleep(0.3)
    assert statuses(sm, arn) == {"Yes": "Stopping", "No": "Stopping", "Lam": "Succeeded"}
    assert (
        sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        == "Stopping"
    )
    code, message = error_of(lambda: sm.stop_pipeline_execution(PipelineExecutionArn=arn))
    assert (code, message) == (
        "ValidationException",
        "Only pipelines with 'Executing' status can be stopped",
    )
    sm.send_pipeline_execution_step_failure(CallbackToken=no, FailureReason="stopping")
    wait_step(sm, arn, "No", ("Stopped",))
    assert (
        sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        == "Stopping"
    )
    sm.send_pipeline_execution_step_success(CallbackToken=yes)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Stopped"
    # A step answered with success while stopping has succeeded; nothing new started.
    assert statuses(sm, arn) == {"Yes": "Succeeded", "No": "Stopped", "Lam": "Succeeded"}
