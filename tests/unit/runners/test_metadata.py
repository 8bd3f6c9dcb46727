"""Step Metadata of ListPipelineExecutionSteps against botocore's PipelineExecutionStepMetadata."""

import re
from datetime import UTC, datetime, timedelta

import botocore.session
import pytest

from sagepipe.runners.jobs import ENGINE_STEP_TYPES, resource_for
from sagepipe.runners.metadata import ARN_MEMBERS, METADATA_STEP_TYPES, step_metadata
from sagepipe.runners.properties import simulated_properties

MODEL = botocore.session.get_session().get_service_model("sagemaker")
METADATA = MODEL.shape_for("PipelineExecutionStepMetadata")
STARTED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ENDED = STARTED + timedelta(seconds=5)
ROLE = "arn:aws:iam::111122223333:role/R"
OUT = {"Outputs": [{"OutputName": "o", "S3Output": {"S3Uri": "s3://b/o", "LocalPath": "/x"}}]}

ARGUMENTS = {
    "Tuning": {
        "HyperParameterTuningJobConfig": {
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2},
        }
    },
    "QualityCheck": {"ProcessingOutputConfig": OUT},
    "ClarifyCheck": {"ProcessingOutputConfig": OUT},
    "RegisterModel": {"ModelPackageGroupName": "G"},
    "Endpoint": {"EndpointName": "ep"},
    "EndpointConfig": {"EndpointConfigName": "epc"},
    "InferenceComponent": {"InferenceComponentName": "ic", "EndpointName": "ep"},
    "HubContent": {"HubName": "h", "HubContentName": "c", "HubContentType": "Model"},
    "Job": {"JobName": "j", "JobCategory": "DataTransformation", "RoleArn": ROLE},
    "EMR": {"ClusterConfig": {"LogUri": "s3://b/logs/"}, "StepConfig": {"Name": "spark"}},
    "EMRServerless": {
        "ApplicationId": "00fabc123def4567",
        "JobConfig": {
            "name": "nightly",
            "configurationOverrides": {
                "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "s3://b/l/"}}
            },
        },
    },
    "Athena": {"QueryString": "SELECT 1", "ResultConfiguration": {"OutputLocation": "s3://b/a/"}},
    "Lineage": {
        "Actions": [{"ActionName": "deploy"}],
        "Artifacts": [{"ArtifactName": "data"}],
        "Contexts": [{"ContextName": "proj"}],
        "Associations": [{"SourceArn": "arn:a", "DestinationArn": "arn:b"}],
    },
    "BedrockCustomModel": {"ModelName": "m"},
    "BedrockCustomModelDeployment": {"ModelDeploymentName": "d"},
    "BedrockModelImport": {"JobName": "i"},
    "BedrockProvisionedModelThroughput": {"ProvisionedModelName": "p", "ModelUnits": 1},
}
STEPS = {
    "QualityCheck": {"CheckType": "MODEL_QUALITY", "ModelPackageGroupName": "G"},
    "ClarifyCheck": {"CheckType": "MODEL_EXPLAINABILITY", "SkipCheck": True},
}
EXTRA = {
    "Condition": {"outcome": True},
    "Fail": {"error_message": "Accuracy too low"},
    "Callback": {
        "callback_token": "Ab12Cd34Ef",
        "sqs_queue_url": "https://sqs.us-west-2.amazonaws.com/111122223333/q",
        "output_parameters": {"n": 3, "flag": False, "doc": {"a": 1}},
    },
    "Cleanup": {
        "cleaned_steps": ["Deploy"],
        "failed_steps": [{"StepName": "Ep", "ErrorCode": "ClientError", "ErrorMessage": "gone"}],
        "skipped_steps": [],
    },
    "ForEach": {
        "status": "Succeeded",
        "input_item_count": 3,
        "total_step_count": 6,
        "succeeded_step_count": 6,
        "failed_step_count": 0,
        "stopped_step_count": 0,
        "selector": {"StepName": "Train", "Index": 1},
    },
}
LAMBDA_ARN = "arn:aws:lambda:us-west-2:111122223333:function:f"

# Metadata member -> step Type, where they differ.
MEMBER_TYPES = {
    "TrainingJob": "Training",
    "ProcessingJob": "Processing",
    "TransformJob": "Transform",
    "TuningJob": "Tuning",
    "AutoMLJob": "AutoML",
}
STEP_TYPES = sorted(MEMBER_TYPES.get(m, m) for m in METADATA.members)


def shape_errors(shape, value, path="$"):
    """Member names, nested member names, value types, enums, lengths and patterns."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected structure, got {value!r}"]
        errors = [
            f"{path}.{k}: not a member of {shape.name}" for k in value if k not in shape.members
        ]
        for key, item in value.items():
            if key in shape.members:
                errors += shape_errors(shape.members[key], item, f"{path}.{key}")
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected list, got {value!r}"]
        return [
            e for i, v in enumerate(value) for e in shape_errors(shape.member, v, f"{path}[{i}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected map, got {value!r}"]
        return [
            e
            for k, v in value.items()
            for e in shape_errors(shape.key, k, f"{path}<key>") + shape_errors(shape.value, v, path)
        ]
    expected = {"string": str, "boolean": bool, "integer": int, "long": int}[kind]
    if not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool)):
        return [f"{path}: expected {kind}, got {value!r}"]
    if kind != "string":
        return []
    meta, errors = shape.metadata, []
    if shape.enum and value not in shape.enum:
        errors.append(f"{path}: {value!r} not in {shape.enum}")
    if not meta.get("min", 0) <= len(value) <= meta.get("max", 1 << 30):
        errors.append(f"{path}: length {len(value)} outside {meta.get('min')}..{meta.get('max')}")
    if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {meta['pattern']}")
    return errors


def metadata_for(step_type, *, finished=True):
    arguments = ARGUMENTS.get(step_type, {})
    name, arn = resource_for(
        step_type,
        arguments,
        region="us-west-2",
        account="111122223333",
        execution_id="a1b2c3d4e5f6",
        step_name="MyStep",
        rand="Ab12Cd34Ef",
    )
    if step_type == "Lambda":
        arn = LAMBDA_ARN
    props = {}
    if finished:
        props = simulated_properties(
            step_type,
            arguments,
            name,
            arn,
            outputs={"x": 1.5} if step_type == "Lambda" else None,
            started=STARTED,
            ended=ENDED,
            step=STEPS.get(step_type),
        )
    extra = EXTRA.get(step_type, {}) if finished else {}
    return step_metadata(step_type, job_arn=arn, properties=props, extra=extra)


def test_every_metadata_member_is_produced():
    assert set(STEP_TYPES) == METADATA_STEP_TYPES
    assert METADATA_STEP_TYPES >= ENGINE_STEP_TYPES


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_metadata_matches_the_botocore_shape(step_type):
    metadata = metadata_for(step_type)
    member = {v: k for k, v in MEMBER_TYPES.items()}.get(step_type, step_type)
    assert list(metadata) == [member]
    assert metadata[member], f"{step_type}: empty metadata"
    assert not shape_errors(METADATA, metadata)


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_metadata_of_a_running_step_matches_the_shape(step_type):
    # Before properties exist (Executing), members without a value are simply omitted.
    assert not shape_errors(METADATA, metadata_for(step_type, finished=False))


def test_arn_metadata():
    for step_type, member in ARN_MEMBERS.items():
        metadata = metadata_for(step_type)
        assert set(metadata[member]) == {"Arn"}
    arn = "arn:aws:sagemaker:us-west-2:111122223333:processing-job/x"
    assert step_metadata("Processing", job_arn=arn, properties={}, extra={}) == {
        "ProcessingJob": {"Arn": arn}
    }


def test_condition_and_fail():
    assert step_metadata("Condition", job_arn=None, properties={}, extra={"outcome": False}) == {
        "Condition": {"Outcome": "False"}
    }
    assert metadata_for("Condition") == {"Condition": {"Outcome": "True"}}
    assert metadata_for("Fail") == {"Fail": {"ErrorMessage": "Accuracy too low"}}


def test_callback_output_parameters_are_strings():
    body = metadata_for("Callback")["Callback"]
    assert body["CallbackToken"] == "Ab12Cd34Ef"
    assert body["OutputParameters"] == [
        {"Name": "n", "Value": "3"},
        {"Name": "flag", "Value": "false"},
        {"Name": "doc", "Value": '{"a":1}'},
    ]


def test_lambda():
    body = metadata_for("Lambda")["Lambda"]
    assert body == {"Arn": LAMBDA_ARN, "OutputParameters": [{"Name": "x", "Value": "1.5"}]}


def test_checks():
    quality = metadata_for("QualityCheck")["QualityCheck"]
    assert quality["CheckType"] == "MODEL_QUALITY" and quality["ModelPackageGroupName"] == "G"
    assert quality["CalculatedBaselineStatistics"] == "s3://b/o/statistics.json"
    assert quality["CheckJobArn"].startswith("arn:aws:sagemaker:us-west-2:111122223333:processing")
    clarify = metadata_for("ClarifyCheck")["ClarifyCheck"]
    assert clarify["SkipCheck"] is True and "ViolationReport" not in clarify


def test_emr():
    body = metadata_for("EMR")["EMR"]
    assert body["StepName"] == "spark"
    assert body["LogFilePath"] == f"s3://b/logs/{body['ClusterId']}/steps/{body['StepId']}/"


def test_emr_serverless_and_athena():
    body = metadata_for("EMRServerless")["EMRServerless"]
    assert body["ApplicationId"] == "00fabc123def4567" and body["JobRunName"] == "nightly"
    assert body["LogFilePath"].startswith("s3://b/l/applications/00fabc123def4567/jobs/")
    body = metadata_for("Athena")["Athena"]
    assert body["S3OutputLocation"] == f"s3://b/a/{body['QueryExecutionId']}.csv"


def test_unknown_step_type():
    assert step_metadata("Nope", job_arn=None, properties={}, extra={}) == {}


def test_validator_catches_mistakes():
    assert shape_errors(METADATA, {"TrainingJob": {"Arn": "not-an-arn"}})
    assert shape_errors(METADATA, {"Condition": {"Outcome": True}})
    assert shape_errors(METADATA, {"Callback": {"OutputParameters": [{"Name": "a", "Value": 1}]}})
    assert shape_errors(METADATA, {"Lambda": {"Function": "x"}})
