"""The `lambda` runner: a Lambda step calls its function (docs/behaviour.md §8).

With `--lambda-endpoint-url URL`, a Lambda step invokes its FunctionArn there through the
Lambda API (boto3, signed with the server's AWS credentials), synchronously, with the step's
resolved Arguments as the event, as SageMaker does. The function's JSON response gives the
step's OutputParameters: each declared output is the response member of that name, converted
to its OutputType. Without the flag, Lambda steps stay simulated.

An invocation is not retried by the client (a retry could run the function twice); a failure
is classified so that RetryPolicies can match it: throttling is Step.THROTTLING, an endpoint
that cannot be reached or answers 5xx is Step.SERVICE_FAULT, and a function error or a
response that does not give the declared outputs fails the step with its reason. A Lambda
step runs to its end (StopPipelineExecution waits for it); an invocation in flight when the
server went away is lost, and the step fails saying so."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

from sagepipe.runners.port import FAILED, SUCCEEDED, Job, JobRequest, Outcome
from sagepipe.runners.properties import jsonable, simulated_properties

THROTTLING, SERVICE_FAULT = "Step.THROTTLING", "Step.SERVICE_FAULT"
INVOKE_TIMEOUT_S = 900  # Lambda's own longest run
CONVERT = {"String": str, "Integer": int, "Float": float, "Boolean": None}  # None: below


class LambdaRunner:
    name = "lambda"
    starts_at_once = True

    def __init__(self, endpoint_url: str, client: Any = None) -> None:
        self.endpoint_url = endpoint_url
        self._client = client
        self._calls: dict[str, asyncio.Task[Outcome]] = {}  # by job name (one per attempt)

    def prepare(self, request: JobRequest) -> Job:
        return {}

    async def start(self, job: Job) -> None:
        self._calls[job["name"]] = asyncio.create_task(self._invoke(job))

    def poll(self, job: Job) -> Outcome | None:
        call = self._calls.get(job["name"])
        return call.result() if call is not None and call.done() else None

    async def wait(self, job: Job) -> Outcome:
        call = self._calls.get(job["name"])
        if call is None:
            return Outcome(FAILED, _LOST.format(job.get("arn")), SERVICE_FAULT)
        try:
            return await asyncio.shield(call)
        finally:
            if call.done():
                self._calls.pop(job["name"], None)

    async def stop(self, job: Job) -> None:
        return None  # a function runs to its end, as on SageMaker

    async def attach(self, job: Job) -> bool:
        return job["name"] in self._calls  # after a restart the call is gone: the step fails

    async def logs(self, job: Job) -> str:
        return ""

    async def close(self) -> None:
        for call in self._calls.values():
            call.cancel()

    # ------------------------------------------------------------------ the call
    async def _invoke(self, job: Job) -> Outcome:
        arn = str(job.get("arn") or "")
        payload = json.dumps(job.get("arguments") or {})
        try:
            response = await asyncio.to_thread(self._call, arn, payload)
        except Exception as exc:  # noqa: BLE001 - every way a call fails becomes a reason
            return _failure(arn, self.endpoint_url, exc)
        body = response.get("Payload")
        raw = body.read() if body is not None else b""
        if response.get("FunctionError"):
            return Outcome(FAILED, f"ClientError: the Lambda function {arn} failed: "
                           f"{_error_text(raw)}"[:1024])  # fmt: skip
        try:
            outputs = outputs_of(job["top"].get("OutputParameters") or [], raw)
        except ValueError as exc:
            return Outcome(FAILED, f"ClientError: the Lambda function {arn} answered, but {exc}")
        properties = simulated_properties(
            "Lambda", job.get("arguments") or {}, str(job["name"]), arn, step=job["top"],
            outputs=outputs, started=_utc(job["started"]), ended=_utc(time.time()),
        )  # fmt: skip
        return Outcome(SUCCEEDED, properties=jsonable(properties))

    def _call(self, arn: str, payload: str) -> dict[str, Any]:
        response: dict[str, Any] = self._lambda(arn).invoke(
            FunctionName=arn, InvocationType="RequestResponse", Payload=payload.encode()
        )
        return response

    def _lambda(self, arn: str) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            parts = arn.split(":")
            region = parts[3] if len(parts) > 4 and parts[3] else "us-east-1"
            self._client = boto3.client(
                "lambda", endpoint_url=self.endpoint_url, region_name=region,
                config=Config(read_timeout=INVOKE_TIMEOUT_S, retries={"total_max_attempts": 1}),
            )  # fmt: skip
        return self._client


def outputs_of(declared: list[Any], raw: bytes) -> dict[str, Any]:
    """{output name: value} from a function's JSON response, each converted to its declared
    OutputType; ValueError says what is missing or wrong."""
    if not declared:
        return {}
    try:
        document = json.loads(raw or b"null")
    except ValueError:
        raise ValueError("its response is not JSON, and the step declares outputs") from None
    if not isinstance(document, dict):
        raise ValueError("its response is not a JSON object, and the step declares outputs")
    outputs: dict[str, Any] = {}
    for output in declared:
        if not isinstance(output, dict) or "OutputName" not in output:
            continue
        name, kind = output["OutputName"], output.get("OutputType", "String")
        if name not in document:
            raise ValueError(f"its response has no '{name}', an output the step declares")
        outputs[name] = _converted(document[name], kind, name)
    return outputs


def _converted(value: Any, kind: str, name: str) -> Any:
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
    elif kind in CONVERT and not isinstance(value, (dict, list)):
        try:
            return CONVERT[kind](value)  # type: ignore[misc]
        except (TypeError, ValueError):
            pass
    else:
        return json.dumps(value) if kind == "String" else value
    raise ValueError(f"its '{name}' ({value!r}) is not of the declared type {kind}")


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(epoch), dt.UTC)


def _error_text(raw: bytes) -> str:
    try:
        error = json.loads(raw)
        return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}".strip()
    except (ValueError, AttributeError):
        return raw.decode("utf-8", "replace")[:600]


def _failure(arn: str, endpoint_url: str, exc: Exception) -> Outcome:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        kind = THROTTLING if code in ("TooManyRequestsException", "ThrottlingException") else (
            SERVICE_FAULT if status >= 500 else None)  # fmt: skip
        return Outcome(FAILED, f"ClientError: Lambda refused to invoke {arn}: {code}: {message}",
                       kind)  # fmt: skip
    return Outcome(
        FAILED,
        f"InternalServerError: the Lambda endpoint {endpoint_url} could not be reached to "
        f"invoke {arn}: {exc}. Check --lambda-endpoint-url.",
        SERVICE_FAULT,
    )


_LOST = (
    "InternalServerError: the call to the Lambda function {} was in flight when the server "
    "stopped; its answer is lost. Retry the execution to call it again."
)
