"""Hostile signatures (docs/behaviour.md §14): a server run with --credentials gets requests
that were signed correctly and then had one signed part broken, or whose Authorization
header, scope, dates or signed-header list are drawn at random. None may pass, none may be a
5xx: each is a 400 with one of the authentication codes, and the server stays up.

Scale: SAGEPIPE_FUZZ_EXAMPLES=N draws N cases for each of the eleven kinds (default 80: 880
cases); SAGEPIPE_FUZZ_EXAMPLES=500 runs 5,500."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.wire import JSON_TYPE, Wire
from tests.support.clients import sign
from tests.support.pipelines import ROLE, definition, processing
from tests.support.server import ServerProcess

EXAMPLES = int(os.environ.get("SAGEPIPE_FUZZ_EXAMPLES", "80"))
KEY, SECRET, ACCOUNT = "AKIDFUZZ", "fuzz-secret", "333333333333"
AUTH_CODES = {
    "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
    "MissingAuthenticationTokenException",
}  # fmt: skip
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))  # fmt: skip
PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)
HEX = st.text("0123456789abcdef", min_size=64, max_size=64)
TOKEN = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=",/ ="),
                min_size=1, max_size=20)  # fmt: skip


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    root = tmp_path_factory.mktemp("auth-fuzz")
    path = root / "credentials.json"
    path.write_text(json.dumps({"credentials": [
        {"access_key": KEY, "secret_key": SECRET, "account": ACCOUNT}]}))  # fmt: skip
    server = ServerProcess(["--runner", "simulate", "--data-dir", str(root / "data"),
                            "--credentials", str(path)])  # fmt: skip
    server.start()
    connection = Wire(int(server.url.rsplit(":", 1)[1]))
    yield connection
    connection.close()
    # Nothing got through: no pipeline exists.
    assert server.proc is not None and server.proc.poll() is None, "the server died"
    server.stop()


def signed(port: int, body: bytes, *, at: datetime | None = None) -> dict[str, str]:
    """The headers of a correctly signed CreatePipeline."""
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body,
                         headers={"Content-Type": JSON_TYPE,
                                  "X-Amz-Target": "SageMaker.CreatePipeline"})  # fmt: skip
    return dict(sign(request, KEY, SECRET, at=at).headers.items())


def body_for(name: str) -> bytes:
    return json.dumps({"PipelineName": name, "RoleArn": ROLE, "ClientRequestToken": "t" * 32,
                       "PipelineDefinition": definition([processing("A")])}).encode()  # fmt: skip


def refused(wire: Wire, headers: dict[str, str], body: bytes) -> None:
    # http.client sends Host (127.0.0.1:<port>, as signed) and Content-Length itself.
    headers = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "host")}
    reply = wire.send("POST", "/", body, headers)
    assert reply.status == 400, reply.describe()
    assert reply.json().get("__type") in AUTH_CODES, reply.describe()


def with_auth(headers: dict[str, str], old: str, new: str) -> dict[str, str]:
    assert old in headers["Authorization"]
    return {**headers, "Authorization": headers["Authorization"].replace(old, new, 1)}


def test_a_correct_signature_passes(wire: Wire) -> None:
    """The cases below break one part of this: unbroken, it is served."""
    body = body_for("fuzz-ok")
    reply = wire.send("POST", "/", body, signed(wire.port, body))
    assert reply.status == 200, reply.describe()


@SETTINGS
@given(signature=HEX)
def test_a_wrong_signature(wire: Wire, signature: str) -> None:
    body = body_for("fuzz-a")
    headers = signed(wire.port, body)
    real = headers["Authorization"].rsplit("Signature=", 1)[1]
    if signature != real:
        refused(wire, with_auth(headers, "Signature=" + real, "Signature=" + signature), body)


@SETTINGS
@given(key=TOKEN)
def test_another_access_key(wire: Wire, key: str) -> None:
    body = body_for("fuzz-b")
    if key != KEY:
        refused(wire, with_auth(signed(wire.port, body), f"Credential={KEY}/", f"Credential={key}/"),
                body)  # fmt: skip


@SETTINGS
@given(date=st.text("0123456789", min_size=8, max_size=8))
def test_another_scope_date(wire: Wire, date: str) -> None:
    body = body_for("fuzz-c")
    headers = signed(wire.port, body)
    today = headers["X-Amz-Date"][:8]
    if date != today:
        refused(wire, with_auth(headers, f"/{today}/", f"/{date}/"), body)


@SETTINGS
@given(region=st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True))
def test_another_scope_region(wire: Wire, region: str) -> None:
    body = body_for("fuzz-d")
    if region != "us-east-1":
        refused(wire, with_auth(signed(wire.port, body), "/us-east-1/", f"/{region}/"), body)


@SETTINGS
@given(service=st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True))
def test_another_scope_service(wire: Wire, service: str) -> None:
    body = body_for("fuzz-e")
    if service != "sagemaker":
        refused(wire, with_auth(signed(wire.port, body), "/sagemaker/", f"/{service}/"), body)


@SETTINGS
@given(names=st.lists(st.sampled_from(["content-type", "host", "x-amz-date", "x-amz-target",
                                       "content-length", "accept", "x-other"]),
                      max_size=7, unique=True))  # fmt: skip
def test_another_signed_header_list(wire: Wire, names: list[str]) -> None:
    body = body_for("fuzz-f")
    headers = signed(wire.port, body)
    real = headers["Authorization"].split("SignedHeaders=", 1)[1].split(",", 1)[0]
    if sorted(names) != real.split(";"):
        chosen = ";".join(names)
        refused(wire, with_auth(headers, "SignedHeaders=" + real, "SignedHeaders=" + chosen), body)


@SETTINGS
@given(shift=st.integers(min_value=-(10**8), max_value=10**8))
def test_another_x_amz_date(wire: Wire, shift: int) -> None:
    body = body_for("fuzz-g")
    headers = signed(wire.port, body)
    at = datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ") + timedelta(seconds=shift)
    if shift and 1 <= at.year <= 9999:
        refused(wire, {**headers, "X-Amz-Date": at.strftime("%Y%m%dT%H%M%SZ")}, body)


@SETTINGS
@given(extra=st.binary(min_size=1, max_size=64))
def test_a_tampered_body(wire: Wire, extra: bytes) -> None:
    body = body_for("fuzz-h")
    refused(wire, signed(wire.port, body), body + extra)


@SETTINGS
@given(target=st.sampled_from(["SageMaker.DeletePipeline", "SageMaker.ListPipelines",
                               "Logs_20140328.GetLogEvents", "SageMaker.CreatePipelineX"]))  # fmt: skip
def test_a_tampered_signed_header(wire: Wire, target: str) -> None:
    body = body_for("fuzz-i")
    refused(wire, {**signed(wire.port, body), "X-Amz-Target": target}, body)


@SETTINGS
@given(authorization=st.one_of(
    st.text(PRINTABLE, max_size=300),
    st.builds(lambda a, b, c, d: f"AWS4-HMAC-SHA256 Credential={a}, SignedHeaders={b}, "
              f"Signature={c}{d}", TOKEN, TOKEN, HEX, st.text(PRINTABLE, max_size=5)),
))  # fmt: skip
def test_a_random_authorization_header(wire: Wire, authorization: str) -> None:
    body = body_for("fuzz-j")
    headers = signed(wire.port, body)
    headers["Authorization"] = authorization
    refused(wire, headers, body)


def test_nothing_was_created_by_a_refused_case(wire: Wire) -> None:
    body = json.dumps({}).encode()
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{wire.port}/", data=body,
                         headers={"Content-Type": JSON_TYPE,
                                  "X-Amz-Target": "SageMaker.ListPipelines"})  # fmt: skip
    SigV4Auth(Credentials(KEY, SECRET), "sagemaker", "us-east-1").add_auth(request)
    reply = wire.send("POST", "/", body, dict(request.headers.items()))
    names = [p["PipelineName"] for p in reply.json()["PipelineSummaries"]]
    assert set(names) <= {"fuzz-ok"}, names  # at most the correctly signed case's pipeline


@SETTINGS
@given(
    date=st.from_regex(r"\d{8}T\d{6}Z", fullmatch=True),
    expires=st.one_of(st.from_regex(r"\d{1,40}", fullmatch=True), st.text(PRINTABLE, max_size=8)),
    signed=st.text(PRINTABLE, max_size=30),
    signature=HEX,
)
def test_a_random_presigned_query(
    wire: Wire, date: str, expires: str, signed: str, signature: str
) -> None:
    query = urllib.parse.urlencode({
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Date": date, "X-Amz-Expires": expires,
        "X-Amz-Credential": f"{KEY}/{date[:8]}/us-east-1/sagemaker/aws4_request",
        "X-Amz-SignedHeaders": signed, "X-Amz-Signature": signature,
    })  # fmt: skip
    reply = wire.send("GET", f"/_sagepipe/executions/abc/attempts?{query}")
    assert reply.status == 400, reply.describe()
    assert reply.json().get("__type") in AUTH_CODES, reply.describe()
