"""The lambda runner's own decisions: a response's outputs in their declared types, and each
way a call fails as a reason and a retry type. (The calls themselves run against moto's
Lambda API in tests/acceptance/test_lambda_endpoint.py. A function that raises, throttling,
a 5xx and a read timeout are what moto cannot produce without Docker or a slow function, so
here a client stands in for Lambda and raises botocore's own exceptions.)"""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from sagepipe.runners.lambdas import LambdaRunner, outputs_of
from sagepipe.runners.port import FAILED, Outcome

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
DECLARED = [{"OutputName": "n", "OutputType": "Integer"}, {"OutputName": "f", "OutputType": "Float"},
            {"OutputName": "b", "OutputType": "Boolean"}, {"OutputName": "s"}]  # fmt: skip


def outputs(**values: Any) -> dict[str, Any]:
    return outputs_of(
        DECLARED, json.dumps({"n": 1, "f": 1.5, "b": True, "s": "x", **values}).encode()
    )


def test_outputs_take_their_declared_types() -> None:
    assert outputs(n="4", f=2, b="TRUE", s={"k": 1}, other=1) == {
        "n": 4, "f": 2.0, "b": True, "s": '{"k": 1}'}  # fmt: skip
    assert outputs(n=3.0, f="0.25", s=True) == {"n": 3, "f": 0.25, "b": True, "s": "true"}
    assert outputs_of([], b"not json") == {}


@pytest.mark.parametrize(
    "values, wrong",
    [({"n": 3.7}, "'n' (3.7) is not of the declared type Integer"),
     ({"n": True}, "'n' (true) is not of the declared type Integer"),
     ({"n": "1_000"}, "'n' (\"1_000\") is not of the declared type Integer"),
     ({"f": "NaN"}, "'f' (\"NaN\") is not of the declared type Float"),
     ({"f": False}, "'f' (false) is not of the declared type Float"),
     ({"b": "maybe"}, "'b' (\"maybe\") is not of the declared type Boolean"),
     ({"s": "x" * 1025}, "'s' is longer than the 1024 characters")],
)  # fmt: skip
def test_a_value_not_of_its_type_is_refused_saying_which(values: dict, wrong: str) -> None:
    with pytest.raises(ValueError) as refused:
        outputs(**values)
    assert wrong in str(refused.value)


def test_a_response_that_is_no_json_object_is_refused() -> None:
    with pytest.raises(ValueError, match="not a JSON object"):
        outputs_of(DECLARED, b"[1]")
    with pytest.raises(ValueError, match="not JSON"):
        outputs_of(DECLARED, b"{")


class StandIn:
    """Lambda's Invoke, answering `response` or raising `error`."""

    def __init__(self, response: dict[str, Any] | None = None, error: Exception | None = None):
        self.response, self.error, self.calls = response, error, 0

    def invoke(self, **request: Any) -> dict[str, Any]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


def called(client: StandIn, arn: Any = ARN) -> Outcome:
    runner = LambdaRunner("http://127.0.0.1:1", client=client)
    job = {"name": "j", "arn": arn, "arguments": {}, "started": time.time(),
           "top": {"OutputParameters": DECLARED}}  # fmt: skip

    async def run() -> Outcome:
        await runner.start(job)
        return await runner.wait(job)

    try:
        return asyncio.run(run())
    finally:
        asyncio.run(runner.close())


def refused(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "Invoke")  # fmt: skip


def test_a_function_error_fails_the_step_with_the_functions_error() -> None:
    body = {"errorType": "KeyError", "errorMessage": "'dataset'", "stackTrace": []}
    outcome = called(StandIn({"StatusCode": 200, "FunctionError": "Unhandled",
                              "Payload": io.BytesIO(json.dumps(body).encode())}))  # fmt: skip
    assert outcome.status == FAILED and outcome.failure_type is None
    assert (
        outcome.failure_reason
        == f"ClientError: the Lambda function {ARN} failed: KeyError: 'dataset'"
    )


@pytest.mark.parametrize(
    "error, retry_type, reason",
    [(refused("TooManyRequestsException", 429), "Step.THROTTLING", "Lambda refused to invoke"),
     (refused("ServiceException", 500), "Step.SERVICE_FAULT", "Lambda refused to invoke"),
     (refused("ResourceNotFoundException", 404), None, "ResourceNotFoundException"),
     (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "Step.SERVICE_FAULT",
      "could not be reached"),
     (NoCredentialsError(), None, "no AWS credentials to sign"),
     # Sent, and no answer: the function may have run, so no policy runs it again.
     (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), None, "the function may have run")],
)  # fmt: skip
def test_each_way_a_call_fails_has_its_reason_and_retry_type(
    error: Exception, retry_type: str | None, reason: str
) -> None:
    client = StandIn(error=error)
    outcome = called(client)
    assert outcome.status == FAILED and outcome.failure_type == retry_type
    assert reason in str(outcome.failure_reason) and client.calls == 1  # never retried by itself


def test_a_step_without_a_function_arn_fails_without_a_call() -> None:
    client = StandIn(error=AssertionError("not called"))
    outcome = called(client, arn=None)
    assert (
        outcome.failure_reason
        == "ClientError: the Lambda step's FunctionArn (None) is not a function ARN."
    )
    assert outcome.failure_type is None and client.calls == 0
