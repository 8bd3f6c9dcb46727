from dataclasses import dataclass, field

import pytest

from sagepipe.domain.expressions import (
    ExpressionError,
    PropertyFileRef,
    check_references,
    parse_get,
    parse_path,
    property_file_names,
    references,
    resolve,
)


@dataclass
class Ctx:
    parameters: dict = field(default_factory=dict)
    execution_vars: dict = field(default_factory=dict)
    properties: dict = field(default_factory=dict)
    outcomes: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def step_properties(self, step):
        return self.properties.get(step)

    def step_outcome(self, step):
        return self.outcomes.get(step)

    def property_file(self, step, file_name):
        return self.files.get((step, file_name))


PROCESSING = {
    "ProcessingJobName": "pipelines-abc-Prep-xyz",
    "ProcessingOutputConfig": {
        "Outputs": [
            {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}},
            {"OutputName": "test", "S3Output": {"S3Uri": "s3://b/test"}},
        ]
    },
}
TRAINING = {
    "TrainingJobName": "pipelines-abc-Train-xyz",
    "ModelArtifacts": {"S3ModelArtifacts": "s3://b/model.tar.gz"},
    "FinalMetricDataList": [
        {"MetricName": "val:acc", "Value": 0.91},
        {"MetricName": "train:loss", "Value": 0.2},
    ],
    "HyperParameters": {"epochs": "10"},
}


@pytest.fixture
def ctx():
    return Ctx(
        parameters={"Threshold": 0.8, "Instances": 2, "Flag": True, "Bucket": "b"},
        execution_vars={
            "PipelineExecutionId": "abc123def456",
            "PipelineName": "my-pipe",
            "StartDateTime": "2024-01-01T00:00:00Z",
        },
        properties={
            "Prep": PROCESSING,
            "Train": TRAINING,
            "Lam": {"OutputParameters": [{"Name": "x", "Value": "42"}]},
        },
        outcomes={"Check": True},
        files={("Eval", "EvalReport"): {"metrics": {"mse": {"value": 3.5}}, "l": [{"a": 1}]}},
    )


def get(path):
    return {"Get": path}


def test_parameters_and_execution_variables(ctx):
    assert resolve(get("Parameters.Threshold"), ctx) == 0.8
    assert resolve(get("Execution.PipelineExecutionId"), ctx) == "abc123def456"
    with pytest.raises(ExpressionError, match="Unknown parameter 'Nope'"):
        resolve(get("Parameters.Nope"), ctx)
    with pytest.raises(ExpressionError, match="execution variable 'PipelineArn'"):
        resolve(get("Execution.PipelineArn"), ctx)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri", "s3://b/train"),
        ('Steps.Prep.ProcessingOutputConfig.Outputs["test"].S3Output.S3Uri', "s3://b/test"),
        ("Steps.Prep.ProcessingOutputConfig.Outputs[1].S3Output.S3Uri", "s3://b/test"),
        ("Steps.Prep.ProcessingJobName", "pipelines-abc-Prep-xyz"),
        ("Steps.Train.FinalMetricDataList['val:acc'].Value", 0.91),
        ("Steps.Train.ModelArtifacts.S3ModelArtifacts", "s3://b/model.tar.gz"),
        ("Steps.Train.HyperParameters['epochs']", "10"),
        ("Steps.Lam.OutputParameters['x']", "42"),
        ("Steps.Check.Outcome", True),
    ],
)
def test_step_properties(ctx, path, expected):
    assert resolve(get(path), ctx) == expected


def test_output_parameters_as_plain_mapping(ctx):
    ctx.properties["Cb"] = {"OutputParameters": {"x": "v"}}
    assert resolve(get("Steps.Cb.OutputParameters['x']"), ctx) == "v"


def test_missing_property_names_step_and_path(ctx):
    with pytest.raises(ExpressionError, match=r"Step 'Prep' has no property .*Outputs\['nope'\]"):
        resolve(get("Steps.Prep.ProcessingOutputConfig.Outputs['nope'].S3Output.S3Uri"), ctx)
    with pytest.raises(ExpressionError, match="Properties of step 'Other'"):
        resolve(get("Steps.Other.ProcessingJobName"), ctx)
    with pytest.raises(ExpressionError, match="Outcome of step 'Prep'"):
        resolve(get("Steps.Prep.Outcome"), ctx)


def test_property_file_marker(ctx):
    assert resolve(get("Steps.Eval.PropertyFiles.EvalReport"), ctx) == PropertyFileRef(
        "Eval", "EvalReport"
    )


def test_join(ctx):
    expr = {
        "Std:Join": {
            "On": "/",
            "Values": [
                "s3:/",
                get("Parameters.Bucket"),
                get("Execution.PipelineExecutionId"),
                get("Parameters.Instances"),
                get("Parameters.Flag"),
                False,
                {"Std:Join": {"On": "-", "Values": ["a", get("Parameters.Threshold")]}},
            ],
        }
    }
    assert resolve(expr, ctx) == "s3://b/abc123def456/2/true/false/a-0.8"


def test_json_get_property_file_forms(ctx):
    ref = get("Steps.Eval.PropertyFiles.EvalReport")
    assert resolve({"Std:JsonGet": {"PropertyFile": ref, "Path": "metrics.mse.value"}}, ctx) == 3.5
    assert (
        resolve({"Std:JsonGet": {"PropertyFile": ref, "Path": "$.metrics.mse.value"}}, ctx) == 3.5
    )
    assert resolve({"Std:JsonGet": {"PropertyFile": ref, "Path": "l[0].a"}}, ctx) == 1
    assert resolve({"Std:JsonGet": {"PropertyFile": ref, "Path": "metrics['mse']"}}, ctx) == {
        "value": 3.5
    }


def test_json_get_bare_file_name_uses_owner_hook(ctx):
    expr = {"Std:JsonGet": {"PropertyFile": "EvalReport", "Path": "metrics.mse.value"}}
    with pytest.raises(ExpressionError, match="'EvalReport' is not declared"):
        resolve(expr, ctx)
    ctx.property_file_owner = lambda name: "Eval"  # type: ignore[attr-defined]
    assert resolve(expr, ctx) == 3.5


def test_json_get_missing_file_names_step_and_file(ctx):
    expr = {"Std:JsonGet": {"PropertyFile": get("Steps.Eval.PropertyFiles.Other"), "Path": "a"}}
    with pytest.raises(ExpressionError, match="Property file 'Other' of step 'Eval'"):
        resolve(expr, ctx)
    ref = get("Steps.Eval.PropertyFiles.EvalReport")
    with pytest.raises(ExpressionError, match="EvalReport.*no property 'metrics.rmse'"):
        resolve({"Std:JsonGet": {"PropertyFile": ref, "Path": "metrics.rmse.value"}}, ctx)


def test_json_get_s3_uri(ctx):
    expr = {
        "Std:JsonGet": {
            "S3Uri": {"Std:Join": {"On": "/", "Values": ["s3://b", get("Parameters.Bucket")]}},
            "Path": "a.b",
        }
    }
    with pytest.raises(ExpressionError, match="S3Uri 's3://b/b'"):
        resolve(expr, ctx)
    ctx.read_s3_json = lambda uri: {"a": {"b": uri}}  # type: ignore[attr-defined]
    assert resolve(expr, ctx) == "s3://b/b"


def test_deep_resolution_keeps_plain_values(ctx):
    value = {
        "AppSpecification": {"ImageUri": "img", "ContainerArguments": ["--n", 3]},
        "Inputs": [
            {"S3Uri": get("Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri")}
        ],
        "Get": "not-an-expression-because-siblings",
        "Other": 1,
    }
    assert resolve(value, ctx) == {
        "AppSpecification": {"ImageUri": "img", "ContainerArguments": ["--n", 3]},
        "Inputs": [{"S3Uri": "s3://b/train"}],
        "Get": "not-an-expression-because-siblings",
        "Other": 1,
    }


def test_property_file_marker_cannot_be_joined(ctx):
    expr = {"Std:Join": {"On": "", "Values": [get("Steps.Eval.PropertyFiles.EvalReport")]}}
    with pytest.raises(ExpressionError, match="only be read with Std:JsonGet"):
        resolve(expr, ctx)


def test_parse_get_and_path():
    assert parse_get("Steps.S.A.B['x y'][2]").path == ("A", "B", "x y", 2)
    assert parse_get("Parameters.P").name == "P"
    assert parse_path("$['a'].b") == ("a", "b")
    for bad in ("Foo.X", "Steps.S", "Parameters.", "Parameters.A.B", 5):
        with pytest.raises(ExpressionError):
            parse_get(bad)
    with pytest.raises(ExpressionError, match="Invalid property path"):
        parse_path("a[x")


def test_references_nested():
    value = {
        "A": get("Steps.S1.ProcessingJobName"),
        "B": [
            {
                "Std:Join": {
                    "On": ",",
                    "Values": [get("Parameters.P"), get("Execution.PipelineName")],
                }
            },
            {
                "Std:JsonGet": {
                    "PropertyFile": get("Steps.S2.PropertyFiles.F"),
                    "Path": "x",
                }
            },
            {
                "Std:JsonGet": {
                    "S3Uri": get("Steps.S3.ModelArtifacts.S3ModelArtifacts"),
                    "Path": "y",
                }
            },
            {"Std:JsonGet": {"PropertyFile": "Bare", "Path": "z"}},
        ],
    }
    assert references(value) == ({"S1", "S2", "S3"}, {"P"}, {"PipelineName"})
    assert property_file_names(value) == ["Bare"]


def test_check_references():
    value = [get("Steps.B.X"), get("Steps.A.Y"), get("Steps.B.Z")]
    assert check_references(value, {"P"}, {"A", "B"}, {}) == ["B", "A", "B"]
    with pytest.raises(ExpressionError, match="undeclared parameter 'Q'"):
        check_references(get("Parameters.Q"), {"P"}, set(), {})
    with pytest.raises(ExpressionError, match="'Execution.Nope'"):
        check_references(get("Execution.Nope"), set(), set(), {})
    with pytest.raises(ExpressionError, match="unknown step 'C'"):
        check_references(get("Steps.C.X"), set(), {"A"}, {})
    with pytest.raises(ExpressionError, match="property file 'G' that step 'A'"):
        check_references(get("Steps.A.PropertyFiles.G"), set(), {"A"}, {"A": {"F": {}}})
