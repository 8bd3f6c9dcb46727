"""Step caching across executions of the SDK's caching example (a Processing step feeding a
Training step, both with CacheConfig), whose outputs go to the SDK's default paths: those embed
`Execution.PipelineExecutionId`, so they differ every execution. The cache key is what AWS
documents per step type ("Default cache key attributes by pipeline step type"), computed on
resolved values; output locations are not part of it."""

from __future__ import annotations

import json
from typing import Any

from tests.support.pipelines import ROLE, create, definition, steps_by_name
from tests.support.steps import arguments_of, execution_id, get, join, start, wait_done

BUCKET = "sdk-research-bucket"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
CODE = f"s3://{BUCKET}/Caching/code/c31a27f577e5efa0b6c17298777bc8e17655d19c339398a0844db5d3c274e71a/preprocess.py"  # fmt: skip
CACHE = {"Enabled": True, "ExpireAfter": "PT1H"}
PARAMETERS = [
    {"Name": "InputDataUrl", "Type": "String", "DefaultValue": f"s3://{BUCKET}/data/abalone.csv"}
]
TRAIN_DATA = "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"


def default_output(step: str, output: str) -> dict[str, Any]:
    """The SDK's default output location: one per execution."""
    return join("/", "s3:/", BUCKET, "Caching", get("Execution.PipelineExecutionId"), step,
                "output", output)  # fmt: skip


def s3_input(name: str, uri: Any, local: str) -> dict[str, Any]:
    return {
        "InputName": name, "AppManaged": False,
        "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix",
                    "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
                    "S3CompressionType": "None"},
    }  # fmt: skip


def preprocess() -> dict[str, Any]:
    outputs = [
        {"OutputName": name, "AppManaged": False,
         "S3Output": {"S3Uri": default_output("Preprocess", name),
                      "LocalPath": f"/opt/ml/processing/{name}", "S3UploadMode": "EndOfJob"}}
        for name in ("train", "test")
    ]  # fmt: skip
    arguments = {
        "ProcessingResources": {
            "ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                              "VolumeSizeInGB": 30}},
        "AppSpecification": {
            "ImageUri": IMAGE, "ContainerArguments": ["--train-ratio", "0.8"],
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocess.py"]},
        "RoleArn": ROLE,
        "ProcessingInputs": [
            s3_input("input-1", get("Parameters.InputDataUrl"), "/opt/ml/processing/input"),
            s3_input("code", CODE, "/opt/ml/processing/input/code"),
        ],
        "ProcessingOutputConfig": {"Outputs": outputs},
    }  # fmt: skip
    return {"Name": "Preprocess", "Type": "Processing", "Arguments": arguments,
            "CacheConfig": CACHE}  # fmt: skip


def train(max_depth: str = "5", instance_type: str = "ml.m5.xlarge") -> dict[str, Any]:
    arguments = {
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": XGBOOST},
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/abalone/model"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "ResourceConfig": {"VolumeSizeInGB": 30, "InstanceCount": 1,
                           "InstanceType": instance_type},
        "RoleArn": ROLE,
        "InputDataConfig": [
            {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": get(TRAIN_DATA),
                                             "S3DataDistributionType": "FullyReplicated"}},
             "ContentType": "text/csv", "ChannelName": "train"},
        ],
        "HyperParameters": {"objective": "reg:linear", "num_round": "50", "max_depth": max_depth},
        "DebugHookConfig": {"S3OutputPath": f"s3://{BUCKET}/abalone/model",
                            "CollectionConfigurations": []},
        "ProfilerConfig": {"S3OutputPath": f"s3://{BUCKET}/abalone/model",
                           "DisableProfiler": False},
    }  # fmt: skip
    return {"Name": "Train", "Type": "Training", "Arguments": arguments, "CacheConfig": CACHE}


def run(sm: Any, name: str, **parameters: Any) -> tuple[str, dict[str, dict[str, Any]]]:
    arn = start(sm, name, **parameters)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    return arn, steps_by_name(sm, arn)


def source(step: dict[str, Any]) -> str | None:
    return step.get("CacheHitResult", {}).get("SourcePipelineExecutionArn")


def train_input(server: Any, arn: str) -> str:
    channel = arguments_of(server, arn, "Train")["InputDataConfig"][0]
    return str(channel["DataSource"]["S3DataSource"]["S3Uri"])


def test_unchanged_steps_hit_across_executions_whose_outputs_embed_the_execution_id(
    server, sm, name
):
    create(sm, name, [preprocess(), train()], parameters=PARAMETERS)
    first, ran = run(sm, name)
    assert source(ran["Preprocess"]) is None and source(ran["Train"]) is None
    assert execution_id(first) in train_input(server, first)

    # Unchanged: both steps reuse the first run. Train's input is Preprocess's output path; the
    # hit carries the first run's properties, so that path resolves to the first run's again.
    second, reused = run(sm, name)
    assert source(reused["Preprocess"]) == first
    assert source(reused["Train"]) == first
    assert reused["Train"]["Metadata"] == ran["Train"]["Metadata"]  # the first run's job

    # A new input for Preprocess: it runs again, and writes to this execution's output path.
    # Train's input is that new path (AWS keys on the resolved S3 path), so Train runs too.
    third, changed = run(sm, name, InputDataUrl=f"s3://{BUCKET}/data/other.csv")
    assert source(changed["Preprocess"]) is None
    assert source(changed["Train"]) is None
    assert execution_id(third) in train_input(server, third)

    # A new hyperparameter, and a new instance type (not keyed), through UpdatePipeline: the
    # default input finds the first Preprocess run again; Train reads the first run's output
    # path, as the first Train did, but its hyperparameters changed, so it runs.
    sm.update_pipeline(
        PipelineName=name,
        PipelineDefinition=definition(
            [preprocess(), train(max_depth="6", instance_type="ml.m5.large")], PARAMETERS
        ),
    )
    fourth, retrained = run(sm, name)
    assert source(retrained["Preprocess"]) == first
    assert source(retrained["Train"]) is None
    assert execution_id(first) in train_input(server, fourth)

    # The updated pipeline, unchanged again: both hit, Train on the run the update started.
    _, again = run(sm, name)
    assert source(again["Preprocess"]) == first
    assert source(again["Train"]) == fourth
    assert second not in (source(again["Preprocess"]), source(again["Train"]))


def test_an_instance_type_change_alone_still_hits(server, sm, name):
    """The SDK caching example's "Cache Hit" case: ResourceConfig is not keyed."""
    create(sm, name, [preprocess(), train()], parameters=PARAMETERS)
    first, _ = run(sm, name)
    sm.update_pipeline(
        PipelineName=name,
        PipelineDefinition=definition([preprocess(), train(instance_type="ml.m5.large")],
                                      PARAMETERS),
    )  # fmt: skip
    _, steps = run(sm, name)
    assert {step: source(row) for step, row in steps.items()} == {
        "Preprocess": first, "Train": first
    }  # fmt: skip
    # The first run had the other instance type: its definition is kept as it ran.
    described = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=first)
    trained = json.loads(described["PipelineDefinition"])["Steps"][1]["Arguments"]
    assert trained["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
