# Fixtures are imported from tests/support/shared.py; their parameters shadow the imports.
# ruff: noqa: F811
"""Every constraint of the botocore model is enforced on the wire (docs/behaviour.md §1), and malformed
requests get clear 4xx errors, never a 5xx.

The constraint cases are generated from botocore's SageMaker model: for each member reachable
from an in-scope operation's input shape and each constraint it carries (required, length,
value range, pattern, enum, list size, type, unknown member), an otherwise-valid request that
breaks exactly that constraint is POSTed raw (alternately SigV4-signed and unsigned), so that
botocore's client-side checks cannot intercept it."""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape

from sagepipe.gateway.operations import IN_SCOPE, snake_case
from tests.support.pipelines import ROLE, definition, processing
from tests.support.server import ServerProcess
from tests.support.shared import ServerPool, server_pool  # noqa: F401  (fixture)
from tests.support.wire import WireResponse, call

MODEL = botocore.session.get_session().get_service_model("sagemaker")
PIPELINE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p-valid-1"
EXECUTION_ARN = PIPELINE_ARN + "/execution/abcdefghijkl"
SHOWN = 200  # values longer than this are quoted cut short; the tests then check less

# A valid value for every string shape the in-scope operations take. A model upgrade that
# adds a shape fails `valid_string` loudly: add a sample here.
SAMPLES = {
    "PipelineName": "p-valid-1",
    "PipelineNameOrArn": "p-valid-1",
    "PipelineDefinition": definition([processing("A")]),
    "BucketName": "my-bucket",
    "Key": "definitions/pipeline.json",
    "VersionId": "v1",
    "PipelineDescription": "a description",
    "IdempotencyToken": "0123456789abcdef0123456789abcdef-token",
    "RoleArn": ROLE,
    "TagKey": "team",
    "TagValue": "ml",
    "PipelineVersionAlias": "alias-1",
    "NextToken": "",
    "PipelineArn": PIPELINE_ARN,
    "PipelineVersionName": "version-1",
    "PipelineVersionDescription": "a version",
    "PipelineExecutionName": "execution-1",
    "PipelineParameterName": "Param_1",
    "String1024": "value",
    "String256": "StepA",
    "PipelineExecutionDescription": "an execution",
    "PipelineExecutionArn": EXECUTION_ARN,
    "MlflowExperimentEntityName": "experiment",
    "CallbackToken": "abcdefghij",
    "ResourceArn": PIPELINE_ARN,
    "ProcessingJobName": "job-1",
    "TrainingJobName": "job-1",
    "TransformJobName": "job-1",
    "NameContains": "job",
    "TrainingPlanArn": "arn:aws:sagemaker:us-east-1:123456789012:training-plan/plan-one",
    "ModelName": "model-1",
    "ModelNameContains": "model",
    "EntityName": "group-1",
    "EntityDescription": "a group",
    "ArnOrName": "group-1",
    "VersionedArnOrName": "group-1/1",
    "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/group-1/1",
    "ModelPackageSourceUri": "s3://bucket/model",
    "ClientToken": "token-1",
    "CustomerMetadataKey": "owner",
    "CustomerMetadataValue": "team-ml",
    "ContainerHostname": "host-1",
    "ContainerImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1",
    "ImageDigest": "sha256:" + "0" * 64,
    "Url": "s3://bucket/model.tar.gz",
    "S3ModelUri": "s3://bucket/model.tar.gz",
    "S3Uri": "s3://bucket/data",
    "ProductId": "product-1",
    "EnvironmentKey": "MODEL_SERVER",
    "EnvironmentValue": "on",
    "DataInputConfig": '{"input": [1, 2]}',
    "ModelPackageFrameworkVersion": "1.2",
    "AdditionalModelChannelName": "draft",
    "HubContentName": "content-1",
    "HubContentVersion": "1.0.0",
    "ResponseMIMEType": "text/csv",
    "StageDescription": "a stage",
}
# Values that break a pattern, tried in order; the first of a valid length that the pattern
# rejects is used. ("a\nb": Java's `.` does not match a line terminator.)
PATTERN_BREAKERS = ["!bad value!", "a\nb", "--", "!!!!!!!!!!"]


def oracle(pattern: str) -> re.Pattern[str]:
    """The model's Java pattern as a Python regex, good enough for the ASCII test values."""
    ascii_classes = {
        r"\p{L}": "a-zA-Z", r"\p{Z}": " ", r"\p{N}": "0-9", r"\p{M}": "",
        r"\p{S}": re.escape("$+<=>^`|~"), r"\p{P}": re.escape("!\"#%&'()*,-./:;?@[\\]_{}"),
    }  # fmt: skip
    for java, python in ascii_classes.items():
        pattern = pattern.replace(java, python)
    # Java takes a quantified anchor ("${1,128}"); it means the anchor alone.
    return re.compile(re.sub(r"\$\{\d+,\d+\}", "$", pattern))


def matches(shape: Shape, value: str) -> bool:
    pattern = shape.metadata.get("pattern")
    return pattern is None or oracle(pattern).fullmatch(value) is not None


def valid_string(shape: Shape) -> str:
    meta = shape.metadata
    if meta.get("enum"):
        return str(meta["enum"][0])
    if shape.name in SAMPLES:
        value = SAMPLES[shape.name]
    elif meta.get("pattern") in (None, ".*", ".+"):
        value = "x" * max(meta.get("min", 1), 1)
    else:
        raise AssertionError(f"no sample value for string shape {shape.name}: add one")
    assert meta.get("min", 0) <= len(value) <= meta.get("max", 1 << 30), shape.name
    assert matches(shape, value), (shape.name, value)
    return value


def valid(shape: Shape, full: bool = False) -> Any:
    """A valid value: required members only, or every member (`full`)."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        names = shape.members if full else shape.required_members
        return {n: valid(shape.members[n], full) for n in names}
    if kind == "list":
        return [valid(shape.member, full) for _ in range(max(meta.get("min", 1), 1))]
    if kind == "map":
        return {valid(shape.key): valid(shape.value, full)}
    if kind == "string":
        return valid_string(shape)
    if kind in ("integer", "long"):
        return int(meta.get("min", 1))
    if kind in ("float", "double"):
        return float(meta.get("min", 1))
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return 1700000000
    raise AssertionError(f"unhandled shape type {kind}")


# --- cases -------------------------------------------------------------------------------

Step = str  # a member name, or "[]" for the first item of a list
DROP = object()  # the mutation "leave the member out"


@dataclass
class Case:
    operation: str
    steps: tuple[Step, ...]  # where the broken value goes
    value: Any  # the value put there (DROP: none)
    expected: list[tuple[str, Any, str]]  # (path, value or DROP if not checked, constraint)
    kind: str

    @property
    def id(self) -> str:
        return f"{self.operation}:{wire_path(self.steps) or '<root>'}:{self.kind}"

    def request(self) -> dict[str, Any]:
        shape = MODEL.operation_model(self.operation).input_shape
        body = valid(shape)
        node, node_shape = body, shape
        for i, step in enumerate(self.steps):
            last = i == len(self.steps) - 1
            if step == "[]":
                child_shape = node_shape.member
                key: Any = 0
            else:
                child_shape = node_shape.members.get(step)
                key = step
                if not last and step not in node:
                    node[step] = valid(child_shape)
            if last:
                if self.value is DROP:
                    node.pop(key, None)
                else:
                    node[key] = self.value
                return body
            node, node_shape = node[key], child_shape
        return body  # no steps: the root itself


def wire_path(steps: tuple[Step, ...]) -> str:
    out = ""
    for step in steps:
        if step == "[]":
            out += ".1.member"
        else:
            out += ("." if out else "") + step[:1].lower() + step[1:]
    return out


def pad(value: str, length: int) -> str:
    return (value * (length // max(len(value), 1) + 1))[:length] if value else "a" * length


def string_cases(op: str, steps: tuple[Step, ...], shape: Shape) -> Iterator[Case]:
    meta, path = shape.metadata, wire_path(steps)
    sample = valid_string(shape)
    lo, hi = meta.get("min", 0), meta.get("max")
    secret = bool(meta.get("sensitive"))  # AWS does not show a sensitive member's value

    def shown(value: Any) -> Any:
        return DROP if secret else value

    if lo > 0:
        short = sample[: lo - 1] if len(sample) >= lo - 1 else pad(sample, lo - 1)
        expected = [(path, shown(short), f"Member must have length greater than or equal to {lo}")]
        if not matches(shape, short):  # too short for the pattern as well: AWS says both
            expected.append(
                (path, shown(short), "Member must satisfy regular expression pattern: ")
            )
        yield Case(op, steps, short, expected, "min-length")
    if hi is not None and hi < (1 << 21):
        long = sample + "a" * (hi + 1 - len(sample))
        long_shown = shown(long) if len(long) <= SHOWN else DROP
        yield Case(op, steps, long, [(path, long_shown, f"Member must have length less than or equal to {hi}")], "max-length")  # fmt: skip
    if meta.get("pattern"):
        for candidate in PATTERN_BREAKERS:
            bad = pad(candidate, lo) if len(candidate) < lo else candidate[: hi or None]
            if not matches(shape, bad) and lo <= len(bad) <= (hi or len(bad)):
                text = "Member must satisfy regular expression pattern: "
                yield Case(op, steps, bad, [(path, shown(bad), text)], "pattern")
                break
    if meta.get("enum"):
        text = f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]"
        yield Case(op, steps, "NotAnEnumValue", [(path, "NotAnEnumValue", text)], "enum")
    yield Case(op, steps, 12345, [(path, shown(12345), "Member must be of type string")], "type")


def member_cases(op: str, steps: tuple[Step, ...], shape: Shape) -> Iterator[Case]:
    kind, meta, path = shape.type_name, shape.metadata, wire_path(steps)
    if kind == "string":
        yield from string_cases(op, steps, shape)
    elif kind in ("integer", "long"):
        if "min" in meta:
            low = meta["min"] - 1
            yield Case(op, steps, low, [(path, low, f"Member must have value greater than or equal to {meta['min']}")], "min-value")  # fmt: skip
        if "max" in meta:
            high = meta["max"] + 1
            yield Case(op, steps, high, [(path, high, f"Member must have value less than or equal to {meta['max']}")], "max-value")  # fmt: skip
        yield Case(op, steps, "12", [(path, "12", f"Member must be of type {kind}")], "type")
        yield Case(op, steps, True, [(path, "true", f"Member must be of type {kind}")], "type-bool")
    elif kind == "boolean":
        yield Case(op, steps, "true", [(path, "true", "Member must be of type boolean")], "type")
    elif kind == "timestamp":
        yield Case(op, steps, {"at": 1}, [(path, DROP, "Member must be of type timestamp")], "type")
        yield Case(op, steps, "yesterday", [(path, "yesterday", "Member must be of type timestamp")], "type-text")  # fmt: skip
    elif kind == "list":
        lo, hi = meta.get("min", 0), meta.get("max")
        item = valid(shape.member)
        if lo > 0:
            yield Case(op, steps, [], [(path, DROP, f"Member must have length greater than or equal to {lo}")], "min-size")  # fmt: skip
        if hi is not None:
            too_many = [item] * (hi + 1)
            yield Case(op, steps, too_many, [(path, DROP, f"Member must have length less than or equal to {hi}")], "max-size")  # fmt: skip
        yield Case(op, steps, "not-a-list", [(path, "not-a-list", "Member must be of type list")], "type")  # fmt: skip
        yield from member_cases(op, (*steps, "[]"), shape.member)
    elif kind == "structure":
        yield Case(op, steps, "not-a-structure", [(path, "not-a-structure", "Member must be of type structure")], "type")  # fmt: skip
        yield from structure_cases(op, steps, shape)


def structure_cases(op: str, steps: tuple[Step, ...], shape: Shape) -> Iterator[Case]:
    prefix = wire_path(steps) + ("." if steps else "")
    unknown = (prefix + "UnknownMember", "x", "Member is not a known member")
    yield Case(op, (*steps, "UnknownMember"), "x", [unknown], "unknown-member")
    for name, member in shape.members.items():
        if name in shape.required_members:
            yield Case(op, (*steps, name), DROP, [(wire_path((*steps, name)), None, "Member must not be null")], "required")  # fmt: skip
        yield from member_cases(op, (*steps, name), member)


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for op in IN_SCOPE:
        cases += structure_cases(op, (), MODEL.operation_model(op).input_shape)
    return cases


CASES = all_cases()
KINDS = {c.kind for c in CASES}


def expected_clause(path: str, value: Any, constraint: str) -> re.Pattern[str]:
    if value is None:
        shown = "Value null"
    elif value is DROP:
        shown = "Value(?: .*?)?"  # a sensitive member's value is not shown: "Value at ..."
    else:
        text = value if isinstance(value, str) else json.dumps(value)
        shown = "Value " + re.escape(f"'{text}'")
    return re.compile(
        shown + re.escape(f" at '{path}' failed to satisfy constraint: {constraint}"), re.DOTALL
    )


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def edge(server_pool: ServerPool) -> ServerProcess:
    """One server for the whole module: validation happens before any storage is touched."""
    return server_pool.get("sqlite")


def send(
    server: ServerProcess, target: str | None, body: Any = None, **kwargs: Any
) -> WireResponse:
    """A raw request; every answer must carry a request id and never be a 5xx."""
    response = call(server.url, target, body, **kwargs)
    assert response.status < 500, response.raw
    uuid.UUID(response.headers["x-amzn-requestid"])
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    if response.status >= 400:
        assert response.headers["x-amzn-errortype"] == response.code, response.headers
        assert set(response.json) == {"__type", "Message"}, response.raw
    return response


def assert_alive(server: ServerProcess) -> None:
    assert server.proc is not None and server.proc.poll() is None
    status, body = server.extension("GET", "/_sagepipe/health")
    assert status == 200 and body["status"] == "ok"


# --- generated constraint cases ----------------------------------------------------------


def test_every_constraint_kind_is_generated():
    wanted = {"required", "min-length", "max-length", "pattern", "enum", "min-value",
              "max-value", "min-size", "max-size", "type", "unknown-member"}  # fmt: skip
    assert wanted <= KINDS, wanted - KINDS
    assert {c.operation for c in CASES} == set(IN_SCOPE)
    assert len(CASES) > 300


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.id for c in CASES])
def test_constraint_violation_is_a_validation_exception(edge, index):
    case = CASES[index]
    body = case.request()
    response = send(edge, case.operation, body, sign=index % 2 == 0)
    assert response.status == 400, response.raw
    assert response.code == "ValidationException", response.raw
    message = response.message
    n = len(case.expected)
    head = f"{n} validation error{'s' if n > 1 else ''} detected: "
    assert message.startswith(head), message[:500]
    for path, value, constraint in case.expected:
        assert expected_clause(path, value, constraint).search(message), (constraint, message[:800])
    if case.kind == "pattern":
        pattern = shape_at(case).metadata["pattern"]
        assert pattern in message, message


def shape_at(case: Case) -> Shape:
    shape = MODEL.operation_model(case.operation).input_shape
    for step in case.steps:
        shape = shape.member if step == "[]" else shape.members[step]
    return shape


@pytest.mark.parametrize("operation", IN_SCOPE)
def test_valid_requests_pass_validation_and_never_crash(edge, operation):
    """The request the cases start from, and one with every member set, are valid: the
    answer is a success or a business error, never a shape error (which would mean the
    generated cases break more than one constraint) and never a 5xx."""
    shape = MODEL.operation_model(operation).input_shape
    for full in (False, True):
        for sign in (True, False):
            body = valid(shape, full=full)
            response = send(edge, operation, body, sign=sign)
            shape_error = re.match(r"\d+ validation errors? detected", response.message)
            if response.status == 400 and shape_error:
                # Only a member the model leaves optional but the operation cannot do
                # without may be reported missing, and only when it was left out.
                assert not full, response.message
                clauses = response.message.split(": ", 1)[1].split("; ")
                assert all(c.endswith("Member must not be null") for c in clauses), response.message
            else:
                assert response.status in (200, 400), response.raw


def test_signed_and_unsigned_requests_get_the_same_answer(edge):
    for case in CASES[::25]:
        body = case.request()
        signed = send(edge, case.operation, body, sign=True)
        unsigned = send(edge, case.operation, body, sign=False)
        assert (signed.status, signed.json) == (unsigned.status, unsigned.json), case.id


def test_several_violations_are_counted_and_joined(edge):
    body = {"PipelineName": "", "PipelineVersionId": 0, "Bogus": 1}
    response = send(edge, "DescribePipeline", body)
    assert response.code == "ValidationException"
    message = response.message
    assert message.startswith("4 validation errors detected: "), message
    assert message.count("; ") == 3
    assert (
        "at 'pipelineVersionId' failed to satisfy constraint: Member must have value greater than or equal to 1"
        in message
    )


# --- malformed requests ------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, named",
    [
        ("SageMaker.NoSuchOperation", "NoSuchOperation"),
        ("SageMaker.CreateTrainingJob", "CreateTrainingJob"),
        ("SageMaker.DescribeEndpoint", "DescribeEndpoint"),
        ("AmazonS3.ListBuckets", "ListBuckets"),
        ("SageMaker.", None),
        ("CreatePipeline", None),  # no service prefix
    ],
)
def test_unknown_operations(edge, target, named):
    response = send(edge, None, {}, headers={"X-Amz-Target": target})
    assert response.status == 400
    assert response.code == "UnknownOperationException", response.raw
    if named:
        assert named in response.message
    assert_alive(edge)


def test_missing_target_and_wrong_routes(edge):
    response = send(edge, None, {})
    assert (response.status, response.code) == (400, "UnknownOperationException")
    for method, path in (("GET", "/"), ("PUT", "/"), ("POST", "/not-here")):
        response = send(edge, "ListPipelines", None, method=method, path=path, sign=False)
        assert 400 <= response.status < 500, response.raw
        assert response.code, response.raw


@pytest.mark.parametrize(
    "raw",
    [
        b"[1, 2]",
        b'"text"',
        b"42",
        b"null",
        b"true",
        b"{",
        b'{"PipelineName": ',
        b"\xff\xfe\x00",
        b"{'single': 'quotes'}",
        b'{"a": 1} trailing',
    ],  # fmt: skip
)
def test_a_body_that_is_not_a_json_object_is_a_serialization_error(edge, raw):
    for sign in (True, False):
        response = send(edge, "DescribePipeline", raw=raw, sign=sign)
        assert response.status == 400, response.raw
        assert response.code == "SerializationException", response.raw
    assert_alive(edge)


def test_empty_body(edge):
    # No input members needed: an empty body is an empty request.
    for raw in (b"", b"{}", b"  \n"):
        response = send(edge, "ListPipelines", raw=raw)
        assert response.status == 200, response.raw
        assert response.json == {"PipelineSummaries": []} or "PipelineSummaries" in response.json
    # A required member is then missing, and said so.
    response = send(edge, "DescribePipeline", raw=b"")
    assert response.code == "ValidationException"
    assert response.message == (
        "1 validation error detected: Value null at 'pipelineName' failed to satisfy "
        "constraint: Member must not be null"
    )


def test_oversized_body_is_refused_with_413(edge):
    limit = 4 * 1024 * 1024
    for size in (limit + 1, limit + 2 * 1024 * 1024):
        padding = "a" * (size - len('{"PipelineDescription":""}'))
        raw = json.dumps({"PipelineDescription": padding}, separators=(",", ":")).encode()
        assert len(raw) == size
        response = send(edge, "UpdatePipeline", raw=raw)
        assert response.status == 413, response.raw
        assert response.code == "RequestEntityTooLarge"
        assert "PipelineDefinitionS3Location" in response.message
    assert_alive(edge)


def test_hostile_nesting_is_refused(edge):
    for raw in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"PipelineName": ' + b"[" * 500 + b"]" * 500 + b"}",
    ):
        response = send(edge, "DescribePipeline", raw=raw)
        assert response.status == 400
        assert response.code in ("SerializationException", "ValidationException")
    # Numbers that are no integer: refused, as malformed JSON or as the wrong type.
    for raw in (b'{"MaxResults": 1e400}', b'{"MaxResults": NaN}', b'{"MaxResults": -Infinity}'):
        response = send(edge, "ListPipelines", raw=raw)
        assert response.status == 400, response.raw
        assert response.code in ("SerializationException", "ValidationException"), response.raw
    for raw in (b'{"MaxResults": 1' + b"0" * 50 + b"}", b'{"MaxResults": 5.5}'):
        response = send(edge, "ListPipelines", raw=raw)
        assert response.code == "ValidationException", response.raw
        assert "at 'maxResults' failed to satisfy constraint: Member must be of type integer" in (
            response.message
        )
    assert_alive(edge)


def test_a_provider_needed_member_left_out_is_a_validation_error(edge):
    """ListPipelineExecutionSteps.PipelineExecutionArn is optional in the model, but the
    operation cannot answer without it: the answer is a 400 naming it, not a 500."""
    response = send(edge, "ListPipelineExecutionSteps", {})
    assert response.status == 400
    assert response.code == "ValidationException"
    assert (
        "at 'pipelineExecutionArn' failed to satisfy constraint: Member must not be null"
        in response.message
    )
    assert_alive(edge)


# --- provider signatures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def handlers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app's operation table, built in-process (no engine started)."""
    from sagepipe.app import build
    from sagepipe.config import Config

    service = build(Config(data_dir=str(tmp_path_factory.mktemp("inprocess")), runner="simulate"))
    try:
        yield service.app.operations
    finally:
        service.db.close()
        if service.lock:
            service.lock.close()


@pytest.mark.parametrize("operation", IN_SCOPE)
def test_every_input_member_is_a_keyword_of_the_provider(handlers, operation):
    signature = inspect.signature(handlers[operation])
    members = list(MODEL.operation_model(operation).input_shape.members)
    # Binding every member at once fails with TypeError if one is not accepted.
    signature.bind(object(), **{snake_case(m): object() for m in members})


def test_providers_require_only_what_the_model_requires(handlers):
    wrong = []
    for operation in IN_SCOPE:
        required = MODEL.operation_model(operation).input_shape.required_members
        try:
            inspect.signature(handlers[operation]).bind(
                object(), **{snake_case(m): object() for m in required}
            )
        except TypeError as error:
            wrong.append(f"{operation}: {error}")
    assert wrong == []
