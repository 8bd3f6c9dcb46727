"""The lambda runner's pure parts: a response's outputs in their declared types, and a
function error as the step's reason. (The calls themselves run against moto's Lambda API in
tests/acceptance/test_lambda_endpoint.py; a function that raises needs a real Lambda
runtime, which moto runs only under Docker, so here a client stands in for it.)"""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import pytest

from sagepipe.runners.lambdas import LambdaRunner, outputs_of
from sagepipe.runners.port import FAILED

DECLARED = [{"OutputName": "n", "OutputType": "Integer"}, {"OutputName": "f", "OutputType": "Float"},
            {"OutputName": "b", "OutputType": "Boolean"}, {"OutputName": "s"}]  # fmt: skip


def test_outputs_take_their_declared_types() -> None:
    raw = json.dumps({"n": "4", "f": 2, "b": "TRUE", "s": {"k": 1}, "other": 1}).encode()
    assert outputs_of(DECLARED, raw) == {"n": 4, "f": 2.0, "b": True, "s": '{"k": 1}'}
    assert outputs_of([], b"not json") == {}
    with pytest.raises(ValueError, match="'b' .'maybe'. is not of the declared type Boolean"):
        outputs_of(DECLARED, json.dumps({"n": 1, "f": 1, "b": "maybe", "s": ""}).encode())
    with pytest.raises(ValueError, match="not a JSON object"):
        outputs_of(DECLARED, b"[1]")
    with pytest.raises(ValueError, match="not JSON"):
        outputs_of(DECLARED, b"{")


class RaisingFunction:
    """What Lambda's Invoke answers when the function raised."""

    def invoke(self, **request: Any) -> dict[str, Any]:
        body = {"errorType": "KeyError", "errorMessage": "'dataset'", "stackTrace": []}
        return {"StatusCode": 200, "FunctionError": "Unhandled",
                "Payload": io.BytesIO(json.dumps(body).encode())}  # fmt: skip


def test_a_function_error_fails_the_step_with_the_functions_error() -> None:
    runner = LambdaRunner("http://127.0.0.1:1", client=RaisingFunction())
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    job = {"name": "j", "arn": arn, "arguments": {}, "started": time.time(),
           "top": {"OutputParameters": DECLARED}}  # fmt: skip

    async def run() -> Any:
        await runner.start(job)
        return await runner.wait(job)

    outcome = asyncio.run(run())
    assert outcome.status == FAILED and outcome.failure_type is None
    assert (
        outcome.failure_reason
        == f"ClientError: the Lambda function {arn} failed: KeyError: 'dataset'"
    )
