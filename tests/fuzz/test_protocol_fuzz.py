"""Hostile input: property-based fuzzing of the awsJson1.1 edge, driven by botocore's model.

Every request goes over real HTTP (one keep-alive http.client connection) to ONE real
`sagepipe serve` process per backend (SQLite; PostgreSQL too when reachable, see conftest).
For each in-scope operation hypothesis draws valid, boundary and invalid bodies
(tests/fuzz/strategies.py); raw-HTTP cases cover what a model cannot express (broken JSON,
encodings, headers, methods, paths, sizes). Every answer must:

- never be a 5xx, and come within MAX_SECONDS;
- be `{"__type", "Message"}` with a modelled or common code, x-amzn-ErrorType equal to it,
  read the same by botocore's own JSON parser; or a 200 that fits the output shape;
- agree with the model: a body the model accepts never gets a shape-validation error, a body
  it refuses always gets ValidationException (or 413 / SerializationException when the bytes
  are too many or not JSON text);
- leave the server up (GET /_sagepipe/health after every case).
At the end the data must be consistent: every pipeline created by a 200 CreatePipeline and
not deleted is describable, ListPipelines pagination visits each once, no execution is stuck.

Scale: SAGEPIPE_FUZZ_EXAMPLES=N sets the hypothesis examples per (operation, kind); the
default 80 gives 21 operations x 3 kinds x 80 = 5,040 model-driven cases per backend, plus
~100 raw-HTTP cases and 3 x N random-body cases. Examples are derandomized (the same cases
every run). A long run, with fresh random cases:

    SAGEPIPE_FUZZ_EXAMPLES=2000 SAGEPIPE_FUZZ_SEED=random python -m pytest tests/fuzz -q

SAGEPIPE_FUZZ_SEED=<int> replays a given random run; SAGEPIPE_FUZZ_BACKENDS=sqlite limits the
backends.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from sagepipe.gateway.operations import IN_SCOPE
from tests.fuzz.strategies import (
    ROLE,
    Samples,
    encode,
    has_lone_surrogate,
    has_non_finite,
    operation_model,
    request_for,
    violations,
)
from tests.fuzz.wire import (
    AUTH,
    JSON_TYPE,
    SHAPE_MESSAGE,
    Reply,
    Wire,
    check_reply,
    raw_exchange,
)
from tests.support.pipelines import definition, processing
from tests.support.server import ServerProcess, database_args, require_pg

EXAMPLES = int(os.environ.get("SAGEPIPE_FUZZ_EXAMPLES", "80"))
SEED = os.environ.get("SAGEPIPE_FUZZ_SEED", "")
BACKENDS = os.environ.get("SAGEPIPE_FUZZ_BACKENDS", "sqlite,postgres").split(",")
MAX_BODY = 4 * 1024 * 1024  # Config.max_body_bytes
KINDS = ("valid", "boundary", "invalid")
RUNNING = ("Executing", "Stopping")
NO_CALLBACK = "AAAAAAAAAA"  # a well-formed callback token nobody was given


SEED_VALUE = (uuid.uuid4().int % 2**32 if SEED == "random" else int(SEED)) if SEED else None


def fuzz_settings(examples: int) -> Any:
    """Hypothesis settings: fixed cases by default, random ones when a seed is asked for."""
    chosen = settings(
        max_examples=examples,
        deadline=None,
        derandomize=not SEED,
        database=None,
        # No shrinking: the server keeps state, so a replayed case may not fail the same way;
        # each assertion message carries the whole request instead.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    if SEED_VALUE is not None:
        return lambda f: seed(SEED_VALUE)(chosen(f))
    return chosen


# ------------------------------------------------------------------------- the target


@dataclass
class Ledger:
    """What the fuzz did that must still hold afterwards."""

    created: dict[str, str] = field(default_factory=dict)  # pipeline ARN -> name
    deleted: set[str] = field(default_factory=set)
    executions: set[str] = field(default_factory=set)
    callback_executions: set[str] = field(default_factory=set)


@dataclass
class Target:
    backend: str
    server: ServerProcess
    wire: Wire
    samples: Samples
    ledger: Ledger
    faults: Any = None  # the fault rules document, as the server shows it
    cases: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Where a failure happened, and how to replay a random run."""
        if SEED_VALUE is None:
            return self.backend
        return f"{self.backend}, replay with SAGEPIPE_FUZZ_SEED={SEED_VALUE}"

    def count(self, operation: str, reply: Reply) -> None:
        self.cases += 1
        code = (
            "200"
            if reply.status == 200
            else (json.loads(reply.body or b"{}") or {}).get("__type", "?")
        )
        key = f"{operation}:{code}"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    def alive(self) -> None:
        assert self.server.proc is not None and self.server.proc.poll() is None, (
            "the server process died:\n" + "".join(self.server.output[-50:])
        )
        self.wire.healthy()


FAULTS = [
    {"step": "AlwaysFails", "fail_attempts": -1, "failure_reason": "fuzz: this step always fails"},
    {"step": "Slow", "duration_seconds": 0.5},
    {"step": "Long", "duration_seconds": 20},
]
CALLBACK = {
    "Name": "Wait",
    "Type": "Callback",
    "SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/queue",
    "OutputParameters": [{"OutputName": "out", "OutputType": "String"}],
    "Arguments": {},
}
PARAMETERS = [
    {"Name": "Color", "Type": "String", "DefaultValue": "Red", "EnumValues": ["Red", "Blue"]},
    {"Name": "Count", "Type": "Integer", "DefaultValue": 1},
    {"Name": "Rate", "Type": "Float", "DefaultValue": 0.5},
    {"Name": "Flag", "Type": "Boolean", "DefaultValue": False},
]
SEEDS = {
    "fz-ok": definition([processing("A"), processing("B", ["A"])], PARAMETERS),
    "fz-fail": definition([processing("A"), processing("AlwaysFails", ["A"])]),
    "fz-slow": definition([processing("Slow")]),
    "fz-long": definition([processing("Long")]),
    "fz-callback": definition([CALLBACK]),
    "fz-needs": definition(
        [processing("A")], [{"Name": "Needed", "Type": "String"}, *PARAMETERS[1:2]]
    ),
}


# Definitions whose text is plain ASCII JSON (so the request passes the gateway) but whose
# decoded content is hostile: it reaches the definition parser, the store and the engine.
HOSTILE_DEFINITIONS = [
    definition([processing("\ud800")]),  # an escaped lone surrogate as a step name
    definition([processing("A\x00B")]),  # NUL in a step name
    definition([processing("\u202eevil😀")]),
    definition([processing("S" * 5000)]),
    definition([processing("A", DisplayName="\udfff", Description="x\x00y")]),
    definition([processing("A")], [{"Name": "P\x00", "Type": "String", "DefaultValue": "v"}]),
    definition([processing("A")], [{"Name": "P", "Type": "String", "DefaultValue": "\ud800"}]),
    definition([processing("A")], [{"Name": "P", "Type": "Integer", "DefaultValue": 10**30}]),
    definition([processing("A")], [{"Name": "P", "Type": "Float", "DefaultValue": 1e308}]),
    definition([{**processing("A"), "Arguments": {"Deep": json.loads("[" * 500 + "]" * 500)}}]),
    definition([{**processing("A"), "Arguments": {"Deep": json.loads("[" * 90 + "]" * 90)}}]),
    '{"Version": "2020-12-01", "Steps": ' + "[" * 100_000 + "]" * 100_000 + "}",
]


def seed_target(target: Target) -> None:
    """Resources for the fuzz to hit: pipelines (one with versions, one that fails, one that
    is slow, one that waits for a callback), executions, tags, callback tokens."""
    wire, s = target.wire, target.samples
    status, body = target.server.extension("PUT", "/_sagepipe/faults", {"rules": FAULTS})
    assert status == 200, body
    target.faults = body
    for name, text in SEEDS.items():
        arn = wire.ok(
            "CreatePipeline",
            {"PipelineName": name, "PipelineDefinition": text, "RoleArn": ROLE,
             "ClientRequestToken": str(uuid.uuid4()), "Tags": [{"Key": "seed", "Value": name}]},
        )["PipelineArn"]  # fmt: skip
        target.ledger.created[arn] = name
        s.pipeline_names.append(name)
        s.pipeline_arns.append(arn)
        s.definitions.append(text)
    for n in (2, 3):  # versions 2 and 3 of fz-ok
        text = definition([processing(f"V{n}")], PARAMETERS)
        wire.ok("UpdatePipeline", {"PipelineName": "fz-ok", "PipelineDefinition": text})
        s.definitions.append(text)
    s.definitions += [
        definition([processing("A", ["B"]), processing("B", ["A"])]),  # a cycle: refused
        definition([processing("A"), processing("A")]),  # duplicate names: refused
        '{"Version": "2020-12-01", "Steps": [',  # a syntax error
        *HOSTILE_DEFINITIONS,
    ]
    # Pools are never empty (see strategies.live): a name that never exists, a token that
    # was never minted, a callback token that was never issued.
    s.deletable.append("fz-never-created")
    for operation in IN_SCOPE:
        s.next_tokens[operation] = ["bm90LWEtdG9rZW4"]
    s.callback_tokens.append(NO_CALLBACK)
    s.running.append("arn:aws:sagemaker:us-east-1:123456789012:pipeline/fz-ok/execution/none")
    s.parameter_names += ["Color", "Count", "Rate", "Flag", "Needed", "Unknown"]
    s.step_names += ["A", "B", "AlwaysFails", "Slow", "Wait", "V2"]
    s.tag_keys += ["seed", "team", "é"]
    for name in ("fz-ok", "fz-fail", "fz-slow", "fz-callback", "fz-callback"):
        arn = wire.ok(
            "StartPipelineExecution",
            {"PipelineName": name, "ClientRequestToken": str(uuid.uuid4())},
        )["PipelineExecutionArn"]
        target.ledger.executions.add(arn)
        s.execution_arns.append(arn)
        if name == "fz-callback":
            target.ledger.callback_executions.add(arn)
    deadline = time.time() + 30
    while len(s.callback_tokens) < 3 and time.time() < deadline:
        s.callback_tokens[:] = [NO_CALLBACK, *sorted(waiting_callbacks(target).values())]
        time.sleep(0.05)
    assert len(s.callback_tokens) == 3, "the seeded Callback steps never started"


def waiting_callbacks(target: Target, arns: set[str] | None = None) -> dict[str, str]:
    """Execution ARN -> callback token, for Callback steps of known callback executions (or
    of `arns`) that are still waiting for their answer."""
    found = {}
    for arn in sorted(target.ledger.callback_executions if arns is None else arns):
        status, body = target.wire.call(
            "ListPipelineExecutionSteps", {"PipelineExecutionArn": arn, "MaxResults": 100}
        )
        if status != 200:
            continue
        for step in body["PipelineExecutionSteps"]:
            token = step.get("Metadata", {}).get("Callback", {}).get("CallbackToken")
            if token and step["StepStatus"] in ("Starting", "Executing", "Stopping"):
                found[arn] = token
    return found


def _server_for(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with database_args(backend, tmp_path_factory) as args:
        server = ServerProcess(args, ["--max-running-executions", "30", "--log-level", "error"])
        server.start()
        wire = Wire(server.port)
        target = Target(backend, server, wire, Samples(), Ledger())
        try:
            seed_target(target)
            yield target
        finally:
            wire.close()
            print(
                f"\n[fuzz {target.label}] {target.cases} cases, {wire.requests} requests, slowest "
                f"{wire.slowest[0]:.2f}s ({wire.slowest[1]})\n[fuzz {backend}] outcomes: "
                + ", ".join(f"{k}={v}" for k, v in sorted(target.outcomes.items()))
            )
            server.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    backend = str(request.param)
    if backend not in BACKENDS:
        pytest.skip(f"SAGEPIPE_FUZZ_BACKENDS={','.join(BACKENDS)}")
    if backend == "postgres":
        require_pg()
    yield from _server_for(backend, tmp_path_factory)


# -------------------------------------------------------------- model-driven cases


def expect(operation: str, body: Any, data: bytes, reply: Reply, context: str) -> Any:
    """The model's verdict on the body, checked against the answer."""
    answer = check_reply(reply, operation, context)
    code = answer.get("__type") if reply.status != 200 else None
    message = answer.get("Message", "") if code else ""
    where = f"{context}\n  -> {reply.describe()}"
    if len(data) > MAX_BODY:
        assert code == "RequestEntityTooLarge", f"oversized body: {where}"
        return answer
    if not isinstance(body, dict):
        assert code == "SerializationException", f"non-object body: {where}"
        return answer
    if has_non_finite(body):
        # NaN / Infinity literals are not JSON (RFC 8259 §6).
        assert code == "SerializationException", f"non-finite number: {where}"
        return answer
    if has_lone_surrogate(body):
        # Not Unicode text: refused before anything reads it (escaped or raw bytes alike).
        assert code == "SerializationException", f"lone surrogate: {where}"
        return answer
    problems = violations(operation_model(operation).input_shape, body)
    if problems:
        assert code == "ValidationException" and SHAPE_MESSAGE.match(message), (
            f"the model refuses {problems[:5]}: {where}"
        )
    else:
        assert not (code == "ValidationException" and SHAPE_MESSAGE.match(message)), (
            f"the model accepts this body: {where}"
        )
    return answer


def learn(target: Target, operation: str, body: dict[str, Any], answer: dict[str, Any]) -> None:
    """Feed what a success created back into the pools, and check its round trip."""
    s, ledger, wire = target.samples, target.ledger, target.wire
    if operation == "CreatePipeline":
        arn, name = answer["PipelineArn"], body["PipelineName"]
        ledger.created[arn] = name
        ledger.deleted.discard(arn)
        s.pipeline_names.append(name)
        s.pipeline_arns.append(arn)
        s.deletable.append(name)
        described = wire.ok("DescribePipeline", {"PipelineName": name})
        assert described["PipelineArn"] == arn
        assert described["PipelineDefinition"] == body["PipelineDefinition"]
        assert described.get("PipelineDescription") == body.get("PipelineDescription")
        assert described["PipelineDisplayName"] == (body.get("PipelineDisplayName") or name)
        assert described["RoleArn"] == body["RoleArn"]
    elif operation == "DeletePipeline":
        ledger.deleted.add(answer["PipelineArn"])
    elif operation == "StartPipelineExecution":
        arn = answer["PipelineExecutionArn"]
        if arn not in ledger.executions:
            ledger.executions.add(arn)
            s.execution_arns.append(arn)
        text = wire.ok("DescribePipelineDefinitionForExecution", {"PipelineExecutionArn": arn})
        if '"Callback"' in text["PipelineDefinition"]:  # it will wait for an answer
            ledger.callback_executions.add(arn)
        described = wire.ok("DescribePipelineExecution", {"PipelineExecutionArn": arn})
        if (
            body.get("PipelineExecutionDescription") is not None
            and described.get("PipelineExecutionDescription")
            != body["PipelineExecutionDescription"]
        ):
            # A replayed token answers with the first execution, whose text may differ.
            assert body.get("ClientRequestToken", "").startswith("fixed-token-"), described
    token = answer.get("NextToken")
    if token:
        tokens = s.next_tokens.setdefault(operation, [])
        tokens.append(token)
        del tokens[:-20]


def start_long_executions(target: Target, count: int = 4) -> None:
    """Executions that are still running when the Stop cases come (the others end at once)."""
    fresh = []
    for _ in range(count):
        status, body = target.wire.call(
            "StartPipelineExecution",
            {"PipelineName": "fz-long", "ClientRequestToken": str(uuid.uuid4())},
        )
        if status == 200:
            fresh.append(body["PipelineExecutionArn"])
            target.ledger.executions.add(body["PipelineExecutionArn"])
    if fresh:
        target.samples.running[:] = fresh


def janitor(target: Target) -> None:
    """Every so often: expose the tokens of waiting Callback steps to the fuzz, and answer the
    oldest ones, so that waiting executions do not use up the running-executions quota."""
    waiting = waiting_callbacks(target)
    target.samples.callback_tokens[:] = [NO_CALLBACK, *sorted(waiting.values())[-10:]]
    for arn in sorted(waiting)[:-10]:
        target.wire.call(
            "SendPipelineExecutionStepFailure",
            {"CallbackToken": waiting[arn], "FailureReason": "janitor"},
        )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("operation", IN_SCOPE)
def test_model_driven(target: Target, operation: str, kind: str) -> None:
    requests = request_for(operation, kind, target.samples)
    if operation == "StopPipelineExecution":
        start_long_executions(target)

    @fuzz_settings(EXAMPLES)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        body = data.draw(requests, label="body")
        raw_utf8 = data.draw(st.booleans(), label="raw_utf8") if kind == "invalid" else False
        payload = encode(body, raw_utf8)
        context = f"[{target.label}] {operation} ({kind}) {payload[:1500]!r}"
        reply = target.wire.api(operation, payload)
        target.count(operation, reply)
        if raw_utf8 and has_lone_surrogate(body) and len(payload) <= MAX_BODY:
            answer = check_reply(reply, operation, context)
            assert answer.get("__type") == "SerializationException", context
        else:
            answer = expect(operation, body, payload, reply, context)
        if reply.status == 200:
            learn(target, operation, body, answer)
        target.alive()
        if target.cases % 150 == 0:
            janitor(target)

    run()


@pytest.mark.parametrize("index", range(len(HOSTILE_DEFINITIONS)))
def test_hostile_definition_is_refused_or_runs(target: Target, index: int) -> None:
    """A definition with hostile content is refused with a clear ValidationException, or it is
    stored, returned unchanged, and runs to an end (checked with the others at the end)."""
    text = HOSTILE_DEFINITIONS[index]
    name = f"fz-hostile-{index}"
    body = {"PipelineName": name, "PipelineDefinition": text, "RoleArn": ROLE,
            "ClientRequestToken": str(uuid.uuid4())}  # fmt: skip
    reply = target.wire.api("CreatePipeline", json.dumps(body).encode())
    target.count("CreatePipeline", reply)
    context = f"[{target.backend}] hostile definition {text[:300]!r}"
    answer = check_reply(reply, "CreatePipeline", context)
    if reply.status != 200:
        assert answer["__type"] == "ValidationException", context
        assert answer["Message"].startswith("Invalid pipeline definition"), context
        return
    learn(target, "CreatePipeline", body, answer)
    start = {"PipelineName": name, "ClientRequestToken": str(uuid.uuid4())}
    reply = target.wire.api("StartPipelineExecution", json.dumps(start).encode())
    target.count("StartPipelineExecution", reply)
    answer = check_reply(reply, "StartPipelineExecution", context)
    if reply.status == 200:
        learn(target, "StartPipelineExecution", start, answer)
        arn = answer["PipelineExecutionArn"]
        for operation in ("ListPipelineExecutionSteps", "ListPipelineParametersForExecution",
                          "DescribePipelineDefinitionForExecution"):  # fmt: skip
            reply = target.wire.api(operation, json.dumps({"PipelineExecutionArn": arn}).encode())
            target.count(operation, reply)
            check_reply(reply, operation, context)
    target.alive()


# ----------------------------------------------------------------------- raw HTTP


def _api_headers(**overrides: str | None) -> list[tuple[str, str]]:
    base: dict[str, str | None] = {
        "Content-Type": JSON_TYPE,
        "X-Amz-Target": "SageMaker.ListPipelines",
        "X-Amz-Date": "20240101T000000Z",
        "Authorization": AUTH,
    }
    base.update(overrides)
    return [(k, v) for k, v in base.items() if v is not None]


def _nested(depth: int, leaf: str = "1") -> bytes:
    return ("[" * depth + leaf + "]" * depth).encode()


def _nested_objects(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


@dataclass(frozen=True)
class Raw:
    name: str
    body: bytes | None = b"{}"
    headers: tuple[tuple[str, str], ...] = tuple(_api_headers())
    method: str = "POST"
    path: str = "/"
    code: str | None = None  # the expected error code, "200" for success, None: any
    operation: str | None = "ListPipelines"
    close_after: bool = False  # the case leaves the connection unusable (a lying length)


def _each(label: str, values: list[Any], **fields: Any) -> list[Raw]:
    """One case per value; `fields` name which Raw field the value fills ("body" default)."""
    slot = fields.pop("slot", "body")
    cases = []
    for value in values:
        shown = value[:40] if isinstance(value, str | bytes) else value
        if slot == "body":
            cases.append(Raw(f"{label} {shown!r}", body=value, **fields))
        elif slot == "path":
            cases.append(Raw(f"{label} {shown!r}", path=value, **fields))
        else:  # a header name
            cases.append(Raw(f"{label} {shown!r}", headers=tuple(_api_headers(**{slot: value})), **fields))  # fmt: skip
    return cases


SERIALIZATION = "SerializationException"
VALIDATION = "ValidationException"
UNKNOWN = "UnknownOperationException"
FAULTS_PUT = {"headers": (), "method": "PUT", "path": "/_sagepipe/faults", "operation": None}


def _raw_cases() -> list[Raw]:
    # fmt: off
    return [
        # Bodies that are not JSON, or not an object.
        *_each("malformed json", [
            b"{", b"}", b'{"PipelineNamePrefix": }', b"{'a': 1}", b'{"a":1,}', b"\x00", b"nul",
            b"{}x", b"{} {}", b'{"a" 1}', b'"unterminated', b'{"a":"\x01"}', b"0x10", b"[1,]",
            b'{"a":01}', b"\\u0000", b'{"a": NaN}', b'{"a": -Infinity}', b"\xef\xbb\xbf{}",
        ], code=SERIALIZATION),
        *_each("non-object", [b"[]", b'"str"', b"1", b"-1.5e3", b"null", b"true", b"[{}]"],
               code=SERIALIZATION),
        Raw("empty body is {}", b"", code="200"),
        Raw("blank body is {}", b" \r\n\t", code="200"),
        Raw("empty body, required members", b"", tuple(_api_headers(**{"X-Amz-Target": "SageMaker.DescribePipeline"})),
            code=VALIDATION, operation="DescribePipeline"),
        Raw("5,000-digit number", b'{"MaxResults": ' + b"9" * 5000 + b"}", code=SERIALIZATION),
        Raw("huge exponent", b'{"MaxResults": 1e999999}', code=VALIDATION),
        Raw("duplicate keys", b'{"MaxResults": 500, "MaxResults": 5}'),
        # Content types: the protocol is told by X-Amz-Target, whatever the type says.
        *_each("content-type", [
            "text/plain", "application/json", "multipart/form-data; boundary=x", "",
            "application/x-amz-json-1.0", "application/x-www-form-urlencoded",
            "application/x-amz-json-1.1; charset=latin-1", None,
        ], slot="Content-Type", code="200"),
        # Targets. HTTP strips the blanks around a header value.
        *_each("target", [
            None, "", "SageMaker.", "SageMaker", "sagemaker.ListPipelines",
            "SageMaker.listPipelines", "Other.ListPipelines", "SageMaker.ListPipelines.Extra",
            "SageMaker.CreateTrainingJob", "SageMaker.__init__", "SageMaker.list_pipelines",
            "SageMaker." + "A" * 10000, "SageMaker.Lïst", "SageMaker_20170724.ListPipelines",
            "SageMaker.List\xe9",
        ], slot="X-Amz-Target", code=UNKNOWN, operation=None),
        Raw("target with blanks", headers=tuple(_api_headers(**{"X-Amz-Target": " SageMaker.ListPipelines "})),
            code="200"),
        Raw("two targets", headers=(*_api_headers(), ("X-Amz-Target", "SageMaker.DeletePipeline"))),
        # Sizes.
        Raw("body over the limit", b" " * (MAX_BODY + 1), code="RequestEntityTooLarge"),
        Raw("body at the limit", b"{}" + b" " * (MAX_BODY - 2), code="200"),
        Raw("declared length over the limit", None, tuple(_api_headers(**{"Content-Length": str(10**12)})),
            code="RequestEntityTooLarge", close_after=True),
        Raw("huge string member", json.dumps({"PipelineNamePrefix": "a" * MAX_BODY}).encode(),
            code="RequestEntityTooLarge"),
        # Depth.
        Raw("10,000 nested arrays", _nested(10_000), code=VALIDATION),
        Raw("10,000 nested objects", _nested_objects(10_000), code=VALIDATION),
        Raw("100,000 unbalanced brackets", b"[" * 100_000, code=VALIDATION),
        Raw("deep member value", b'{"PipelineNamePrefix": ' + _nested(10_000) + b"}", code=VALIDATION),
        Raw("65 levels", b'{"a":' + _nested(64) + b"}", code=VALIDATION),
        # Encodings: strict UTF-8, and JSON strings must be Unicode.
        *_each("bad utf-8", [
            b'{"PipelineNamePrefix": "\xff\xfe"}', b'{"PipelineNamePrefix": "\xed\xa0\x80"}',
            b'{"PipelineNamePrefix": "\xc0\xaf"}', b'{"PipelineNamePrefix": "\xe2\x82"}',
            b'{"PipelineNamePrefix": "\xf4\x90\x80\x80"}', b"\xff\xfe{\x00}\x00", b"\x00{\x00}",
            b'{"\xff": 1}',
        ], code=SERIALIZATION),
        *_each("lone surrogate", [
            b'{"PipelineNamePrefix": "\\ud800"}', b'{"PipelineNamePrefix": "a\\udfffb"}',
            b'{"\\ud800": 1}', b'{"PipelineNamePrefix": "\\uDBFF"}',
        ], code=SERIALIZATION),
        Raw("surrogate pair", b'{"PipelineNamePrefix": "\\ud83d\\ude00"}', code=VALIDATION),
        Raw("escaped NUL", b'{"PipelineNamePrefix": "a\\u0000"}', code=VALIDATION),
        # Methods and paths.
        *(Raw(f"{m} /", None if m in ("GET", "HEAD") else b"{}", method=m, code=UNKNOWN,
              operation=None) for m in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
        *_each("path", [
            "/foo", "//", "/%00", "/..%2f..", "/%ZZ", "/" + "a" * 10000, "/%C3%A9", "/./",
            "/_sagepipe", "/_sagepipe/", "/_sagepipe/nothing", "/_sagepipe/health/x",
            "/_sagepipe/executions/ABC/attempts", "/_sagepipe/executions/" + "a" * 65 + "/attempts",
        ], slot="path", code=UNKNOWN, operation=None),
        Raw("path with a query", path="/?Action=ListPipelines", code="200"),
        Raw("unknown execution", None, (), "GET", "/_sagepipe/executions/abcdefabcdef/attempts",
            "ResourceNotFound", None),
        Raw("unknown retry plan", None, (), "GET", "/_sagepipe/executions/zzzz/retry-plan",
            "ResourceNotFound", None),
        # Authorization: only the credential scope is read; anything else is refused.
        *_each("authorization", [
            "garbage", "Bearer abc", "Basic Zm9vOmJhcg==", "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=",
            "AWS4-HMAC-SHA256 Credential=AKID/2024/us-east-1/sagemaker/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/US-EAST-1/sagemaker/aws4_request",
            "AWS4-HMAC-SHA256 Credential=/20240101/us-east-1/sagemaker/aws4_request",
            "AWS4-HMAC-SHA256 " + "x" * 7000,
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/ü/sagemaker/aws4_request",
        ], slot="Authorization", code="AccessDeniedException"),
        *_each("anonymous", ["", None], slot="Authorization", code="200"),
        Raw("other region", headers=tuple(_api_headers(Authorization=AUTH.replace("us-east-1", "eu-west-1"))),
            code="200"),
        Raw("two authorizations", headers=(*_api_headers(), ("Authorization", "garbage"))),
        # The extension API: hostile fault documents are refused, never half-applied.
        *_each("faults", [
            b'{"rules": "x"}', b'{"rules": [1]}', b'{"rules": [{"fail_attempts": "x"}]}',
            b'{"rules": [{"bogus": 1}]}', b'{"rules": [{"fail_attempts": -5}]}', b"[]", b"null",
            b'{"rules": [{"duration_seconds": -1}]}', b'{"rules": [{"outputs": 5}]}',
            b'{"rules": [{"fail_attempts": 1e999}]}', b'{"rules": [{"duration_seconds": 1e999}]}',
            b'{"rules": [{"duration_seconds": NaN}]}', b'{"rules": [' + b"{}," * 100_000 + b"{}]}",
        ], code=VALIDATION, **FAULTS_PUT),
        *_each("faults", [
            b'{"rules": [{"fail_attempts": null}]}', b'{"rules": [{"duration_seconds": null}]}',
            b'{"rules": [{"step": "' + b"x" * 100_000 + b'"}]}',
        ], code="200", **FAULTS_PUT),
        *_each("faults", [b"{", _nested(10_000), b"\xff"], code=SERIALIZATION, **FAULTS_PUT),
    ]
    # fmt: on


RAW_CASES = _raw_cases()


@pytest.mark.parametrize("case", RAW_CASES, ids=[c.name[:60] for c in RAW_CASES])
def test_raw_http(target: Target, case: Raw) -> None:
    reply = target.wire.send(case.method, case.path, case.body, list(case.headers))
    if case.close_after:
        target.wire.close()
    target.count(case.operation or "-", reply)
    context = f"[{target.backend}] raw case {case.name!r}"
    answer = check_reply(reply, case.operation, context, head=case.method == "HEAD")
    if case.code is not None and case.method != "HEAD":
        got = "200" if reply.status == 200 else answer["__type"]
        assert got == case.code, f"{context}: expected {case.code}, got {reply.describe()}"
    if case.path == "/_sagepipe/faults":
        status, body = target.server.extension("GET", "/_sagepipe/faults")
        target.server.set_faults(FAULTS)
        if reply.status != 200:
            assert body == target.faults, f"{context}: a refused document changed the rules"
    target.alive()


def test_raw_socket(target: Target) -> None:
    """Requests http.client cannot send; whatever the HTTP layer answers, it is no 5xx and the
    server lives on."""
    port = target.server.port
    requests = [
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST http://evil.example/ HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.ListPipelines\r\nContent-Length: 2\r\n\r\n{}",
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}",  # short body, then EOF
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GARBAGE\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
        b"POST / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 100_000 + b"\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(5000)) + b"\r\n",
        b"POST / HTTP/1.0\r\nX-Amz-Target: SageMaker.ListPipelines\r\nContent-Length: 2\r\n\r\n{}",
    ]  # fmt: skip
    for data in requests:
        answer = raw_exchange(port, data, timeout=10)
        target.cases += 1
        status_line = answer.split(b"\r\n", 1)[0]
        if status_line.startswith(b"HTTP/"):
            status = int(status_line.split()[1])
            assert status < 500, f"{data[:80]!r} -> {answer[:300]!r}"
        target.alive()


# -------------------------------------------------------------------- random bodies

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _member_names(operation: str) -> list[str]:
    return list(operation_model(operation).input_shape.members)  # type: ignore[attr-defined]


@fuzz_settings(EXAMPLES * 3)
@given(data=st.data())
def _random_bodies(target: Target, data: st.DataObject) -> None:
    operation = data.draw(st.sampled_from(IN_SCOPE), label="operation")
    names = _member_names(operation)
    body = data.draw(
        st.one_of(
            st.binary(max_size=200),  # bytes
            st.dictionaries(st.sampled_from(names), JSON_VALUES, max_size=5).map(
                lambda d: json.dumps(d).encode()
            ),  # the right names, anything as values
            JSON_VALUES.map(lambda v: json.dumps(v).encode()),  # any JSON at all
        ),
        label="body",
    )
    reply = target.wire.api(operation, body)
    target.count(operation, reply)
    answer = check_reply(reply, operation, f"[{target.label}] {operation} {body[:500]!r}")
    if reply.status == 200:  # a blank body is {} (botocore sends "{}", others nothing)
        learn(target, operation, json.loads(body) if body.strip() else {}, answer)
    target.alive()


def test_random_bodies(target: Target) -> None:
    _random_bodies(target)


# ----------------------------------------------------------------- consistency (last)


def _pages(wire: Wire, operation: str, params: dict[str, Any], key: str) -> list[dict]:
    items: list[dict] = []
    token = None
    for _ in range(10_000):
        status, body = wire.call(operation, {**params, **({"NextToken": token} if token else {})})
        assert status == 200, body
        assert len(body[key]) <= params.get("MaxResults", 100)
        items += body[key]
        token = body.get("NextToken")
        if not token:
            return items
    raise AssertionError(f"{operation} pagination never ends")


def test_zz_data_is_consistent_after_the_fuzz(target: Target) -> None:
    wire, ledger = target.wire, target.ledger
    print(f"\n[fuzz {target.backend}] consistency after {target.cases} cases")
    # 1. Nothing is stuck: answer every waiting Callback step, then every execution ends.
    deadline = time.time() + 60
    pending = set(ledger.executions)
    for arn in sorted(pending):  # the long ones would otherwise run on for a while
        wire.call("StopPipelineExecution", {"PipelineExecutionArn": arn, "ClientRequestToken": str(uuid.uuid4())})  # fmt: skip
    while pending and time.time() < deadline:
        for token in waiting_callbacks(target, pending).values():
            wire.call("SendPipelineExecutionStepFailure", {"CallbackToken": token})
        for arn in sorted(pending):
            status, body = wire.call("DescribePipelineExecution", {"PipelineExecutionArn": arn})
            if status != 200:
                assert body["__type"] == "ResourceNotFound", body
                assert arn.split("/execution/")[0] in ledger.deleted, f"{arn} vanished"
                pending.discard(arn)
            elif body["PipelineExecutionStatus"] not in RUNNING:
                pending.discard(arn)
        time.sleep(0.1)
    assert not pending, f"executions stuck in Executing/Stopping: {sorted(pending)[:10]}"

    # 2. Every pipeline a 200 CreatePipeline made, and no 200 DeletePipeline removed, is there.
    alive = {arn: name for arn, name in ledger.created.items() if arn not in ledger.deleted}
    for arn, name in alive.items():
        described = wire.ok("DescribePipeline", {"PipelineName": arn})
        assert described["PipelineName"] == name

    # 3. ListPipelines pagination visits each pipeline exactly once, in every order.
    orders = [{}, {"SortOrder": "Ascending"}, {"SortBy": "Name"},
              {"SortBy": "Name", "SortOrder": "Ascending"}]  # fmt: skip
    listings = []
    for order in orders:
        rows = _pages(wire, "ListPipelines", {**order, "MaxResults": 7}, "PipelineSummaries")
        arns = [r["PipelineArn"] for r in rows]
        assert len(arns) == len(set(arns)), f"{order}: a pipeline listed twice"
        missing = set(alive) - set(arns)
        assert not missing, f"{order}: created pipelines not listed: {sorted(missing)[:5]}"
        listings.append(set(arns))
    assert all(s == listings[0] for s in listings), "the orders list different pipelines"
    default_page = wire.ok("ListPipelines", {})["PipelineSummaries"]
    assert len(default_page) <= 100

    # 4. Every execution of a living pipeline is listed once by ListPipelineExecutions.
    by_pipeline: dict[str, set[str]] = {}
    for arn in ledger.executions:
        by_pipeline.setdefault(arn.split("/execution/")[0], set()).add(arn)
    for pipeline, executions in by_pipeline.items():
        if pipeline in ledger.deleted:
            continue
        rows = _pages(
            wire, "ListPipelineExecutions", {"PipelineName": pipeline, "MaxResults": 5},
            "PipelineExecutionSummaries",
        )  # fmt: skip
        listed = [r["PipelineExecutionArn"] for r in rows]
        assert len(listed) == len(set(listed)), f"{pipeline}: an execution listed twice"
        assert executions <= set(listed), f"{pipeline}: executions missing from the list"
    target.alive()
