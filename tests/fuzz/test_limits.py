"""Hostile input: the protective limits answer clearly, over real HTTP to a real server.

- request body size: 413 RequestEntityTooLarge whose message says what to do;
- definition size: PipelineDefinition > 1 MB is the model's ValidationException;
- pagination: MaxResults is 1..100, default pages hold at most 100 items, walks end;
- deep JSON: a 4xx that names the nesting limit, never a crash;
- very large definitions (20,000 steps): accepted or refused clearly, in bounded time, and the
  server stays responsive while such an execution runs;
- no model pattern can be made slow (no regex blow-up on adversarial strings).
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.fuzz.wire import JSON_TYPE, SHAPE_MESSAGE, Reply, Wire, check_reply
from tests.support.pipelines import ROLE, definition, processing
from tests.support.server import ServerProcess, database_args, require_pg

MAX_BODY = 4 * 1024 * 1024  # Config.max_body_bytes
MAX_DEFINITION = 1_048_576  # the model's PipelineDefinition max length
STALL = 2.0  # seconds a health check may wait while the heaviest work here runs
HANG = 30.0  # beyond this, the server is taken to hang
BACKENDS = os.environ.get("SAGEPIPE_FUZZ_BACKENDS", "sqlite,postgres").split(",")


class Limits:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.wire = Wire(server.port)
        self.sm = server.client()

    def call(self, operation: str, body: Any, *, raw: bytes | None = None) -> tuple[Reply, Any]:
        data = raw if raw is not None else json.dumps(body).encode()
        reply = self.wire.api(operation, data)
        answer = check_reply(reply, operation, f"{operation} {data[:300]!r}")
        return reply, answer

    def error(self, operation: str, body: Any = None, *, raw: bytes | None = None) -> Any:
        reply, answer = self.call(operation, body, raw=raw)
        assert reply.status != 200, f"{operation} succeeded: {reply.describe()}"
        return answer

    def ok(self, operation: str, body: Any) -> Any:
        reply, answer = self.call(operation, body)
        assert reply.status == 200, reply.describe()
        return answer

    def create(self, name: str, text: str) -> tuple[Reply, Any]:
        return self.call(
            "CreatePipeline",
            {"PipelineName": name, "PipelineDefinition": text, "RoleArn": ROLE,
             "ClientRequestToken": str(uuid.uuid4())},
        )  # fmt: skip

    def start(self, name: str) -> str:
        body = {"PipelineName": name, "ClientRequestToken": str(uuid.uuid4())}
        return str(self.ok("StartPipelineExecution", body)["PipelineExecutionArn"])

    def wait_end(self, arn: str, timeout: float = 60) -> str:
        deadline = time.time() + timeout
        while True:
            status = self.ok("DescribePipelineExecution", {"PipelineExecutionArn": arn})[
                "PipelineExecutionStatus"
            ]
            if status not in ("Executing", "Stopping") or time.time() > deadline:
                return str(status)
            time.sleep(0.1)

    def pages(self, operation: str, params: dict[str, Any], key: str) -> list[list[Any]]:
        pages, token = [], None
        for _ in range(10_000):
            body = self.ok(operation, {**params, **({"NextToken": token} if token else {})})
            pages.append(body[key])
            token = body.get("NextToken")
            if not token:
                return pages
        raise AssertionError(f"{operation}: pagination never ends")

    def alive(self) -> None:
        assert self.server.proc is not None and self.server.proc.poll() is None
        self.wire.healthy()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def limits(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limits]:  # fmt: skip
    backend = str(request.param)
    if backend not in BACKENDS:
        pytest.skip(f"SAGEPIPE_FUZZ_BACKENDS={','.join(BACKENDS)}")
    if backend == "postgres":
        require_pg()
    with database_args(backend, tmp_path_factory) as args:
        server = ServerProcess(args, ["--max-running-executions", "1000", "--log-level", "error"])
        server.start()
        try:
            yield Limits(server)
        finally:
            server.stop()


def _name() -> str:
    return "lim-" + uuid.uuid4().hex[:10]


# ------------------------------------------------------------------------ body size


def test_request_body_over_the_limit_is_413_with_advice(limits: Limits) -> None:
    answer = limits.error("ListPipelines", raw=b" " * (MAX_BODY + 1))
    assert answer["__type"] == "RequestEntityTooLarge"
    message = answer["Message"]
    assert str(MAX_BODY) in message and "PipelineDefinitionS3Location" in message, message
    limits.alive()


def test_request_body_at_the_limit_is_read(limits: Limits) -> None:
    reply, _ = limits.call("ListPipelines", None, raw=b"{}" + b" " * (MAX_BODY - 2))
    assert reply.status == 200


def test_chunked_body_over_the_limit_is_413(limits: Limits) -> None:
    """No Content-Length to refuse up front: the limit holds while the body streams in."""
    conn = http.client.HTTPConnection("127.0.0.1", limits.server.port, timeout=30)

    def chunks() -> Iterator[bytes]:
        for _ in range(6):
            yield b" " * (1024 * 1024)

    conn.request(
        "POST", "/", body=chunks(), encode_chunked=True,
        headers={"Content-Type": JSON_TYPE, "X-Amz-Target": "SageMaker.ListPipelines",
                 "Transfer-Encoding": "chunked"},
    )  # fmt: skip
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 413, body
    assert body["__type"] == "RequestEntityTooLarge"
    assert response.getheader("x-amzn-ErrorType") == "RequestEntityTooLarge"
    limits.alive()


def test_boto3_reads_the_413(limits: Limits) -> None:
    """botocore checks no max length client-side: the server's 413 reaches the caller as a
    ClientError with the code and the advice."""
    with pytest.raises(ClientError) as caught:
        limits.sm.create_pipeline(
            PipelineName=_name(), RoleArn=ROLE, PipelineDefinition=definition([processing("A")]),
            PipelineDescription="d" * (MAX_BODY + 1),
        )  # fmt: skip
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Code"] == "RequestEntityTooLarge"
    assert "PipelineDefinitionS3Location" in error["Error"]["Message"]


# ---------------------------------------------------------------------- definitions


def _padded_definition(size: int) -> str:
    text = definition([processing("A")])
    return text + " " * (size - len(text))  # trailing blanks: still the same JSON


def test_definition_of_exactly_one_megabyte_is_accepted(limits: Limits) -> None:
    name, text = _name(), _padded_definition(MAX_DEFINITION)
    arn = limits.sm.create_pipeline(PipelineName=name, PipelineDefinition=text, RoleArn=ROLE)[
        "PipelineArn"
    ]
    described = limits.sm.describe_pipeline(PipelineName=arn)
    assert described["PipelineDefinition"] == text


def test_definition_over_one_megabyte_is_the_models_validation_error(limits: Limits) -> None:
    text = _padded_definition(MAX_DEFINITION + 1)
    with pytest.raises(ClientError) as caught:
        limits.sm.create_pipeline(PipelineName=_name(), PipelineDefinition=text, RoleArn=ROLE)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    message = error["Message"]
    assert message.startswith("1 validation error detected: Value '"), message[:300]
    assert message.endswith(
        "at 'pipelineDefinition' failed to satisfy constraint: Member must have length less "
        "than or equal to 1048576"
    ), message[-300:]
    assert len(message) < 1000, "the offending value is quoted in full"
    # The same for UpdatePipeline.
    name = _name()
    limits.sm.create_pipeline(
        PipelineName=name, PipelineDefinition=definition([processing("A")]), RoleArn=ROLE
    )
    with pytest.raises(ClientError) as caught:
        limits.sm.update_pipeline(PipelineName=name, PipelineDefinition=text)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def _b36(i: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        out, i = digits[i % 36] + out, i // 36
        if not i:
            return out


def _many_steps(n: int, *, chain: bool, kind: str = "Processing") -> str:
    steps: list[dict[str, Any]] = []
    for i in range(n):
        step: dict[str, Any] = {"Name": _b36(i), "Type": kind}
        if chain and i:
            step["DependsOn"] = [_b36(i - 1)]
        steps.append(step)
    return json.dumps({"Version": "2020-12-01", "Steps": steps}, separators=(",", ":"))


def _health_latency(limits: Limits, seconds: float) -> float:
    """The slowest health check over `seconds`, on a connection of its own."""
    wire, slowest, deadline = Wire(limits.server.port), 0.0, time.time() + seconds
    while time.time() < deadline:
        started = time.monotonic()
        wire.healthy()
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.05)
    wire.close()
    return slowest


def test_twenty_thousand_independent_steps_run_in_bounded_time(limits: Limits) -> None:
    name, text = _name(), _many_steps(20_000, chain=False)
    assert len(text) <= MAX_DEFINITION
    reply, answer = limits.create(name, text)
    assert reply.seconds < 10
    if reply.status != 200:  # refusing is allowed, if it says why
        assert answer["__type"] == "ValidationException" and "definition" in answer["Message"]
        return
    arn = limits.start(name)
    assert _health_latency(limits, 1.0) < HANG, "the API hangs while the execution runs"
    assert limits.wait_end(arn, timeout=120) == "Succeeded"
    # The first pages of its 20,000 steps (each page costs a parse of the whole definition,
    # so the full walk of 200 pages is left to the 150-step pipeline below).
    seen: list[str] = []
    params: dict[str, Any] = {"PipelineExecutionArn": arn, "MaxResults": 100}
    for _ in range(3):
        reply, page = limits.call("ListPipelineExecutionSteps", params)
        assert reply.status == 200 and reply.seconds < 2.0, reply.describe()
        assert len(page["PipelineExecutionSteps"]) == 100
        seen += [step["StepName"] for step in page["PipelineExecutionSteps"]]
        params["NextToken"] = page["NextToken"]
    assert len(set(seen)) == 300


def test_a_chain_of_twenty_thousand_steps_runs_or_stops_in_bounded_time(limits: Limits) -> None:
    name, text = _name(), _many_steps(20_000, chain=True, kind="EMR")
    assert len(text) <= MAX_DEFINITION
    reply, answer = limits.create(name, text)
    assert reply.seconds < 10
    if reply.status != 200:
        assert answer["__type"] == "ValidationException" and "definition" in answer["Message"]
        return
    arn = limits.start(name)
    assert _health_latency(limits, 1.0) < HANG, "the API hangs while the execution runs"
    stop = {"PipelineExecutionArn": arn, "ClientRequestToken": str(uuid.uuid4())}
    reply, answer = limits.call("StopPipelineExecution", stop)
    assert reply.status == 200 or "Only pipelines with 'Executing' status" in answer["Message"]
    assert limits.wait_end(arn, timeout=60) in ("Stopped", "Succeeded")


@pytest.mark.parametrize("chain", [True, False], ids=["chain", "independent"])
def test_the_api_stays_responsive_while_a_huge_execution_runs(limits: Limits, chain: bool) -> None:
    name = _name()
    limits.create(name, _many_steps(20_000, chain=chain, kind="EMR"))
    arn = limits.start(name)
    try:
        assert _health_latency(limits, 3.0) < STALL
    finally:
        limits.call(
            "StopPipelineExecution",
            {"PipelineExecutionArn": arn, "ClientRequestToken": str(uuid.uuid4())},
        )
        limits.wait_end(arn, timeout=60)


@pytest.mark.parametrize(
    "text, words",
    [
        ("[" * 100_000 + "]" * 100_000, "nests deeper than"),
        (definition([{**processing("A"), "Arguments": {"X": json.loads("[" * 200 + "]" * 200)}}]),
         "nests deeper than"),
        (_many_steps(15_000, chain=True).replace('"Name":"0"', '"Name":"0","DependsOn":["2"]', 1),
         "dependency cycle between steps: "),
        (_many_steps(15_000, chain=False).replace('"Name":"1"', '"Name":"0"'),
         "duplicate step name(s): 0."),
        (_many_steps(15_000, chain=True).replace('"DependsOn":["0"]', '"DependsOn":["zzzz"]'),
         "zzzz"),
    ],
    ids=["100k-levels", "200-levels-in-arguments", "cycle-in-15k-steps", "duplicate-name",
         "unknown-reference"],
)  # fmt: skip
def test_large_broken_definitions_are_refused_clearly_and_quickly(
    limits: Limits, text: str, words: str
) -> None:
    reply, answer = limits.create(_name(), text)
    assert reply.status == 400 and reply.seconds < 10, reply.describe()
    assert answer["__type"] == "ValidationException"
    message = answer["Message"]
    assert message.startswith("Invalid pipeline definition") and words in message, message[:500]
    if "cycle" in words:  # the three steps of the cycle, and only they
        assert sorted(message.split(": ")[-1].rstrip(".").split(" -> ")[:3]) == ["0", "1", "2"]
    assert len(message) < 2000, f"a {len(message)}-character message"
    limits.alive()


@pytest.mark.parametrize(
    "text",
    [
        _many_steps(15_000, chain=True).replace('"Name":"0"', '"Name":"0","DependsOn":["bk7"]', 1),
        json.dumps({"Version": "2020-12-01",
                    "Steps": [{"Name": f"S{i % 5000}", "Type": "EMR"} for i in range(10_000)]}),
    ],
    ids=["cycle-through-15k-steps", "5k-duplicate-names"],
)  # fmt: skip
def test_messages_about_huge_definitions_stay_short(limits: Limits, text: str) -> None:
    reply, answer = limits.create(_name(), text)
    assert reply.status == 400 and answer["__type"] == "ValidationException"
    assert len(answer["Message"]) < 2000, f"a {len(answer['Message'])}-character message"


# ------------------------------------------------------------------------ pagination

LISTS = {
    "ListPipelines": {},
    "ListPipelineVersions": {"PipelineName": "NAME"},
    "ListPipelineExecutions": {"PipelineName": "MANY"},
    "ListPipelineExecutionSteps": {"PipelineExecutionArn": "EXEC"},
    "ListPipelineParametersForExecution": {"PipelineExecutionArn": "EXEC"},
}


@pytest.fixture(scope="module")
def big(limits: Limits) -> dict[str, str]:
    """A pipeline with 106 versions, 150 parameters and 150 steps (one execution), another
    with 105 executions, and 105 more pipelines."""
    name, many = "lim-big", "lim-many"
    parameters = [{"Name": f"P{i}", "Type": "String", "DefaultValue": "v"} for i in range(150)]
    steps = [{"Name": f"S{i}", "Type": "Processing", "Arguments": {}} for i in range(150)]
    limits.create(name, definition(steps, parameters))
    for n in range(104):
        text = definition([*steps, processing(f"Extra{n}")], parameters)
        limits.ok("UpdatePipeline", {"PipelineName": name, "PipelineDefinition": text})
    text = definition(steps, parameters)
    limits.ok("UpdatePipeline", {"PipelineName": name, "PipelineDefinition": text})
    execution = limits.start(name)
    limits.create(many, definition([processing("A")]))
    executions = [limits.start(many) for _ in range(105)]
    for arn in [execution, *executions]:
        assert limits.wait_end(arn) == "Succeeded"
    for i in range(105):
        limits.create(f"lim-page-{i:03d}", definition([processing("A")]))
    return {"NAME": name, "MANY": many, "EXEC": execution}


def _params(operation: str, big: dict[str, str]) -> dict[str, Any]:
    return {k: big[v] for k, v in LISTS[operation].items()}


@pytest.mark.parametrize("operation", LISTS)
def test_max_results_above_100_is_a_validation_error(
    limits: Limits, big: dict[str, str], operation: str
) -> None:
    for value, constraint in [
        (101, "Member must have value less than or equal to 100"),
        (0, "Member must have value greater than or equal to 1"),
    ]:
        answer = limits.error(operation, {**_params(operation, big), "MaxResults": value})
        assert answer["__type"] == "ValidationException"
        assert SHAPE_MESSAGE.match(answer["Message"])
        assert (
            f"Value '{value}' at 'maxResults' failed to satisfy constraint: {constraint}"
            in (answer["Message"])
        )


@pytest.mark.parametrize("operation", LISTS)
def test_default_pages_hold_at_most_100_and_walks_visit_each_item_once(
    limits: Limits, big: dict[str, str], operation: str
) -> None:
    key = {
        "ListPipelines": "PipelineSummaries",
        "ListPipelineVersions": "PipelineVersionSummaries",
        "ListPipelineExecutions": "PipelineExecutionSummaries",
        "ListPipelineExecutionSteps": "PipelineExecutionSteps",
        "ListPipelineParametersForExecution": "PipelineParameters",
    }[operation]
    ident = {
        "ListPipelines": "PipelineArn",
        "ListPipelineVersions": "PipelineVersionId",
        "ListPipelineExecutions": "PipelineExecutionArn",
        "ListPipelineExecutionSteps": "StepName",
        "ListPipelineParametersForExecution": "Name",
    }[operation]
    expected = {
        "ListPipelineVersions": 106,
        "ListPipelineExecutions": 105,
        "ListPipelineExecutionSteps": 150,
        "ListPipelineParametersForExecution": 150,
    }.get(operation)
    params = _params(operation, big)
    first = limits.ok(operation, params)
    assert len(first[key]) <= 100
    assert "NextToken" in first, f"{operation}: more than 100 items, yet no NextToken"
    pages = limits.pages(operation, params, key)
    ids = [item[ident] for page in pages for item in page]
    assert len(ids) == len(set(ids)), f"{operation}: an item on two pages"
    if expected is not None:
        assert len(ids) == expected
    else:
        assert len(ids) >= 105
    full = limits.ok(operation, {**params, "MaxResults": 100})
    assert len(full[key]) == 100


def test_list_tags_pages_are_bounded_whatever_max_results(limits: Limits, big: dict[str, str]) -> None:  # fmt: skip
    arn = limits.ok("DescribePipeline", {"PipelineName": big["NAME"]})["PipelineArn"]
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    limits.ok("AddTags", {"ResourceArn": arn, "Tags": tags})
    page = limits.ok("ListTags", {"ResourceArn": arn, "MaxResults": 2**31 - 1})
    assert len(page["Tags"]) == 50
    answer = limits.error("ListTags", {"ResourceArn": arn, "MaxResults": 49})
    assert answer["__type"] == "ValidationException"


def test_next_tokens_are_bound_to_their_query(limits: Limits, big: dict[str, str]) -> None:
    token = limits.ok("ListPipelines", {"MaxResults": 5})["NextToken"]
    answer = limits.error("ListPipelines", {"MaxResults": 5, "SortBy": "Name", "NextToken": token})
    assert answer["__type"] == "ValidationException" and "NextToken" in answer["Message"]
    for forged in [token[:-2], token + "x", "x" * 8192, "%%%%", "é", token[::-1]]:
        answer = limits.error("ListPipelines", {"MaxResults": 5, "NextToken": forged})
        assert answer["__type"] == "ValidationException", forged


# ---------------------------------------------------------------------------- depth


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b'{"PipelineNamePrefix": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        b'{"PipelineNamePrefix": ' + b"[" * 64 + b"]" * 64 + b"}",
        b"[" * 1_000_000,
    ],
    ids=["10k-arrays", "10k-objects", "10k-in-a-member", "65-levels", "1m-unclosed"],
)
def test_deep_json_is_a_clear_4xx(limits: Limits, body: bytes) -> None:
    answer = limits.error("ListPipelines", raw=body)
    assert answer["__type"] == "ValidationException"
    assert "nests deeper than 64 levels" in answer["Message"], answer["Message"]
    limits.alive()


def test_json_at_the_depth_limit_is_validated_normally(limits: Limits) -> None:
    body = b'{"PipelineNamePrefix": ' + b"[" * 63 + b"]" * 63 + b"}"  # 64 levels in all
    answer = limits.error("ListPipelines", raw=body)
    assert answer["__type"] == "ValidationException"
    assert "nests deeper" not in answer["Message"]
    assert "Member must be of type string" in answer["Message"]


def test_deep_fault_rules_are_refused_clearly(limits: Limits) -> None:
    reply = limits.wire.send("PUT", "/_sagepipe/faults", b"[" * 100_000, [])
    answer = check_reply(reply, None, "deep fault rules")
    assert reply.status == 400 and "deep" in answer["Message"], answer
    reply = limits.wire.send("PUT", "/_sagepipe/faults", b'{"rules": [' + b"{}," * 5000 + b"{}]}", [])  # fmt: skip
    answer = check_reply(reply, None, "too many fault rules")
    assert reply.status == 400 and "At most" in answer["Message"], answer
    limits.alive()


# ------------------------------------------------------------------- regex blow-up

ADVERSARIAL = [
    (
        "DescribePipeline",
        "PipelineName",
        "arn:aws:sagemaker:us-east-1:123456789012:pipeline/",
        "a-",
        2048,
    ),  # fmt: skip
    ("DescribePipeline", "PipelineName", "", "a-", 256),
    (
        "DescribePipelineExecution",
        "PipelineExecutionArn",
        "arn:aws:sagemaker:us-east-1:123456789012:pipeline/",
        "/execution/",
        2048,
    ),  # fmt: skip
    ("CreatePipeline", "RoleArn", "arn:aws:iam::123456789012:role/", "a/", 2048),
    ("CreatePipeline", "PipelineDefinition", "", "\t \n", MAX_DEFINITION),
    ("AddTags", "ResourceArn", "arn:aws:sagemaker:us-east-1:123456789012:", "a-", 256),
    ("ListPipelines", "NextToken", "", "\n ", 8192),
    ("UpdatePipelineVersion", "PipelineVersionDisplayName", "", "a-", 82),
]


@pytest.mark.parametrize("operation, member, prefix, unit, size", ADVERSARIAL)
@pytest.mark.parametrize("tail", ["!", "\u2028", "é"])
def test_no_pattern_can_be_made_slow(
    limits: Limits, operation: str, member: str, prefix: str, unit: str, size: int, tail: str
) -> None:
    value = (prefix + unit * size)[: size - 1] + tail
    reply, answer = limits.call(operation, {member: value})
    assert reply.status == 400 and reply.seconds < 2.0, reply.describe()


def test_the_server_answers_others_while_a_huge_body_is_checked(limits: Limits) -> None:
    """Validation of the largest bodies must not stall everyone else for long."""
    bodies = [
        json.dumps({"ResourceArn": "x", "Tags": [{"Key": "k", "Value": "v"}] * 100_000}),
        json.dumps(
            {
                "PipelineName": "p",
                "ClientRequestToken": "t" * 32,
                "PipelineParameters": [{"Name": "n", "Value": "v"}] * 100_000,
            }
        ),  # fmt: skip
        json.dumps({"ResourceArn": "x", "TagKeys": ["k"] * 500_000}),
        json.dumps({f"Unknown{i}": i for i in range(150_000)}),
    ]
    operations = ["AddTags", "StartPipelineExecution", "DeleteTags", "ListPipelines"]
    slowest: list[float] = []

    def probe() -> None:
        slowest.append(_health_latency(limits, 2.0))

    thread = threading.Thread(target=probe)
    thread.start()
    for operation, body in zip(operations, bodies, strict=True):
        data = body.encode()
        assert len(data) < MAX_BODY
        reply = limits.wire.api(operation, data)
        assert reply.status in (400, 413) and reply.seconds < 5, reply.describe()
        check_reply(reply, operation, operation)
    thread.join()
    assert slowest[0] < STALL, f"others waited {slowest[0]:.1f} s"
