"""The `lambda` runner: a Lambda step calls its function (docs/behaviour.md §8).

With `--lambda-endpoint-url URL`, a Lambda step invokes its FunctionArn there through the
Lambda API (boto3, signed with the server's AWS credentials), synchronously, with the step's
resolved Arguments as the event, as SageMaker does. The function's JSON response gives the
step's OutputParameters: each declared output is the response member of that name, converted
to its OutputType. Without the flag, Lambda steps stay simulated.

A call is never repeated behind the user's back: the client does not retry, and only a call
that never reached the endpoint is a Step.SERVICE_FAULT (which a RetryPolicy may retry); one
that got no answer may have run, so it fails with no retry type. Throttling is
Step.THROTTLING. A function error, or a response that does not give the declared outputs,
fails the step with its reason. Calls run in a pool of their own, so long functions hold up
nothing else. A Lambda step runs to its end (StopPipelineExecution waits for it); a call in
flight when its server went away is lost, and the step fails saying so."""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sagepipe.runners.port import FAILED, SUCCEEDED, Job, JobRequest, Outcome
from sagepipe.runners.properties import jsonable, simulated_properties, utc

THROTTLING, SERVICE_FAULT = "Step.THROTTLING", "Step.SERVICE_FAULT"
READ_TIMEOUT_S = 960  # above Lambda's own longest run (900 s)
MAX_CALLS = 32  # calls at once; more wait for a free thread
VALUE_LIMIT = 1024  # characters of an output parameter's Value (the API's limit)
INTEGER = re.compile(r"-?[0-9]+")


class LambdaRunner:
    name = "lambda"
    starts_at_once = True

    def __init__(self, endpoint_url: str, client: Any = None) -> None:
        self.endpoint_url = endpoint_url
        self._given = client  # a client to use for every region (tests)
        self._clients: dict[str, Any] = {}  # by region
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(MAX_CALLS, thread_name_prefix="sagepipe-lambda")
        self._calls: dict[str, asyncio.Future[Outcome]] = {}  # by job name (one per attempt)

    def prepare(self, request: JobRequest) -> Job:
        return {}

    async def start(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        self._calls[job["name"]] = loop.run_in_executor(self._pool, self._invoke, job)

    def poll(self, job: Job) -> Outcome | None:
        return None  # known only to `wait` (the engine polls before it starts a job)

    async def wait(self, job: Job) -> Outcome:
        name = job["name"]
        call = self._calls.get(name)
        if call is None:
            return Outcome.lost(
                f"InternalServerError: the call to the Lambda function {job.get('arn')} was in "
                "flight when its server stopped; its answer is lost. Retry the execution to "
                "call it again."
            )
        try:
            outcome = await asyncio.shield(call)
        except asyncio.CancelledError:  # the server let the execution go: the call ends alone
            call.add_done_callback(lambda _: self._calls.pop(name, None))
            raise
        self._calls.pop(name, None)
        return outcome

    async def stop(self, job: Job) -> None:
        return None  # a function runs to its end, as on SageMaker

    async def attach(self, job: Job) -> bool:
        return job["name"] in self._calls  # after a restart the call is gone: the step fails

    async def logs(self, job: Job) -> str:
        return ""

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ the call (a thread)
    def _invoke(self, job: Job) -> Outcome:
        arn = job.get("arn")
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            return Outcome(FAILED, f"ClientError: the Lambda step's FunctionArn ({arn!r:.200}) "
                           "is not a function ARN.")  # fmt: skip
        try:
            response = self._client(arn).invoke(
                FunctionName=arn, InvocationType="RequestResponse",
                Payload=json.dumps(job.get("arguments") or {}).encode(),
            )  # fmt: skip
            raw = response["Payload"].read() if response.get("Payload") is not None else b""
        except Exception as exc:  # noqa: BLE001 - every way a call fails becomes a reason
            return _failure(arn, self.endpoint_url, exc)
        if response.get("FunctionError"):
            return Outcome(FAILED, f"ClientError: the Lambda function {arn} failed: "
                           f"{_error_text(raw)}"[:1024])  # fmt: skip
        try:
            outputs = outputs_of(job["top"].get("OutputParameters") or [], raw)
        except ValueError as exc:
            return Outcome(FAILED, f"ClientError: the Lambda function {arn} answered, but {exc}")
        properties = simulated_properties(
            "Lambda", job.get("arguments") or {}, str(job["name"]), arn, step=job["top"],
            outputs=outputs, started=utc(job["started"]), ended=utc(time.time()),
        )  # fmt: skip
        return Outcome(SUCCEEDED, properties=jsonable(properties))

    def _client(self, arn: str) -> Any:
        """A Lambda client for the ARN's region, made once, with a session of its own
        (boto3's default session is not safe to share between threads)."""
        if self._given is not None:
            return self._given
        parts = arn.split(":")  # arn:aws:lambda:REGION:ACCOUNT:function:NAME
        region = parts[3] if len(parts) > 4 and parts[3] else "us-east-1"
        with self._lock:
            if region not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[region] = boto3.session.Session().client(
                    "lambda", endpoint_url=self.endpoint_url, region_name=region,
                    config=Config(read_timeout=READ_TIMEOUT_S, retries={"total_max_attempts": 1}),
                )  # fmt: skip
            return self._clients[region]


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
        value = _converted(document[name], kind)
        if value is None:
            shown = json.dumps(document[name])
            shown = shown if len(shown) <= 100 else shown[:97] + "..."
            raise ValueError(f"its '{name}' ({shown}) is not of the declared type {kind}")
        if len(str(value)) > VALUE_LIMIT:
            raise ValueError(
                f"its '{name}' is longer than the {VALUE_LIMIT} characters an output "
                "parameter holds"
            )
        outputs[name] = value
    return outputs


def _converted(value: Any, kind: str) -> Any:
    """`value` as an output of type `kind`, or None if it is not one. Strings are taken as
    they are and anything else as its JSON; numbers must be numbers (or their text), and
    whole for Integer; booleans true or false."""
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        text = str(value).lower() if isinstance(value, str) else ""
        return {"true": True, "false": False}.get(text)
    if kind == "Integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return int(value) if isinstance(value, str) and INTEGER.fullmatch(value) else None
    if kind == "Float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return None
        else:
            return None
        return number if math.isfinite(number) else None
    return value if isinstance(value, str) else json.dumps(value)  # String


def _error_text(raw: bytes) -> str:
    try:
        error = json.loads(raw)
        return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}".strip()
    except (ValueError, AttributeError):
        return raw.decode("utf-8", "replace")[:600]


def _failure(arn: str, endpoint_url: str, exc: Exception) -> Outcome:
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ParamValidationError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        kind = THROTTLING if code in ("TooManyRequestsException", "ThrottlingException") else (
            SERVICE_FAULT if status >= 500 else None)  # fmt: skip
        return Outcome(FAILED, f"ClientError: Lambda refused to invoke {arn}: {code}: {message}",
                       kind)  # fmt: skip
    if isinstance(exc, NoCredentialsError):
        return Outcome(
            FAILED,
            f"InternalServerError: the server has no AWS credentials to sign its call to {arn}; "
            "give it AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile) for the Lambda "
            "endpoint.",
        )
    if isinstance(exc, ParamValidationError):
        return Outcome(FAILED, f"ClientError: Lambda cannot be asked to invoke {arn}: {exc}")
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):  # nothing was sent
        return Outcome(
            FAILED,
            f"InternalServerError: the Lambda endpoint {endpoint_url} could not be reached to "
            f"invoke {arn}: {exc}. Check --lambda-endpoint-url.",
            SERVICE_FAULT,
        )
    # Sent, but no answer came (a read timeout, a dropped connection): the function may have
    # run, so no RetryPolicy runs it again.
    return Outcome(
        FAILED,
        f"InternalServerError: the call to the Lambda function {arn} at {endpoint_url} got no "
        f"answer ({exc}); the function may have run. Retry the execution to call it again.",
    )
