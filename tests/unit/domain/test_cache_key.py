"""domain/cache_key.py: a step's cache key covers the attributes AWS keys for its type
("Default cache key attributes by pipeline step type") and nothing else, so a per-execution
output path or a resource change still finds the earlier run, while a changed input, image,
environment or hyperparameter does not."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sagepipe.domain.cache_key import CACHE_KEY_ATTRIBUTES, cache_key

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
RUN_1, RUN_2 = "s3://bucket/Pipe/abc123/Step/output", "s3://bucket/Pipe/def456/Step/output"
Path = tuple[Any, ...]


def s3_input(uri: str) -> dict[str, Any]:
    return {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                             "S3DataDistributionType": "FullyReplicated"}}  # fmt: skip


def channel(uri: str) -> dict[str, Any]:
    return {"ChannelName": "train", "ContentType": "text/csv", "DataSource": s3_input(uri)}


PROCESSING: dict[str, Any] = {
    "ProcessingResources": {
        "ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    },
    "AppSpecification": {"ImageUri": IMAGE, "ContainerArguments": ["--train-ratio", "0.8"],
                         "ContainerEntrypoint": ["python3", "/opt/ml/processing/code/p.py"]},
    "RoleArn": ROLE,
    "Environment": {"MODE": "full"},
    "ProcessingInputs": [
        {"InputName": "input-1", "AppManaged": False,
         "S3Input": {"S3Uri": "s3://bucket/data/abalone.csv", "LocalPath": "/opt/ml/processing/in",
                     "S3DataType": "S3Prefix", "S3InputMode": "File"}},
    ],
    "ProcessingOutputConfig": {"Outputs": [
        {"OutputName": "train", "AppManaged": False,
         "S3Output": {"S3Uri": RUN_1, "LocalPath": "/opt/ml/processing/train",
                      "S3UploadMode": "EndOfJob"}},
    ]},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
}  # fmt: skip

TRAINING: dict[str, Any] = {
    "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
    "OutputDataConfig": {"S3OutputPath": "s3://bucket/"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
    "ResourceConfig": {"VolumeSizeInGB": 30, "InstanceCount": 1, "InstanceType": "ml.m5.xlarge"},
    "RoleArn": ROLE,
    "InputDataConfig": [channel(RUN_1)],
    "HyperParameters": {"max_depth": "5", "sagemaker_program": '"train.py"'},
    "DebugHookConfig": {"S3OutputPath": "s3://bucket/", "CollectionConfigurations": []},
    "ProfilerConfig": {"S3OutputPath": "s3://bucket/", "DisableProfiler": False},
    "CheckpointConfig": {"S3Uri": "s3://bucket/checkpoints"},
    "Environment": {"SEED": "1"},
}

TUNING: dict[str, Any] = {
    "HyperParameterTuningJobConfig": {
        "Strategy": "Random",
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 3},
        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"},
        "ParameterRanges": {"ContinuousParameterRanges": [
            {"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Auto"}]},
    },
    "TrainingJobDefinition": {
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "StaticHyperParameters": {"num_round": "50"},
        "InputDataConfig": [channel(RUN_1)],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/tuning"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
        "RoleArn": ROLE,
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
    },
}  # fmt: skip

AUTOML: dict[str, Any] = {
    "AutoMLJobConfig": {
        "CompletionCriteria": {"MaxCandidates": 10},
        "SecurityConfig": {"VolumeKmsKeyId": "key-1"},
        "DataSplitConfig": {"ValidationFraction": 0.2},
        "Mode": "ENSEMBLING",
    },
    "AutoMLJobObjective": {"MetricName": "Accuracy"},
    "InputDataConfig": [{"ChannelType": "training", "TargetAttributeName": "y",
                         "DataSource": s3_input("s3://bucket/train")}],
    "OutputDataConfig": {"S3OutputPath": RUN_1},
    "ProblemType": "BinaryClassification",
    "RoleArn": ROLE,
}  # fmt: skip

TRANSFORM: dict[str, Any] = {
    "ModelName": "model-1",
    "TransformInput": {"DataSource": s3_input("s3://bucket/batch"), "ContentType": "text/csv"},
    "TransformOutput": {"S3OutputPath": RUN_1},
    "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge"},
    "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input"},
    "Environment": {"class": "Transformer"},
    "BatchStrategy": "MultiRecord",
}

EMR: dict[str, Any] = {
    "ClusterId": "j-1ABCDEFG2HIJK",
    "StepConfig": {"HadoopJarStep": {"Jar": "s3://bucket/job.jar", "Args": ["--verbose"]}},
    "ExecutionRoleArn": ROLE,
}

CHECK_MEMBERS: dict[str, Any] = {
    "CheckType": "DATA_QUALITY", "ModelPackageGroupName": "group", "SkipCheck": False,
    "FailOnViolation": True, "RegisterNewBaseline": False,
    "SuppliedBaselineConstraints": "s3://bucket/constraints.json",
    "SuppliedBaselineStatistics": "s3://bucket/statistics.json",
}  # fmt: skip

# step type -> (Arguments, step members, changes that must miss, changes that must still hit).
# A change is ("Arguments" | "Step", path, new value).
Change = tuple[str, Path, Any]
CASES: dict[str, tuple[dict, dict, list[Change], list[Change]]] = {
    "Processing": (PROCESSING, {}, [
        ("Arguments", ("AppSpecification", "ImageUri"), IMAGE + "-2"),
        ("Arguments", ("AppSpecification", "ContainerArguments", 1), "0.7"),
        ("Arguments", ("Environment", "MODE"), "quick"),
        ("Arguments", ("ProcessingInputs", 0, "S3Input", "S3Uri"), "s3://bucket/data/other.csv"),
    ], [
        ("Arguments", ("ProcessingOutputConfig", "Outputs", 0, "S3Output", "S3Uri"), RUN_2),
        ("Arguments", ("ProcessingResources", "ClusterConfig", "InstanceType"), "ml.m5.large"),
        ("Arguments", ("RoleArn",), ROLE + "2"),
        ("Arguments", ("StoppingCondition", "MaxRuntimeInSeconds"), 60),
        ("Arguments", ("NetworkConfig",), {"EnableNetworkIsolation": True}),
    ]),
    "Training": (TRAINING, {}, [
        ("Arguments", ("AlgorithmSpecification", "TrainingImage"), IMAGE + "-2"),
        ("Arguments", ("CheckpointConfig", "S3Uri"), "s3://bucket/other-checkpoints"),
        ("Arguments", ("DebugHookConfig", "S3OutputPath"), "s3://other/"),
        ("Arguments", ("DebugRuleConfigurations",), [{"RuleConfigurationName": "r"}]),
        ("Arguments", ("Environment", "SEED"), "2"),
        ("Arguments", ("HyperParameters", "max_depth"), "6"),
        ("Arguments", ("InputDataConfig", 0, "DataSource", "S3DataSource", "S3Uri"), RUN_2),
    ], [
        ("Arguments", ("OutputDataConfig", "S3OutputPath"), "s3://other/"),
        ("Arguments", ("ResourceConfig", "InstanceType"), "ml.m5.large"),
        ("Arguments", ("RoleArn",), ROLE + "2"),
        ("Arguments", ("StoppingCondition", "MaxRuntimeInSeconds"), 60),
        ("Arguments", ("ProfilerConfig", "S3OutputPath"), "s3://other/"),
    ]),
    "Tuning": (TUNING, {}, [
        ("Arguments", ("HyperParameterTuningJobConfig", "ResourceLimits",
                       "MaxNumberOfTrainingJobs"), 5),
        ("Arguments", ("TrainingJobDefinition", "AlgorithmSpecification", "TrainingImage"),
         IMAGE + "-2"),
        ("Arguments", ("TrainingJobDefinition", "StaticHyperParameters", "num_round"), "30"),
        ("Arguments", ("TrainingJobDefinition", "InputDataConfig", 0, "DataSource",
                       "S3DataSource", "S3Uri"), RUN_2),
        ("Arguments", ("TrainingJobDefinition", "HyperParameterRanges"), {"x": 1}),
        ("Arguments", ("TrainingJobDefinition", "TuningObjective"), {"Type": "Maximize"}),
        ("Arguments", ("TrainingJobDefinitions",), [{"DefinitionName": "d"}]),
    ], [
        ("Arguments", ("TrainingJobDefinition", "OutputDataConfig", "S3OutputPath"), RUN_2),
        ("Arguments", ("TrainingJobDefinition", "ResourceConfig", "InstanceType"), "ml.m5.large"),
        ("Arguments", ("TrainingJobDefinition", "RoleArn"), ROLE + "2"),
        ("Arguments", ("TrainingJobDefinition", "StoppingCondition", "MaxRuntimeInSeconds"), 60),
    ]),  # fmt: skip
    "AutoML": (AUTOML, {}, [
        ("Arguments", ("AutoMLJobConfig", "CompletionCriteria", "MaxCandidates"), 20),
        ("Arguments", ("AutoMLJobConfig", "CandidateGenerationConfig"), {"AlgorithmsConfig": []}),
        ("Arguments", ("AutoMLJobConfig", "DataSplitConfig", "ValidationFraction"), 0.3),
        ("Arguments", ("AutoMLJobConfig", "Mode"), "HYPERPARAMETER_TUNING"),
        ("Arguments", ("AutoMLJobObjective", "MetricName"), "F1"),
        ("Arguments", ("InputDataConfig", 0, "TargetAttributeName"), "z"),
        ("Arguments", ("ProblemType",), "Regression"),
    ], [
        ("Arguments", ("AutoMLJobConfig", "SecurityConfig", "VolumeKmsKeyId"), "key-2"),
        ("Arguments", ("OutputDataConfig", "S3OutputPath"), RUN_2),
        ("Arguments", ("RoleArn",), ROLE + "2"),
    ]),
    "Transform": (TRANSFORM, {}, [
        ("Arguments", ("DataProcessing", "InputFilter"), "$[2:]"),
        ("Arguments", ("Environment", "class"), "Other"),
        ("Arguments", ("ModelName",), "model-2"),
        ("Arguments", ("TransformInput", "DataSource", "S3DataSource", "S3Uri"), "s3://b/other"),
    ], [
        ("Arguments", ("TransformOutput", "S3OutputPath"), RUN_2),
        ("Arguments", ("TransformResources", "InstanceType"), "ml.m5.large"),
        ("Arguments", ("BatchStrategy",), "SingleRecord"),
    ]),
    # The check configs and CheckJobConfig compile into the processing request (Arguments):
    # every part of it counts, resources included.
    "ClarifyCheck": (PROCESSING, CHECK_MEMBERS, [
        ("Arguments", ("ProcessingInputs", 0, "S3Input", "S3Uri"), "s3://bucket/data/other.csv"),
        ("Arguments", ("ProcessingResources", "ClusterConfig", "InstanceType"), "ml.m5.large"),
        ("Arguments", ("ProcessingOutputConfig", "Outputs", 0, "S3Output", "S3Uri"), RUN_2),
        ("Step", ("SkipCheck",), True),
        ("Step", ("RegisterNewBaseline",), True),
        ("Step", ("ModelPackageGroupName",), "other-group"),
        ("Step", ("SuppliedBaselineConstraints",), "s3://bucket/other.json"),
    ], [
        ("Step", ("FailOnViolation",), False),
        ("Step", ("SuppliedBaselineStatistics",), "s3://bucket/other.json"),  # not Clarify's
        ("Step", ("Description",), "changed"),
    ]),
    "QualityCheck": (PROCESSING, CHECK_MEMBERS, [
        ("Arguments", ("AppSpecification", "ImageUri"), IMAGE + "-2"),
        ("Arguments", ("RoleArn",), ROLE + "2"),
        ("Step", ("SkipCheck",), True),
        ("Step", ("RegisterNewBaseline",), True),
        ("Step", ("ModelPackageGroupName",), "other-group"),
        ("Step", ("SuppliedBaselineConstraints",), "s3://bucket/other.json"),
        ("Step", ("SuppliedBaselineStatistics",), "s3://bucket/other.json"),
    ], [
        ("Step", ("FailOnViolation",), False),
        ("Step", ("DisplayName",), "changed"),
    ]),
    "EMR": (EMR, {}, [
        ("Arguments", ("ClusterId",), "j-OTHER"),
        ("Arguments", ("StepConfig", "HadoopJarStep", "Args", 0), "--quiet"),
        ("Arguments", ("ClusterConfig",), {"ReleaseLabel": "emr-7.5.0"}),
    ], [
        ("Arguments", ("ExecutionRoleArn",), ROLE + "2"),
    ]),
}  # fmt: skip


def changed(value: dict[str, Any], path: Path, new: Any) -> dict[str, Any]:
    out = copy.deepcopy(value)
    target: Any = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return out


def key_after(step_type: str, change: Change | None = None) -> str:
    arguments, members, _, _ = CASES[step_type]
    if change is not None:
        where, path, new = change
        if where == "Arguments":
            arguments = changed(arguments, path, new)
        else:
            members = changed(members, path, new)
    return cache_key(step_type, arguments, {}, step_name="S", step=members)


def ids(cases: list[tuple[str, Change]]) -> list[str]:
    return [f"{t}:{'.'.join(map(str, c[1]))}" for t, c in cases]


KEYED = [(t, c) for t, (_, _, keyed, _) in CASES.items() for c in keyed]
NOT_KEYED = [(t, c) for t, (_, _, _, other) in CASES.items() for c in other]


def test_the_table_covers_the_step_types_aws_lists() -> None:
    assert set(CACHE_KEY_ATTRIBUTES) == set(CASES)
    assert set(CASES) == {"Processing", "Training", "Tuning", "AutoML", "Transform",
                          "ClarifyCheck", "QualityCheck", "EMR"}  # fmt: skip


@pytest.mark.parametrize(("step_type", "change"), KEYED, ids=ids(KEYED))
def test_a_keyed_attribute_changes_the_key(step_type: str, change: Change) -> None:
    assert key_after(step_type, change) != key_after(step_type)


@pytest.mark.parametrize(("step_type", "change"), NOT_KEYED, ids=ids(NOT_KEYED))
def test_an_attribute_aws_does_not_key_leaves_the_key(step_type: str, change: Change) -> None:
    assert key_after(step_type, change) == key_after(step_type)


@pytest.mark.parametrize("step_type", sorted(CASES))
def test_member_order_does_not_matter(step_type: str) -> None:
    arguments, members, _, _ = CASES[step_type]

    def reversed_members(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reversed_members(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reversed_members(v) for v in value]
        return value

    assert cache_key(
        step_type, reversed_members(arguments), {}, step_name="S", step=reversed_members(members)
    ) == key_after(step_type)


def test_list_order_still_matters() -> None:
    swapped = changed(PROCESSING, ("AppSpecification", "ContainerArguments"), ["0.8", "--train-ratio"])  # fmt: skip
    assert cache_key("Processing", swapped) != cache_key("Processing", PROCESSING)


def test_the_key_is_a_sha256_hex_digest() -> None:
    key = cache_key("Processing", PROCESSING)
    assert len(key) == 64 and int(key, 16) >= 0


def test_an_absent_attribute_is_not_an_empty_one() -> None:
    without = {k: v for k, v in TRAINING.items() if k != "Environment"}
    empty = changed(TRAINING, ("Environment",), {})
    assert cache_key("Training", without) != cache_key("Training", empty)


@pytest.mark.parametrize("step_type", ["Lambda", "Callback", "Model", "RegisterModel", "Fail"])
def test_a_type_aws_does_not_list_keys_its_whole_arguments(step_type: str) -> None:
    arguments = {"Output": RUN_1, "Other": {"a": 1, "b": [1, 2]}}
    base = cache_key(step_type, arguments)
    assert cache_key(step_type, changed(arguments, ("Output",), RUN_2)) != base
    assert cache_key(step_type, changed(arguments, ("Other", "b", 1), 3)) != base
    assert cache_key(step_type, {"Other": {"b": [1, 2], "a": 1}, "Output": RUN_1}) == base


def test_a_lambda_or_callback_key_holds_what_is_called_and_what_it_answers() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:"
    outputs = [{"OutputName": "score", "OutputType": "Float"}]
    step = {"FunctionArn": arn + "v1", "OutputParameters": outputs, "Timeout": 60}
    base = cache_key("Lambda", {"a": 1}, step=step)
    assert cache_key("Lambda", {"a": 1}, step={**step, "FunctionArn": arn + "v2"}) != base
    more = [*outputs, {"OutputName": "label", "OutputType": "String"}]
    assert cache_key("Lambda", {"a": 1}, step={**step, "OutputParameters": more}) != base
    queue = {"SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q"}
    assert cache_key("Callback", {}, step=queue) != cache_key("Callback", {}, step={})
    # A step without such members keys as it did before they counted.
    assert cache_key("Model", {"a": 1}, step={"Name": "M"}) == cache_key("Model", {"a": 1})


def test_arguments_that_are_not_an_object_are_keyed_whole() -> None:
    assert cache_key("Processing", None) != cache_key("Processing", [])
    assert cache_key("Processing", ["a"]) != cache_key("Processing", ["b"])


def test_step_type_step_name_and_property_files_are_part_of_the_key() -> None:
    base = cache_key("Processing", PROCESSING, {}, step_name="A")
    assert cache_key("Processing", PROCESSING, {}, step_name="B") != base
    assert cache_key("Processing", PROCESSING, None, step_name="A") == base
    report = {"Report": {"OutputName": "train", "FilePath": "report.json"}}
    assert cache_key("Processing", PROCESSING, report, step_name="A") != base
    other = {"Report": {"OutputName": "train", "FilePath": "other.json"}}
    assert cache_key("Processing", PROCESSING, other, step_name="A") != cache_key(
        "Processing", PROCESSING, report, step_name="A"
    )
    assert cache_key("ClarifyCheck", PROCESSING, {}, step_name="A") != base


def test_a_documented_parent_of_an_unexpected_shape_is_keyed_whole() -> None:
    odd = {**TUNING, "TrainingJobDefinition": "not-an-object"}
    assert cache_key("Tuning", odd) != cache_key("Tuning", {**odd, "TrainingJobDefinition": "x"})


def test_only_check_steps_read_step_members() -> None:
    assert cache_key("Processing", PROCESSING, step={"SkipCheck": True}) == cache_key(
        "Processing", PROCESSING, step={"SkipCheck": False}
    )
