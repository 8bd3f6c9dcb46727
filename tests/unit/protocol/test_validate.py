"""Request validation against the botocore model, with AWS's message wording."""

from __future__ import annotations

import time

import pytest

from sagepipe.errors import UnknownOperation, ValidationError
from sagepipe.protocol import validate
from sagepipe.protocol.model import operation, service_model
from sagepipe.protocol.validate import compile_pattern, validate_input

PIPELINE_OPS = [
    "CreatePipeline",
    "UpdatePipeline",
    "DescribePipeline",
    "DeletePipeline",
    "ListPipelines",
    "ListPipelineVersions",
    "UpdatePipelineVersion",
    "StartPipelineExecution",
    "DescribePipelineExecution",
    "ListPipelineExecutions",
    "ListPipelineExecutionSteps",
    "StopPipelineExecution",
    "RetryPipelineExecution",
    "UpdatePipelineExecution",
    "DescribePipelineDefinitionForExecution",
    "ListPipelineParametersForExecution",
    "SendPipelineExecutionStepSuccess",
    "SendPipelineExecutionStepFailure",
    "AddTags",
    "ListTags",
    "DeleteTags",
]

EXEC_ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/my-pipeline/execution/abc123"
TOKEN = "0123456789abcdef0123456789abcdef"  # IdempotencyToken: min length 32


def error(op: str, body: object) -> str:
    with pytest.raises(ValidationError) as info:
        validate_input(op, body)
    return info.value.message


def create_body(**extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "PipelineName": "my-pipeline",
        "ClientRequestToken": TOKEN,
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "PipelineDefinition": '{"Version": "2020-12-01",\n "Steps": []}',
    }
    body.update(extra)
    return body


# --- valid bodies ------------------------------------------------------------------------


def test_valid_create_pipeline_passes() -> None:
    validate_input(
        "CreatePipeline",
        create_body(
            PipelineDisplayName="My-Pipeline-1",
            PipelineDescription="nightly training",
            Tags=[{"Key": "team", "Value": "ml platform"}, {"Key": "équipe", "Value": ""}],
            ParallelismConfiguration={"MaxParallelExecutionSteps": 4},
        ),
    )


def test_valid_retry_pipeline_execution_passes() -> None:
    validate_input(
        "RetryPipelineExecution",
        {
            "PipelineExecutionArn": EXEC_ARN,
            "ClientRequestToken": TOKEN,
            "ParallelismConfiguration": {"MaxParallelExecutionSteps": 1},
        },
    )


def test_explicit_null_for_optional_member_is_absent() -> None:
    validate_input("ListPipelines", {"NextToken": None, "MaxResults": None})


def test_timestamps_accept_epoch_numbers_and_iso_strings() -> None:
    validate_input("ListPipelines", {"CreatedAfter": 1732460400, "CreatedBefore": 1732460400.5})
    validate_input("ListPipelines", {"CreatedAfter": "2024-11-24T15:00:00Z"})


# --- individual constraints --------------------------------------------------------------


def test_required_member_missing_exact_message() -> None:
    assert error("DescribePipeline", {}) == (
        "1 validation error detected: Value null at 'pipelineName' failed to satisfy "
        "constraint: Member must not be null"
    )


def test_required_member_given_as_null() -> None:
    assert "Value null at 'pipelineExecutionArn'" in error(
        "DescribePipelineExecution", {"PipelineExecutionArn": None}
    )


def test_pattern_exact_message() -> None:
    assert error("CreatePipeline", create_body(PipelineName="abc_")) == (
        "1 validation error detected: Value 'abc_' at 'pipelineName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$"
    )


@pytest.mark.parametrize("name", ["abc-", "abc def", "-abc", "abc\n"])
def test_pattern_must_match_the_whole_value(name: str) -> None:
    # Each value starts with a valid name; a prefix match must not be enough.
    assert "regular expression pattern" in error("CreatePipeline", create_body(PipelineName=name))


def test_pattern_digits_are_ascii_only_as_in_java() -> None:
    body = create_body(RoleArn="arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/x")  # Arabic-Indic digits
    assert "at 'roleArn'" in error("CreatePipeline", body)


def test_string_too_long() -> None:
    msg = error("CreatePipeline", create_body(PipelineName="a" * 257))
    # Over-long values skip the pattern, so this is the one error.
    assert msg == (
        f"1 validation error detected: Value '{'a' * 200}...' at 'pipelineName' failed to "
        "satisfy constraint: Member must have length less than or equal to 256"
    )


def test_string_too_short() -> None:
    msg = error(
        "RetryPipelineExecution", {"PipelineExecutionArn": EXEC_ARN, "ClientRequestToken": "x"}
    )
    assert msg == (
        "1 validation error detected: Value 'x' at 'clientRequestToken' failed to satisfy "
        "constraint: Member must have length greater than or equal to 32"
    )


def test_enum() -> None:
    assert error("ListPipelines", {"SortOrder": "Up"}) == (
        "1 validation error detected: Value 'Up' at 'sortOrder' failed to satisfy "
        "constraint: Member must satisfy enum value set: [Ascending, Descending]"
    )


@pytest.mark.parametrize(
    ("value", "constraint"),
    [
        (0, "Member must have value greater than or equal to 1"),
        (101, "Member must have value less than or equal to 100"),
    ],
)
def test_integer_bounds(value: int, constraint: str) -> None:
    assert error("ListPipelines", {"MaxResults": value}) == (
        f"1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy "
        f"constraint: {constraint}"
    )


@pytest.mark.parametrize("value", [1, 100])
def test_integer_bounds_are_inclusive(value: int) -> None:
    validate_input("ListPipelines", {"MaxResults": value})


def test_list_too_long() -> None:
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    msg = error("CreatePipeline", create_body(Tags=tags))
    assert msg.startswith("1 validation error detected: Value '[{")
    assert msg.endswith(
        "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"
    )


def test_list_too_short() -> None:
    msg = error(
        "DeleteTags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:x", "TagKeys": []}
    )
    assert msg == (
        "1 validation error detected: Value '[]' at 'tagKeys' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


@pytest.mark.parametrize(
    ("value", "shown"), [(True, "true"), ("5", "5"), (5.0, "5.0"), (2**40, str(2**40))]
)
def test_wrong_type_for_integer(value: object, shown: str) -> None:
    assert error("ListPipelines", {"MaxResults": value}) == (
        f"1 validation error detected: Value '{shown}' at 'maxResults' failed to satisfy "
        "constraint: Member must be of type integer"
    )


@pytest.mark.parametrize(
    ("member", "value", "kind"),
    [
        ("PipelineName", 5, "string"),
        ("Tags", {"Key": "a"}, "list"),
        ("ParallelismConfiguration", [1], "structure"),
    ],
)
def test_wrong_types(member: str, value: object, kind: str) -> None:
    assert f"Member must be of type {kind}" in error(
        "CreatePipeline", create_body(**{member: value})
    )


@pytest.mark.parametrize("value", [True, "yesterday", float("nan"), 1e300, [1]])
def test_wrong_type_for_timestamp(value: object) -> None:
    assert "Member must be of type timestamp" in error("ListPipelines", {"CreatedAfter": value})


def test_null_list_element() -> None:
    msg = error(
        "DeleteTags",
        {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:x", "TagKeys": [None]},
    )
    assert (
        "Value null at 'tagKeys.1.member' failed to satisfy constraint: Member must not be null"
        in msg
    )


def test_unknown_member_top_level() -> None:
    assert error("DescribePipeline", {"PipelineName": "p", "Bogus": 1}) == (
        "1 validation error detected: Value '1' at 'Bogus' failed to satisfy constraint: "
        "Member is not a known member of the DescribePipelineRequest structure"
    )


def test_member_names_are_case_sensitive() -> None:
    msg = error("DescribePipeline", {"pipelineName": "p"})
    assert msg.startswith("2 validation errors detected: Value null at 'pipelineName'")
    assert "Value 'p' at 'pipelineName' failed to satisfy constraint: Member is not a known" in msg


def test_unknown_member_nested() -> None:
    body = create_body(
        Tags=[{"Key": "a", "Value": "b"}, {"Key": "c", "Value": "d", "Extra": {"x": [1]}}]
    )
    assert error("CreatePipeline", body) == (
        "1 validation error detected: Value '{\"x\":[1]}' at 'tags.2.member.Extra' failed to "
        "satisfy constraint: Member is not a known member of the Tag structure"
    )


def test_nested_paths_use_aws_list_style() -> None:
    body = {
        "PipelineName": "p",
        "ClientRequestToken": TOKEN,
        "PipelineParameters": [{"Name": "ok", "Value": "1"}, {"Name": "bad name", "Value": "2"}],
    }
    msg = error("StartPipelineExecution", body)
    assert "Value 'bad name' at 'pipelineParameters.2.member.name'" in msg


# --- several errors ----------------------------------------------------------------------


def test_multiple_errors_are_counted_and_joined() -> None:
    assert error("ListPipelines", {"MaxResults": 0, "SortOrder": "Up"}) == (
        "2 validation errors detected: "
        "Value 'Up' at 'sortOrder' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Ascending, Descending]; "
        "Value '0' at 'maxResults' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_all_errors_of_a_body_are_reported() -> None:
    body = {
        "PipelineName": "bad_name",
        "RoleArn": "nope",
        "Tags": [{"Key": "k"}],
        "Unknown": True,
    }
    msg = error("CreatePipeline", body)
    assert msg.startswith("6 validation errors detected: ")
    for part in (
        "at 'pipelineName' failed to satisfy constraint: Member must satisfy regular",
        "Value null at 'clientRequestToken'",
        "Value 'nope' at 'roleArn' failed to satisfy constraint: Member must have length",
        "Value 'nope' at 'roleArn' failed to satisfy constraint: Member must satisfy regular",
        "Value null at 'tags.1.member.value'",
        "Value 'true' at 'Unknown'",
    ):
        assert part in msg


def test_error_count_is_capped() -> None:
    msg = error("StartPipelineExecution", {f"X{i}": i for i in range(1000)} | {"PipelineName": "p"})
    assert msg.startswith(f"{validate.MAX_ERRORS} validation errors detected: ")


# --- hostile input -----------------------------------------------------------------------


def deep_list(depth: int) -> list[object]:
    root: list[object] = []
    node = root
    for _ in range(depth):
        child: list[object] = []
        node.append(child)
        node = child
    return root


def test_deeply_nested_recursive_shape_is_refused_not_crashed() -> None:
    expr: dict[str, object] = {}
    root = expr
    for _ in range(10_000):  # SearchExpression is recursive through SubExpressions
        child: dict[str, object] = {}
        expr["SubExpressions"] = [child]
        expr = child
    msg = error("Search", {"Resource": "Pipeline", "SearchExpression": root})
    assert msg.startswith('1 validation error detected: Value \'[{"SubExpressions":[{')
    assert msg.endswith(f"Member must not be nested more than {validate.MAX_DEPTH} levels deep")
    assert len(msg) < 2000  # the 64-level path itself is most of it


@pytest.mark.parametrize("member", ["PipelineName", "Bogus"])
def test_deeply_nested_value_is_quoted_briefly(member: str) -> None:
    msg = error("DescribePipeline", {"PipelineName": "p", member: deep_list(100_000)})
    path = member[0].lower() + member[1:] if member == "PipelineName" else member
    assert f"Value '{'[' * 200}...' at '{path}' failed" in msg


def test_huge_list_is_linear_and_bounded() -> None:
    keys = ["k"] * 200_000
    start = time.perf_counter()
    msg = error(
        "DeleteTags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:x", "TagKeys": keys}
    )
    assert time.perf_counter() - start < 2
    assert msg.startswith('1 validation error detected: Value \'["k","k"')


def test_non_object_body() -> None:
    for body in ([], "x", None, 1):
        assert error("ListPipelines", body) == "The request body must be a JSON object."


def test_unknown_operation() -> None:
    assert operation("NoSuchOperation") is None
    with pytest.raises(UnknownOperation):
        validate_input("NoSuchOperation", {})


def test_validation_is_fast() -> None:
    body = {"PipelineExecutionArn": EXEC_ARN}
    validate_input("DescribePipelineExecution", body)
    runs = 2000
    start = time.perf_counter()
    for _ in range(runs):
        validate_input("DescribePipelineExecution", body)
    assert (time.perf_counter() - start) / runs < 50e-6


# --- patterns ----------------------------------------------------------------------------


def reachable_patterns(op_names: list[str]) -> dict[str, str]:
    """shape name -> pattern, for every shape reachable from the operations' inputs."""
    found: dict[str, str] = {}
    seen: set[str] = set()
    todo = [operation(name).input_shape for name in op_names]  # type: ignore[union-attr]
    while todo:
        shape = todo.pop()
        if shape is None or shape.name in seen:
            continue
        seen.add(shape.name)
        if "pattern" in shape.metadata:
            found[shape.name] = shape.metadata["pattern"]
        todo.extend(getattr(shape, "members", {}).values())
        todo.extend(
            getattr(shape, attr) for attr in ("member", "key", "value") if hasattr(shape, attr)
        )
    return found


def test_every_pipeline_input_pattern_compiles() -> None:
    patterns = reachable_patterns(PIPELINE_OPS)
    assert "TagKey" in patterns and "PipelineName" in patterns
    assert [name for name, p in patterns.items() if compile_pattern(p) is None] == []


def test_every_pattern_of_the_whole_model_compiles() -> None:
    model = service_model()
    patterns = {model.shape_for(n).metadata.get("pattern") for n in model.shape_names}
    assert [p for p in patterns if p and compile_pattern(p) is None] == []


@pytest.mark.parametrize(
    ("java", "good", "bad"),
    [
        # \p{..} Unicode classes (TagKey)
        (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "Équipe 2 ٣:x", "a!"),
        # quantified anchor, which Java accepts and Python does not
        (r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,128}", "abc", "a#"),
        # astral characters written as UTF-16 surrogate pairs
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "a\U0001f600\t", "\x01"),
        # POSIX class
        (r"arn:[\p{Alnum}\-]+:x", "arn:aws-cn:x", "arn:é:x"),
        (r"\P{L}+", "123", "a"),
        (r"\Qa.b\E", "a.b", "axb"),
    ],
)
def test_java_pattern_translation(java: str, good: str, bad: str) -> None:
    rx = compile_pattern(java)
    assert rx is not None
    assert rx.fullmatch(good)
    assert not rx.fullmatch(bad)


def test_untranslatable_pattern_is_skipped() -> None:
    assert compile_pattern(r"[a-z&&[^b]]") is None
    assert compile_pattern(r"\p{InGreek}") is None


def test_every_operation_of_the_model_builds_a_validator() -> None:
    # Recursive shapes, maps, unions, blobs...: nothing in the model may break the builder.
    for name in service_model().operation_names:
        try:
            validate_input(name, {})
        except ValidationError as e:
            assert e.message.endswith("Member must not be null")
