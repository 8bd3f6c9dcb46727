"""The container contracts as pure plans, from a definition the SageMaker Python SDK v2
generated (tests/data/sdk_v2_definition.json): no process, no S3."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from sagepipe.domain.expressions import resolve
from sagepipe.runners.contracts.plan import ContractError, JobPlan
from sagepipe.runners.contracts.processing import processing_plan
from sagepipe.runners.contracts.training import training_plan
from sagepipe.runners.contracts.transform import DRIVER, SETTINGS, transform_plan

DEFINITION = json.loads((Path(__file__).parents[2] / "data" / "sdk_v2_definition.json").read_text())
STEPS = {s["Name"]: s for s in DEFINITION["Steps"]}
JOB = "pipelines-abc123-Step-XyZ0123456"
ARN = f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{JOB.lower()}"


class Context:
    parameters: Mapping[str, object] = {"InputDataUrl": "s3://bucket/data/abalone.csv"}
    execution_vars: Mapping[str, object] = {"PipelineExecutionId": "abc123"}

    def step_properties(self, step: str) -> Mapping[str, Any]:
        outputs = [{"OutputName": n, "S3Output": {"S3Uri": f"s3://bucket/{step}/{n}"}}
                   for n in ("train", "test", "validation")]  # fmt: skip
        return {"ProcessingOutputConfig": {"Outputs": outputs},
                "ModelArtifacts": {"S3ModelArtifacts": "s3://bucket/model.tar.gz"}}  # fmt: skip

    def step_outcome(self, step: str) -> bool | None:
        return None

    def property_file(self, step: str, file_name: str) -> object | None:
        return None


def arguments(step: str) -> dict[str, Any]:
    resolved = resolve(STEPS[step]["Arguments"], Context())
    assert isinstance(resolved, dict)
    return resolved


def test_the_sdk_sklearn_processor_plan_stages_data_and_code_and_runs_the_script() -> None:
    plan = processing_plan(arguments("Preprocess"), JOB, ARN)
    assert plan.entrypoint == ["python3", "/opt/ml/processing/input/code/preprocess.py"]
    assert plan.arguments == ["--train-ratio", "0.8"]
    paths = {d.path: d.uri for d in plan.downloads}
    assert paths["/opt/ml/processing/input"] == "s3://bucket/data/abalone.csv"
    assert paths["/opt/ml/processing/input/code"].endswith("/preprocess.py")  # nested: allowed
    uploads = {u.path: u.uri for u in plan.uploads}
    assert uploads["/opt/ml/processing/train"].endswith("/abc123/Preprocess/output/train")
    config = plan.files["/opt/ml/config/processingjobconfig.json"]
    assert (config["ProcessingJobName"], config["ProcessingJobArn"]) == (JOB, ARN)
    assert plan.files["/opt/ml/config/resourceconfig.json"]["hosts"] == ["algo-1"]
    assert plan.environment["PROCESSING_JOB_NAME"] == JOB
    assert JobPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_the_sdk_framework_processor_runs_its_runproc_script() -> None:
    plan = processing_plan(arguments("FrameworkPreprocess"), JOB, ARN)
    assert plan.entrypoint == ["/bin/bash", "/opt/ml/processing/input/entrypoint/runproc.sh"]
    assert "/opt/ml/processing/input/entrypoint" in {d.path for d in plan.downloads}


def test_the_sdk_sklearn_estimator_is_script_mode_with_model_and_output_archives() -> None:
    plan = training_plan(arguments("TrainSKLearn"), JOB, ARN)
    assert plan.script_mode and plan.entrypoint is None
    hyper = plan.files["/opt/ml/input/config/hyperparameters.json"]
    assert hyper["sagemaker_program"] == '"train.py"'
    channels = plan.files["/opt/ml/input/config/inputdataconfig.json"]
    assert channels["train"]["TrainingInputMode"] == "File"
    assert {d.path for d in plan.downloads} == {"/opt/ml/input/data/train"}
    archives = {u.path: u.uri for u in plan.uploads if u.archive}
    output = arguments("TrainSKLearn")["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    assert archives["/opt/ml/model"] == f"{output}/{JOB}/output/model.tar.gz"
    assert archives["/opt/ml/output/data"] == f"{output}/{JOB}/output/output.tar.gz"
    assert plan.metric_definitions and plan.max_runtime_seconds == 86400


def test_a_builtin_algorithm_image_has_no_script_and_no_entrypoint() -> None:
    plan = training_plan(arguments("TrainXGBoostBuiltin"), JOB, ARN)
    assert not plan.script_mode and plan.entrypoint is None
    assert "sagemaker-xgboost" in plan.image


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a["ProcessingInputs"][0]["S3Input"].update(S3InputMode="Pipe"), "File mode only"),
        (lambda a: a["ProcessingInputs"][0]["S3Input"].update(LocalPath="/tmp/x"), "/opt/ml/processing/"),
        (lambda a: a["ProcessingInputs"][0]["S3Input"].update(LocalPath="/opt/ml/processing/../../etc"), "'..'"),
        (lambda a: a["ProcessingInputs"][0].pop("S3Input"), "DatasetDefinition"),
    ],
)  # fmt: skip
def test_processing_requests_the_local_runner_cannot_run_are_refused_with_a_reason(
    change: Any, message: str
) -> None:
    args = arguments("Preprocess")
    change(args)
    with pytest.raises(ContractError, match="ClientError") as refused:
        processing_plan(args, JOB, ARN)
    assert message in str(refused.value)


def test_training_in_pipe_mode_is_refused_with_a_reason() -> None:
    args = arguments("TrainSKLearn")
    args["AlgorithmSpecification"]["TrainingInputMode"] = "Pipe"
    with pytest.raises(ContractError, match="Pipe"):
        training_plan(args, JOB, ARN)


def test_checkpoints_are_restored_and_saved_from_their_local_path() -> None:
    args = arguments("TrainSKLearn")
    args["CheckpointConfig"] = {"S3Uri": "s3://bucket/ckpt"}
    plan = training_plan(args, JOB, ARN)
    assert plan.checkpoint is not None
    assert (plan.checkpoint.path, plan.checkpoint.uri) == (
        "/opt/ml/checkpoints",
        "s3://bucket/ckpt",
    )


MODEL = {"ModelName": "m", "PrimaryContainer": {
    "Image": "img:1", "ModelDataUrl": "s3://b/model.tar.gz",
    "Environment": {"SAGEMAKER_PROGRAM": "infer.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "s3://b/code/sourcedir.tar.gz"}}}  # fmt: skip
TRANSFORM = {
    "ModelName": "m", "MaxPayloadInMB": 2, "BatchStrategy": "SingleRecord",
    "TransformInput": {"ContentType": "application/json", "SplitType": "Line",
                       "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                       "S3Uri": "s3://b/batch"}}},
    "TransformOutput": {"S3OutputPath": "s3://b/out", "AssembleWith": "Line"},
    "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
}  # fmt: skip


def test_transform_plan_stages_the_model_its_code_and_the_inputs() -> None:
    plan = transform_plan(TRANSFORM, JOB, None, MODEL)
    assert plan.image == "img:1" and plan.entrypoint == ["python3", DRIVER]
    assert Path(DRIVER).is_file()  # shipped inside the package
    assert [(d.uri, d.path) for d in plan.downloads] == [
        ("s3://b/model.tar.gz", "/opt/ml/input/model"),
        ("s3://b/code/sourcedir.tar.gz", "/opt/ml/input/code"),
        ("s3://b/batch", "/opt/ml/input/data"),
    ]
    assert plan.environment["SAGEMAKER_PROGRAM"] == "infer.py"
    assert plan.environment["SAGEMAKER_BATCH_STRATEGY"] == "SINGLE_RECORD"
    assert plan.files[SETTINGS] == {
        "content_type": "application/json", "accept": "application/json", "split": "Line",
        "compression": "None", "strategy": "SingleRecord", "max_payload_bytes": 2 << 20,
        "assemble_with": "Line"}  # fmt: skip
    assert [(u.path, u.uri) for u in plan.uploads] == [("/opt/ml/transform", "s3://b/out")]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"TransformInput": {**TRANSFORM["TransformInput"], "SplitType": "RecordIO"}},
         "SplitType RecordIO"),
        ({"DataProcessing": {"JoinSource": "Input"}}, "JoinSource"),
    ],
)  # fmt: skip
def test_transform_plan_refuses_what_the_local_runner_cannot_do(change: dict, reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        transform_plan({**TRANSFORM, **change}, JOB, None, MODEL)
    with pytest.raises(ContractError, match='Could not find model "m"'):
        transform_plan(TRANSFORM, JOB, None, None)
