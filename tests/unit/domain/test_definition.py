import copy
import json

import pytest

from sagepipe.domain.definition import (
    Definition,
    Parameter,
    RetryPolicy,
    coerce_parameter,
    iso_duration_seconds,
    parameter_value_to_string,
    parse_definition,
)
from sagepipe.errors import ValidationError

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
TRAIN_URI = {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}

# Mirrors SageMaker Python SDK v2 ``Pipeline.definition()`` output (json.dumps of the request
# dicts built by steps.py, condition_step.py, lambda_step.py, callback_step.py, fail_step.py).
SDK_V2 = {
    "Version": "2020-12-01",
    "Metadata": {},
    "Parameters": [
        {"Name": "ProcessingInstanceCount", "Type": "Integer", "DefaultValue": 1},
        {"Name": "InstanceType", "Type": "String", "DefaultValue": "ml.m5.xlarge"},
        {"Name": "MseThreshold", "Type": "Float", "DefaultValue": 6.0},
        {"Name": "InputData", "Type": "String", "DefaultValue": "s3://bucket/abalone.csv"},
        {"Name": "SkipRegister", "Type": "Boolean", "DefaultValue": False},
    ],
    "PipelineExperimentConfig": {
        "ExperimentName": {"Get": "Execution.PipelineName"},
        "TrialName": {"Get": "Execution.PipelineExecutionId"},
    },
    "Steps": [
        {
            "Name": "Preprocess",
            "Type": "Processing",
            "Arguments": {
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceType": {"Get": "Parameters.InstanceType"},
                        "InstanceCount": {"Get": "Parameters.ProcessingInstanceCount"},
                        "VolumeSizeInGB": 30,
                    }
                },
                "AppSpecification": {
                    "ImageUri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.2-1",
                    "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/prep.py"],
                },
                "RoleArn": ROLE,
                "ProcessingInputs": [
                    {
                        "InputName": "input-1",
                        "AppManaged": False,
                        "S3Input": {
                            "S3Uri": {"Get": "Parameters.InputData"},
                            "LocalPath": "/opt/ml/processing/input",
                            "S3DataType": "S3Prefix",
                            "S3InputMode": "File",
                            "S3DataDistributionType": "FullyReplicated",
                            "S3CompressionType": "None",
                        },
                    }
                ],
                "ProcessingOutputConfig": {
                    "Outputs": [
                        {
                            "OutputName": "train",
                            "AppManaged": False,
                            "S3Output": {
                                "S3Uri": {
                                    "Std:Join": {
                                        "On": "/",
                                        "Values": [
                                            "s3://bucket",
                                            {"Get": "Execution.PipelineExecutionId"},
                                            "train",
                                        ],
                                    }
                                },
                                "LocalPath": "/opt/ml/processing/train",
                                "S3UploadMode": "EndOfJob",
                            },
                        },
                        {
                            "OutputName": "evaluation",
                            "AppManaged": False,
                            "S3Output": {
                                "S3Uri": "s3://bucket/evaluation",
                                "LocalPath": "/opt/ml/processing/evaluation",
                                "S3UploadMode": "EndOfJob",
                            },
                        },
                    ]
                },
            },
            "CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"},
            "PropertyFiles": [
                {
                    "PropertyFileName": "EvaluationReport",
                    "OutputName": "evaluation",
                    "FilePath": "evaluation.json",
                }
            ],
            "RetryPolicies": [
                {
                    "BackoffRate": 2.0,
                    "IntervalSeconds": 1,
                    "MaxAttempts": 3,
                    "ExceptionType": ["Step.SERVICE_FAULT", "Step.THROTTLING"],
                },
                {
                    "BackoffRate": 1.5,
                    "IntervalSeconds": 10,
                    "ExpireAfterMin": 60,
                    "ExceptionType": ["SageMaker.CAPACITY_ERROR"],
                },
            ],
        },
        {
            "Name": "Train",
            "Type": "Training",
            "Arguments": {
                "AlgorithmSpecification": {
                    "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7-1",
                    "TrainingInputMode": "File",
                },
                "OutputDataConfig": {"S3OutputPath": "s3://bucket/model"},
                "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
                "ResourceConfig": {
                    "VolumeSizeInGB": 30,
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.xlarge",
                },
                "RoleArn": ROLE,
                "InputDataConfig": [
                    {
                        "DataSource": {
                            "S3DataSource": {
                                "S3DataType": "S3Prefix",
                                "S3Uri": TRAIN_URI,
                                "S3DataDistributionType": "FullyReplicated",
                            }
                        },
                        "ContentType": "text/csv",
                        "ChannelName": "train",
                    }
                ],
                "HyperParameters": {"objective": "reg:linear", "num_round": "50"},
                "DebugHookConfig": {
                    "S3OutputPath": "s3://bucket/model",
                    "CollectionConfigurations": [],
                },
            },
            "RetryPolicies": [
                {
                    "BackoffRate": 2.0,
                    "IntervalSeconds": 1,
                    "ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR", "SageMaker.RESOURCE_LIMIT"],
                }
            ],
        },
        {
            "Name": "CheckMse",
            "Type": "Condition",
            "DependsOn": ["Train"],
            "Arguments": {
                "Conditions": [
                    {
                        "Type": "LessThanOrEqualTo",
                        "LeftValue": {
                            "Std:JsonGet": {
                                "PropertyFile": {
                                    "Get": "Steps.Preprocess.PropertyFiles.EvaluationReport"
                                },
                                "Path": "regression_metrics.mse.value",
                            }
                        },
                        "RightValue": {"Get": "Parameters.MseThreshold"},
                    }
                ],
                "IfSteps": [
                    {
                        "Name": "Notify",
                        "Type": "Lambda",
                        "Arguments": {
                            "model": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
                        },
                        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:notify",
                        "OutputParameters": [{"OutputName": "status", "OutputType": "String"}],
                    },
                    {
                        "Name": "Approve",
                        "Type": "Callback",
                        "Arguments": {"status": {"Get": "Steps.Notify.OutputParameters['status']"}},
                        "DependsOn": ["Notify"],
                        "SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
                        "OutputParameters": [{"OutputName": "approved", "OutputType": "Boolean"}],
                    },
                ],
                "ElseSteps": [
                    {
                        "Name": "MseTooHigh",
                        "Type": "Fail",
                        "Arguments": {
                            "ErrorMessage": {
                                "Std:Join": {
                                    "On": " ",
                                    "Values": [
                                        "Execution failed due to MSE >",
                                        {"Get": "Parameters.MseThreshold"},
                                    ],
                                }
                            }
                        },
                    }
                ],
            },
        },
    ],
}


def parse(doc) -> Definition:
    return parse_definition(json.dumps(doc))


def invalid(doc, match):
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(ValidationError, match=match) as info:
        parse_definition(text)
    return info.value


def minimal(*steps, parameters=None):
    doc = {"Version": "2020-12-01", "Steps": list(steps)}
    if parameters is not None:
        doc["Parameters"] = parameters
    return doc


def step(name, type_="Processing", **extra):
    return {"Name": name, "Type": type_, "Arguments": {}, **extra}


# ---------------------------------------------------------------- SDK forms


def test_sdk_v2_definition():
    d = parse(SDK_V2)
    assert d.version == "2020-12-01"
    assert list(d.steps) == ["Preprocess", "Train", "CheckMse", "Notify", "Approve", "MseTooHigh"]
    assert d.parameters["ProcessingInstanceCount"] == Parameter(
        "ProcessingInstanceCount", "Integer", 1, None
    )
    assert d.parameters["SkipRegister"].default is False

    prep = d.steps["Preprocess"]
    assert prep.upstream == ()
    assert prep.cache_enabled and prep.cache_expire_after == "P30D"
    assert prep.property_files == {
        "EvaluationReport": {"OutputName": "evaluation", "FilePath": "evaluation.json"}
    }
    assert prep.retry_policies == (
        RetryPolicy(("Step.SERVICE_FAULT", "Step.THROTTLING"), 1.0, 2.0, 3, None),
        RetryPolicy(("SageMaker.CAPACITY_ERROR",), 10.0, 1.5, None, 60),
    )
    train = d.steps["Train"]
    assert train.upstream == ("Preprocess",)
    assert train.retry_policies[0].max_attempts == 5  # docs/behaviour.md §7 default
    assert not train.cache_enabled and train.cache_expire_after is None

    cond = d.steps["CheckMse"]
    # DependsOn first, then the JsonGet's property-file owner; not the branch bodies.
    assert cond.upstream == ("Train", "Preprocess")
    assert cond.run_conditions == (("Train", "Succeeded"),)
    assert cond.branch is None
    assert d.steps["Notify"].branch == ("CheckMse", True)
    assert d.steps["Notify"].upstream == ("Train", "CheckMse")
    assert d.steps["Approve"].upstream == ("Notify", "CheckMse")
    assert d.steps["MseTooHigh"].branch == ("CheckMse", False)
    assert d.steps["MseTooHigh"].upstream == ("CheckMse",)

    # Top-level members are kept in raw for the engine.
    assert d.steps["Notify"].raw["FunctionArn"].endswith(":notify")
    assert d.steps["Approve"].raw["SqsQueueUrl"].startswith("https://sqs")
    assert "ErrorMessage" in d.steps["MseTooHigh"].arguments
    assert d.raw["PipelineExperimentConfig"]["TrialName"] == {
        "Get": "Execution.PipelineExecutionId"
    }

    order = d.topological_order()
    assert order == ["Preprocess", "Train", "CheckMse", "Notify", "Approve", "MseTooHigh"]
    assert d.downstream("Train") == {"CheckMse", "Notify", "Approve", "MseTooHigh"}
    assert d.downstream("Approve") == set()
    assert d.branch_members("CheckMse", True) == ["Notify", "Approve"]
    assert d.branch_members("CheckMse", False) == ["MseTooHigh"]
    assert d.property_file_owner("EvaluationReport") == "Preprocess"


def test_sdk_v3_definition_with_nulls_and_run_conditions():
    doc = {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [
            {"Name": "Epochs", "Type": "Integer", "DefaultValue": 10},
            {"Name": "Lr", "Type": "Float", "DefaultValue": 1},
            {"Name": "Mode", "Type": "String", "DefaultValue": "a", "EnumValues": ["a", "b"]},
        ],
        "PipelineExperimentConfig": None,
        "MlflowConfig": None,
        "SomethingNew": {"x": 1},
        "Steps": [
            step("Prep", StoppingCondition={"MaxRuntimeInSeconds": 3600}),
            {
                "Name": "Train",
                "Type": "Training",
                "Arguments": {
                    "HyperParameters": {"epochs": {"Get": "Parameters.Epochs"}},
                    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
                },
                "DependsOn": ["Prep"],
            },
            {
                "Name": "Cleanup",
                "Type": "Lambda",
                "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:c",
                "Arguments": {},
                "DependsOn": [
                    {"Step": "Train", "Trigger": "Failed"},
                    {"Step": "Prep", "Trigger": "completed"},
                    {"Step": "Prep"},
                ],
            },
        ],
    }
    d = parse(doc)
    assert d.parameters["Lr"].default == 1.0 and isinstance(d.parameters["Lr"].default, float)
    assert d.parameters["Mode"].enum_values == ("a", "b")
    cleanup = d.steps["Cleanup"]
    assert cleanup.run_conditions == (
        ("Train", "Failed"),
        ("Prep", "Completed"),
        ("Prep", "Succeeded"),
    )
    assert cleanup.upstream == ("Train", "Prep")
    assert d.topological_order() == ["Prep", "Train", "Cleanup"]


def test_bare_property_file_name_and_nested_conditions():
    cond_inner = {
        "Name": "Inner",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "Equals",
                    "LeftValue": {"Std:JsonGet": {"PropertyFile": "Report", "Path": "a"}},
                    "RightValue": 1,
                }
            ],
            "IfSteps": [step("Deep")],
        },
    }
    doc = minimal(
        step(
            "Eval",
            PropertyFiles=[{"PropertyFileName": "Report", "OutputName": "o", "FilePath": "r.json"}],
        ),
        {
            "Name": "Outer",
            "Type": "Condition",
            "Arguments": {"Conditions": [], "ElseSteps": [cond_inner]},
        },
    )
    d = parse(doc)
    assert list(d.steps) == ["Eval", "Outer", "Inner", "Deep"]
    assert d.steps["Inner"].upstream == ("Eval", "Outer")
    assert d.steps["Inner"].branch == ("Outer", False)
    assert d.steps["Deep"].branch == ("Inner", True)
    assert d.downstream("Outer") == {"Inner", "Deep"}


# ---------------------------------------------------------------- errors


def test_json_syntax_error_reports_line_and_column():
    err = invalid('{\n  "Version": "2020-12-01",\n  "Steps": [,]\n}', "line 3, column 13")
    assert err.code == "ValidationException"
    invalid('{"Version": NaN, "Steps": []}', "NaN")


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ([], "must be a JSON object"),
        ({"Steps": []}, "'Version' is missing"),
        ({"Version": "2021-01-01", "Steps": []}, "unsupported Version"),
        ({"Version": "2020-12-01"}, "'Steps' is missing"),
        ({"Version": "2020-12-01", "Steps": {}}, "'Steps' is not a list"),
        (minimal({"Type": "Processing"}), r"Steps\[0\] has no Name"),
        (minimal({"Name": "A"}), "step 'A' has no Type"),
        (minimal(step("A", "Quantum")), "step 'A' has unknown Type 'Quantum'"),
        (minimal(step("A"), step("A")), "duplicate step name.*A"),
        (minimal(step("A", DependsOn=["B"])), "step 'A' DependsOn unknown step \"B\""),
        (minimal(step("A", DependsOn="B")), "DependsOn must be a list"),
        (
            minimal(step("A", DependsOn=[{"Step": "A2", "Trigger": "Sometimes"}]), step("A2")),
            'unknown Trigger "Sometimes"',
        ),
        (
            minimal(step("A", Arguments={"x": {"Get": "Steps.Nope.ProcessingJobName"}})),
            "step 'A'.*unknown step 'Nope'",
        ),
        (
            minimal(step("A", Arguments={"x": {"Get": "Parameters.P"}})),
            "undeclared parameter 'P'",
        ),
        (
            minimal(step("A", Arguments={"x": {"Get": "Execution.Foo"}})),
            "unknown execution variable 'Execution.Foo'",
        ),
        (
            minimal(step("A", Arguments={"x": {"Get": "Whatever.Foo"}})),
            "Invalid Get expression",
        ),
        (
            minimal(step("A"), step("B", Arguments={"x": {"Get": "Steps.A.PropertyFiles.F"}})),
            "property file 'F' that step 'A' does not declare",
        ),
        (
            minimal(
                step("B", Arguments={"x": {"Std:JsonGet": {"PropertyFile": "F", "Path": "a"}}})
            ),
            "property file 'F', which is not declared",
        ),
        (
            minimal(step("A", CacheConfig={"Enabled": True, "ExpireAfter": "30 days"})),
            'ExpireAfter "30 days" is not an ISO-8601 duration',
        ),
        (
            minimal(step("A", RetryPolicies=[{"ExceptionType": ["Step.BOOM"]}])),
            "unknown ExceptionType",
        ),
        (
            minimal(
                step(
                    "A",
                    RetryPolicies=[
                        {
                            "ExceptionType": ["Step.THROTTLING"],
                            "MaxAttempts": 2,
                            "ExpireAfterMin": 5,
                        }
                    ],
                )
            ),
            "mutually exclusive",
        ),
        (
            minimal(
                step("A", RetryPolicies=[{"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 21}])
            ),
            "MaxAttempts must be an integer from 0 to 20",
        ),
        (
            minimal(
                step("A", RetryPolicies=[{"ExceptionType": ["Step.THROTTLING"], "BackoffRate": -1}])
            ),
            "BackoffRate must be a non-negative",
        ),
        (
            minimal(
                step("A", PropertyFiles=[{"PropertyFileName": "F"}, {"PropertyFileName": "F"}])
            ),
            "declares property file 'F' twice",
        ),
        (minimal(parameters=[{"Name": "P", "Type": "Decimal"}]), "parameter 'P' has unknown Type"),
        (
            minimal(parameters=[{"Name": "P", "Type": "Integer", "DefaultValue": "5"}]),
            "parameter 'P' DefaultValue \"5\" is not of type Integer",
        ),
        (
            minimal(parameters=[{"Name": "P", "Type": "Integer", "DefaultValue": 1.5}]),
            "is not of type Integer",
        ),
        (
            minimal(parameters=[{"Name": "P", "Type": "Boolean", "DefaultValue": "true"}]),
            "is not of type Boolean",
        ),
        (
            minimal(parameters=[{"Name": "P", "Type": "Float", "DefaultValue": True}]),
            "is not of type Float",
        ),
        (
            minimal(parameters=[{"Name": "P", "Type": "String", "DefaultValue": 1}]),
            "is not of type String",
        ),
        (
            minimal(parameters=[{"Name": "P", "DefaultValue": "c", "EnumValues": ["a", "b"]}]),
            "not one of its EnumValues",
        ),
        (minimal(parameters=[{"Name": "P"}, {"Name": "P"}]), "duplicate parameter 'P'"),
        (
            minimal(
                {
                    "Name": "C",
                    "Type": "Condition",
                    "Arguments": {"Conditions": [{"Type": "Xor"}]},
                }
            ),
            "step 'C' Conditions.*unknown condition type 'Xor'",
        ),
        (minimal({"Name": "C", "Type": "Condition"}), "Condition step 'C' needs Arguments"),
    ],
)
def test_invalid_definitions(doc, match):
    invalid(doc, match)


def test_duplicate_name_across_branches():
    doc = copy.deepcopy(SDK_V2)
    doc["Steps"][2]["Arguments"]["ElseSteps"][0]["Name"] = "Notify"
    invalid(doc, "duplicate step name.*Notify")
    doc = copy.deepcopy(SDK_V2)
    doc["Steps"][2]["Arguments"]["ElseSteps"][0]["Name"] = "Train"
    invalid(doc, "duplicate step name.*Train")


def test_unknown_reference_in_experiment_config():
    doc = copy.deepcopy(SDK_V2)
    doc["PipelineExperimentConfig"]["TrialName"] = {"Get": "Parameters.Missing"}
    invalid(doc, "PipelineExperimentConfig.*undeclared parameter 'Missing'")


@pytest.mark.parametrize(
    ("steps", "cycle"),
    [
        ([step("A", DependsOn=["A"])], "A -> A"),
        ([step("A", DependsOn=["B"]), step("B", DependsOn=["A"])], "A -> B -> A|B -> A -> B"),
        (
            [
                step("A", DependsOn=["C"]),
                step("B", Arguments={"x": {"Get": "Steps.A.ProcessingJobName"}}),
                step("C", DependsOn=["B"]),
                step("D", DependsOn=["A"]),
            ],
            r"(A -> B -> C -> A|B -> C -> A -> B|C -> A -> B -> C)",
        ),
    ],
)
def test_cycles_name_the_steps(steps, cycle):
    err = invalid(minimal(*steps), "dependency cycle")
    assert any(part in err.message for part in cycle.strip("()").split("|")), err.message
    assert "D" not in err.message.split("steps:")[1]


def test_condition_referencing_its_own_branch_is_a_cycle():
    doc = minimal(
        {
            "Name": "C",
            "Type": "Condition",
            "Arguments": {
                "Conditions": [
                    {
                        "Type": "Equals",
                        "LeftValue": {"Get": "Steps.X.ProcessingJobName"},
                        "RightValue": "a",
                    }
                ],
                "IfSteps": [step("X")],
            },
        }
    )
    invalid(doc, "dependency cycle between steps: (C -> X -> C|X -> C -> X)")


# ---------------------------------------------------------------- parameters and durations


@pytest.mark.parametrize(
    ("type_", "text", "expected"),
    [
        ("String", "hello", "hello"),
        ("String", "5", "5"),
        ("Integer", "42", 42),
        ("Integer", "-3", -3),
        ("Float", "0.5", 0.5),
        ("Float", "3", 3.0),
        ("Float", "1e-3", 0.001),
        ("Boolean", "true", True),
        ("Boolean", "FALSE", False),
    ],
)
def test_coerce_parameter(type_, text, expected):
    value = coerce_parameter(Parameter("P", type_, None, None), text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("type_", "text", "found"),
    [
        ("Integer", "abc", "String"),
        ("Integer", "1.5", "Float"),
        ("Integer", "true", "Boolean"),
        ("Float", "abc", "String"),
        ("Float", "nan", "String"),
        ("Boolean", "1", "Integer"),
        ("Boolean", "yes", "String"),
    ],
)
def test_coerce_parameter_type_errors(type_, text, found):
    expected = f"Unexpected type for parameter 'P'. Expected {type_} but found {found}."
    with pytest.raises(ValidationError) as info:
        coerce_parameter(Parameter("P", type_, None, None), text)
    assert info.value.message == expected


def test_coerce_parameter_empty_and_enum():
    with pytest.raises(ValidationError, match="must not be empty"):
        coerce_parameter(Parameter("P", "String", None, None), "")
    param = Parameter("P", "Integer", 1, (1, 2))
    assert coerce_parameter(param, "2") == 2
    with pytest.raises(ValidationError, match=r"not one of the allowed values: \[1, 2\]"):
        coerce_parameter(param, "3")


def test_parameter_value_to_string():
    assert parameter_value_to_string(True) == "true"
    assert parameter_value_to_string(False) == "false"
    assert parameter_value_to_string(5) == "5"
    assert parameter_value_to_string(0.5) == "0.5"
    assert parameter_value_to_string("x") == "x"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("P30D", 30 * 86400),
        ("PT1H", 3600),
        ("P1W", 7 * 86400),
        ("P1DT2H30M", 86400 + 2 * 3600 + 30 * 60),
        ("p30d", 30 * 86400),
        ("T12H", 12 * 3600),
        ("PT1.5S", 1.5),
        ("P1Y", 365 * 86400),
        ("P1M", 30 * 86400),
    ],
)
def test_iso_duration_seconds(text, seconds):
    assert iso_duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "30D", "P1H", "PT-1H", "garbage"])
def test_iso_duration_rejects_garbage(text):
    with pytest.raises(ValueError):
        iso_duration_seconds(text)
