"""Callback messages reach the step's SQS queue at least once (docs/behaviour.md §6), including when the
queue is missing at first and when the server is killed before it could send (a real SQS API:
moto's standalone server)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support.pipelines import create
from tests.support.s3 import MotoServer, running_moto
from tests.support.server import ServerProcess
from tests.support.steps import QUEUE_URL, callback, poll, wait_done, wait_step

QUEUE_NAME = QUEUE_URL.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


@pytest.fixture
def sqs(moto: MotoServer) -> Iterator[Any]:
    client = boto3.client(
        "sqs",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield client
    with contextlib.suppress(client.exceptions.QueueDoesNotExist):
        client.delete_queue(QueueUrl=client.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"])


@pytest.fixture
def linked(server_args: list[str], moto: MotoServer) -> Iterator[ServerProcess]:
    """A sagepipe server that sends callback messages to moto's SQS, with short leases so
    undelivered messages come due within seconds."""
    process = ServerProcess(server_args, ["--sqs-endpoint-url", moto.url, "--lease-seconds", "1"])
    process.start()
    try:
        yield process
    finally:
        process.stop()


def received(sqs: Any, want: int = 1, timeout: float = 20) -> list[dict[str, Any]]:
    """Message bodies read from the queue until at least `want` have arrived."""
    url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    bodies: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return bodies

    return poll(f"{want} SQS message(s)", read, lambda got: len(got) >= want, timeout)


def token_of(sm: Any, arn: str) -> str:
    row = wait_step(sm, arn, "Ask", ("Executing",))
    return str(row["Metadata"]["Callback"]["CallbackToken"])


def test_the_message_carries_the_token_and_answering_it_completes_the_step(linked, sqs, name):
    sqs.create_queue(QueueName=QUEUE_NAME)
    sm = linked.client()
    create(sm, name, [callback("Ask", ["answer"], {"question": "ok?"})])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    token = token_of(sm, arn)
    (message,) = received(sqs)
    assert message == {"token": token, "arguments": {"question": "ok?"}, "status": "Executing"}
    sm.send_pipeline_execution_step_success(
        CallbackToken=message["token"], OutputParameters=[{"Name": "answer", "Value": "42"}]
    )
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"


def test_stopping_sends_a_stopping_message_for_the_waiting_callback(linked, sqs, name):
    sqs.create_queue(QueueName=QUEUE_NAME)
    sm = linked.client()
    create(sm, name, [callback("Ask", ["answer"])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    token = token_of(sm, arn)
    sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    messages = received(sqs, want=2)
    # Each message is sent on its own after its commit, and a standard queue keeps no order.
    assert sorted(m["status"] for m in messages) == ["Executing", "Stopping"]
    assert {m["token"] for m in messages} == {token}


def test_a_message_sqs_refused_is_sent_again_once_the_queue_exists(linked, sqs, name):
    sm = linked.client()
    create(sm, name, [callback("Ask", ["answer"])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    token = token_of(sm, arn)
    time.sleep(0.5)  # the first send has failed: there is no queue yet
    sqs.create_queue(QueueName=QUEUE_NAME)
    messages = received(sqs)
    assert {m["token"] for m in messages} == {token}
    assert any("will try again" in line for line in linked.output)


def test_a_message_unsent_when_the_server_was_killed_is_sent_after_restart(linked, sqs, name):
    sm = linked.client()
    create(sm, name, [callback("Ask", ["answer"])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    token = token_of(sm, arn)
    linked.kill()  # SIGKILL with the message still undelivered (no queue yet)
    sqs.create_queue(QueueName=QUEUE_NAME)
    linked.start()
    messages = received(sqs)
    assert {m["token"] for m in messages} == {token}
    sm = linked.client()
    sm.send_pipeline_execution_step_failure(CallbackToken=token, FailureReason="no")
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
