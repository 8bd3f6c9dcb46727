"""Job names and ARNs of runner steps (docs/behaviour.md §3)."""

import re

import botocore.session
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagepipe.runners.jobs import (
    BEDROCK_KINDS,
    ENGINE_STEP_TYPES,
    JOB_KINDS,
    NAME_LIMITS,
    derived_id,
    emr_ids,
    job_arn,
    job_name,
    new_rand,
    resource_for,
)

MODEL = botocore.session.get_session().get_service_model("sagemaker")
JOB_NAME = re.compile(MODEL.shape_for("ProcessingJobName").metadata["pattern"])
EXEC_ID = "a1b2c3d4e5f6"

# Metadata member -> step Type, where they differ.
MEMBER_TYPES = {
    "TrainingJob": "Training",
    "ProcessingJob": "Processing",
    "TransformJob": "Transform",
    "TuningJob": "Tuning",
    "AutoMLJob": "AutoML",
}


def test_every_metadata_member_is_a_known_step_type():
    members = MODEL.shape_for("PipelineExecutionStepMetadata").members
    types = {MEMBER_TYPES.get(m, m) for m in members}
    assert types <= set(JOB_KINDS) | ENGINE_STEP_TYPES
    assert set(JOB_KINDS).isdisjoint(ENGINE_STEP_TYPES)
    assert set(BEDROCK_KINDS) <= set(JOB_KINDS)


def test_kinds_of_the_classic_step_types():
    assert JOB_KINDS["Processing"] == "processing-job"
    assert JOB_KINDS["Training"] == "training-job"
    assert JOB_KINDS["Transform"] == "transform-job"
    assert JOB_KINDS["Tuning"] == "hyper-parameter-tuning-job"
    assert JOB_KINDS["AutoML"] == "automl-job"
    assert JOB_KINDS["Model"] == "model"
    assert JOB_KINDS["RegisterModel"] == "model-package"
    assert JOB_KINDS["QualityCheck"] == JOB_KINDS["ClarifyCheck"] == "processing-job"
    assert JOB_KINDS["Endpoint"] == "endpoint"
    assert JOB_KINDS["EndpointConfig"] == "endpoint-config"
    for kind in ("EMR", "Lambda", "Callback"):
        assert JOB_KINDS[kind] is None


def test_job_name_format():
    name = job_name(EXEC_ID, "Preprocess", "Ab12Cd34Ef")
    assert name == f"pipelines-{EXEC_ID}-Preprocess-Ab12Cd34Ef"


def test_long_step_name_is_cut_but_random_tail_kept():
    a = job_name(EXEC_ID, "X" * 64, "Ab12Cd34Ef")
    b = job_name(EXEC_ID, "X" * 64, "Zz98Yy76Xx")
    assert len(a) == 63 and a != b
    assert a.startswith(f"pipelines-{EXEC_ID}-XXX") and a.endswith("-Ab12Cd34Ef")


def test_invalid_characters_are_replaced():
    name = job_name(EXEC_ID, "my_step.v2__", "Ab12Cd34Ef")
    assert name == f"pipelines-{EXEC_ID}-my-step-v2-Ab12Cd34Ef"
    assert job_name(EXEC_ID, "___", "Ab12Cd34Ef") == f"pipelines-{EXEC_ID}-Ab12Cd34Ef"


def test_short_limits_keep_the_random_tail():
    name = job_name(EXEC_ID, "Tune", "Ab12Cd34Ef", limit=NAME_LIMITS["Tuning"])
    assert len(name) == 32 and name.endswith("-Ab12Cd34Ef")
    pattern = MODEL.shape_for("HyperParameterTuningJobName").metadata["pattern"]
    assert re.fullmatch(pattern, name)


@given(
    st.text(min_size=1, max_size=80),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=12),
    st.integers(min_value=24, max_value=63),
)
def test_job_names_always_match_the_model(step, execution_id, limit):
    name = job_name(execution_id, step, new_rand(), limit=limit)
    assert len(name) <= limit
    assert JOB_NAME.fullmatch(name)


def test_rand_is_required():
    assert len(new_rand()) == 10 and new_rand().isalnum()
    with pytest.raises(ValueError):
        job_name(EXEC_ID, "S", "--")


def test_job_arn():
    arn = job_arn("eu-west-1", "111122223333", "training-job", "Pipelines-X-Train-AbC")
    assert arn == "arn:aws:sagemaker:eu-west-1:111122223333:training-job/pipelines-x-train-abc"
    pattern = MODEL.shape_for("TrainingJobArn").metadata["pattern"]
    assert re.fullmatch(pattern, arn)


def test_derived_ids_are_deterministic():
    assert derived_id("x", 13, upper=True) == derived_id("x", 13, upper=True)
    assert re.fullmatch(r"[0-9A-Z]{13}", derived_id("x", 13, upper=True))
    cluster, step = emr_ids("seed")
    assert re.fullmatch(r"j-[0-9A-Z]{13}", cluster) and re.fullmatch(r"s-[0-9A-Z]{13}", step)


def _resource(step_type, arguments, **kw):
    return resource_for(
        step_type,
        arguments,
        region="us-west-2",
        account="111122223333",
        execution_id=EXEC_ID,
        step_name="MyStep",
        rand="Ab12Cd34Ef",
        **kw,
    )


@pytest.mark.parametrize(
    "step_type,shape",
    [
        ("Processing", "ProcessingJobArn"),
        ("Training", "TrainingJobArn"),
        ("Transform", "TransformJobArn"),
        ("Tuning", "HyperParameterTuningJobArn"),
        ("AutoML", "AutoMLJobArn"),
        ("Model", "ModelArn"),
        ("QualityCheck", "ProcessingJobArn"),
        ("ClarifyCheck", "ProcessingJobArn"),
    ],
)
def test_generated_resources_match_the_arn_patterns(step_type, shape):
    name, arn = _resource(step_type, {})
    assert arn is not None and re.fullmatch(MODEL.shape_for(shape).metadata["pattern"], arn)
    assert arn.endswith(name.lower())


def test_resources_named_by_their_arguments():
    name, arn = _resource("Endpoint", {"EndpointName": "My-Endpoint"})
    assert name == "My-Endpoint"
    assert arn == "arn:aws:sagemaker:us-west-2:111122223333:endpoint/my-endpoint"
    name, arn = _resource("BedrockCustomModel", {"ModelName": "m1"})
    assert arn == "arn:aws:bedrock:us-west-2:111122223333:custom-model/m1"
    name, arn = _resource("Job", {"JobName": "j1", "JobCategory": "DataTransformation"})
    assert re.fullmatch(MODEL.shape_for("JobArn").metadata["pattern"], arn)


def test_versioned_model_package():
    name, arn = _resource(
        "RegisterModel", {"ModelPackageGroupName": "Grp"}, model_package_version=7
    )
    assert name == "Grp"
    assert arn == "arn:aws:sagemaker:us-west-2:111122223333:model-package/grp/7"
    name, arn = _resource("RegisterModel", {})
    assert arn.endswith("model-package/" + name.lower())


def test_resources_without_sagemaker_arn():
    step_id, arn = _resource("EMR", {"ClusterId": "j-1"})
    assert arn is None and re.fullmatch(r"s-[0-9A-Z]{13}", step_id)
    query_id, arn = _resource("Athena", {})
    assert arn is None and re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", query_id)
    run_id, arn = _resource("EMRServerless", {"ApplicationId": "00abc"})
    assert (
        arn == f"arn:aws:emr-serverless:us-west-2:111122223333:/applications/00abc/jobruns/{run_id}"
    )
    for step_type in ("Lambda", "Callback", "Lineage"):
        assert _resource(step_type, {})[1] is None


def test_new_attempts_get_new_resources():
    a = resource_for("EMR", {}, region="r", account="1", execution_id=EXEC_ID, step_name="S",
                     rand="aaaaaaaaaa")  # fmt: skip
    b = resource_for("EMR", {}, region="r", account="1", execution_id=EXEC_ID, step_name="S",
                     rand="bbbbbbbbbb")  # fmt: skip
    assert a != b
