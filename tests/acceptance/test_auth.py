"""Authentication (docs/behaviour.md §14): with --credentials every request's SigV4 signature is
verified; each refusal is AWS's code, a 400, and changes nothing; two accounts do not see each
other's resources; without --credentials the server says it is open and will not listen
beyond loopback unless told to."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.clients import aws_sagemaker, sign
from tests.support.pipelines import create, processing
from tests.support.server import ServerProcess

KEYS = {
    "AKIDALICE": ("alice-secret", "111111111111"),
    "AKIDBOB": ("bob-secret", "222222222222"),
}


@pytest.fixture
def secured(tmp_path: Path, server_args: list[str]) -> Iterator[ServerProcess]:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"credentials": [
        {"access_key": k, "secret_key": s, "account": a} for k, (s, a) in KEYS.items()]}))  # fmt: skip
    server = ServerProcess([*server_args, "--credentials", str(path)])
    server.start()
    yield server
    server.stop()


def client(
    server: ServerProcess, key: str, secret: str | None = None, service: str = "sagemaker"
) -> Any:
    return boto3.client(
        service, endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=key,
        aws_secret_access_key=secret if secret is not None else KEYS[key][0],
        config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip


def send(server: ServerProcess, request: AWSRequest) -> tuple[int, dict[str, Any]]:
    parts = urllib.parse.urlsplit(request.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    connection.request(
        request.method, path, body=request.body, headers=dict(request.headers.items())
    )
    response = connection.getresponse()
    body = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, body


def api_request(server: ServerProcess, operation: str, body: dict[str, Any]) -> AWSRequest:
    return AWSRequest(
        method="POST", url=server.url + "/", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/x-amz-json-1.1",
                 "X-Amz-Target": f"SageMaker.{operation}"},
    )  # fmt: skip


def create_body(name: str) -> dict[str, Any]:
    from tests.support.pipelines import ROLE, definition

    return {"PipelineName": name, "PipelineDefinition": definition([processing("A")]),
            "RoleArn": ROLE, "ClientRequestToken": name.ljust(32, "0")}  # fmt: skip


def test_boto3_and_the_cli_work_with_the_right_keys_and_the_server_says_it_verifies(
    secured: ServerProcess, name: str
) -> None:
    ready = next(line for line in secured.output if " ready at " in line)
    assert "SigV4 verified: 2 key(s), 2 account(s)" in ready
    alice = client(secured, "AKIDALICE")
    arn = create(alice, name, [processing("A")])
    assert arn.startswith("arn:aws:sagemaker:us-east-1:111111111111:pipeline/")
    assert alice.describe_pipeline(PipelineName=name)["PipelineArn"] == arn
    listed = aws_sagemaker(secured.url, "AKIDALICE", "alice-secret")("list-pipelines")
    assert [p["PipelineName"] for p in listed["PipelineSummaries"]] == [name]
    # Health stays open, and says nothing but status and version.
    code, health = secured.extension("GET", "/_sagepipe/health")
    assert code == 200 and sorted(health) == ["status", "version"]


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "unknown key", "missing header", "expired date", "future date",
     "tampered body", "tampered header", "wrong service", "no host signed", "garbled header"],
)  # fmt: skip
def test_each_bad_signature_gets_its_aws_code_and_changes_nothing(
    secured: ServerProcess, name: str, case: str
) -> None:
    request = api_request(secured, "CreatePipeline", create_body(name))
    now = datetime.now(UTC)
    expected = "InvalidSignatureException"
    if case == "wrong secret":
        sign(request, "AKIDALICE", "not-the-secret")
    elif case == "unknown key":
        sign(request, "AKIDNOBODY", "alice-secret")
        expected = "UnrecognizedClientException"
    elif case == "missing header":
        expected = "MissingAuthenticationTokenException"
    elif case == "expired date":
        sign(request, "AKIDALICE", "alice-secret", at=now - timedelta(minutes=16))
    elif case == "future date":
        sign(request, "AKIDALICE", "alice-secret", at=now + timedelta(minutes=16))
    elif case == "tampered body":
        sign(request, "AKIDALICE", "alice-secret")
        request.data = json.dumps(create_body(name + "x")).encode()
    elif case == "tampered header":
        sign(request, "AKIDALICE", "alice-secret")
        request.headers.replace_header("X-Amz-Target", "SageMaker.DeletePipeline")
    elif case == "wrong service":
        sign(request, "AKIDALICE", "alice-secret", service="s3")
    elif case == "no host signed":
        sign(request, "AKIDALICE", "alice-secret")
        auth = request.headers["Authorization"].replace("host;", "")
        request.headers.replace_header("Authorization", auth)
        expected = "IncompleteSignatureException"
    elif case == "garbled header":
        request.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDALICE"
        request.headers["X-Amz-Date"] = now.strftime("%Y%m%dT%H%M%SZ")
        expected = "IncompleteSignatureException"
    status, body = send(secured, request)
    assert (status, body.get("__type")) == (400, expected), body
    assert body.get("message") or body.get("Message")
    # Nothing was created, under either name.
    alice = client(secured, "AKIDALICE")
    assert alice.list_pipelines()["PipelineSummaries"] == []


def test_a_correctly_signed_raw_request_is_served(secured: ServerProcess, name: str) -> None:
    """The same path as the refusals above, signed right: the refusals are the signature's."""
    status, body = send(secured, sign(api_request(secured, "CreatePipeline", create_body(name)),
                                      "AKIDALICE", "alice-secret"))  # fmt: skip
    assert status == 200, body
    assert body["PipelineArn"].endswith(f":111111111111:pipeline/{name}")


def test_two_accounts_do_not_see_each_others_resources(secured: ServerProcess, name: str) -> None:
    alice, bob = client(secured, "AKIDALICE"), client(secured, "AKIDBOB")
    arn = create(alice, name, [processing("A")])
    execution = alice.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert bob.list_pipelines()["PipelineSummaries"] == []
    for call, kwargs in [
        (bob.describe_pipeline, {"PipelineName": name}),
        (bob.describe_pipeline, {"PipelineName": arn}),
        (bob.start_pipeline_execution, {"PipelineName": name}),
        (bob.describe_pipeline_execution, {"PipelineExecutionArn": execution}),
        (bob.list_pipeline_execution_steps, {"PipelineExecutionArn": execution}),
        (bob.list_tags, {"ResourceArn": arn}),
    ]:
        with pytest.raises(ClientError) as error:
            call(**kwargs)
        with pytest.raises(ClientError) as unknown:  # exactly as for what does not exist
            call(**{k: v.replace(name, name + "-none") for k, v in kwargs.items()})
        assert error.value.response["Error"]["Code"] == unknown.value.response["Error"]["Code"]
    assert alice.describe_pipeline(PipelineName=name)["PipelineArn"] == arn


def test_a_presigned_get_reaches_the_extension_api(secured: ServerProcess, name: str) -> None:
    alice = client(secured, "AKIDALICE")
    create(alice, name, [processing("A")])
    execution = alice.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    url = f"{secured.url}/_sagepipe/executions/{execution.rsplit('/', 1)[1]}/attempts"
    unsigned = AWSRequest(method="GET", url=url)
    assert send(secured, unsigned)[1]["__type"] == "MissingAuthenticationTokenException"
    request = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(Credentials("AKIDALICE", "alice-secret"), "sagemaker", "us-east-1",
                   expires=60).add_auth(request)  # fmt: skip
    status, body = send(secured, AWSRequest(method="GET", url=request.url))
    assert status == 200 and "attempts" in body, body
    tampered = request.url.replace("X-Amz-Expires=60", "X-Amz-Expires=600")
    status, body = send(secured, AWSRequest(method="GET", url=tampered))
    assert (status, body["__type"]) == (400, "InvalidSignatureException")
    forever = request.url.replace("X-Amz-Expires=60", "X-Amz-Expires=" + "9" * 40)
    status, body = send(secured, AWSRequest(method="GET", url=forever))
    assert (status, body["__type"]) == (400, "IncompleteSignatureException")

    # Bob, signed right, finds Alice's execution as one that does not exist.
    exec_id = execution.rsplit("/", 1)[1]
    for route in ("attempts", "retry-plan", "steps/A/logs"):
        answers = []
        for which in (exec_id, "zzzzzzzzzzzz"):
            bob = sign(AWSRequest(method="GET", url=f"{secured.url}/_sagepipe/executions/"
                                  f"{which}/{route}"), "AKIDBOB", "bob-secret")  # fmt: skip
            status, body = send(secured, bob)
            answers.append((status, body["__type"], body["Message"].replace(which, "<id>")))
        assert answers[0] == answers[1] and answers[0][:2] == (400, "ResourceNotFound"), answers


def test_an_open_server_says_so_and_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    open_server = ServerProcess(["--runner", "simulate", "--data-dir", str(tmp_path / "a")])
    open_server.start()
    try:
        ready = next(line for line in open_server.output if " ready at " in line)
        assert "open: any access key is accepted" in ready
    finally:
        open_server.stop()
    refused = subprocess.run(
        [sys.executable, "-m", "sagepipe.cli", "serve", "--runner", "simulate", "--host",
         "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path / "b")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "without --credentials" in refused.stderr and "--allow-open" in refused.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"credentials": [{"access_key": "K", "secret_key": "S",
                                                 "account": "12"}]}))  # fmt: skip
    refused = subprocess.run(
        [sys.executable, "-m", "sagepipe.cli", "serve", "--runner", "simulate", "--credentials",
         str(bad), "--data-dir", str(tmp_path / "c")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1 and "account of 12 digits" in refused.stderr
