#!/usr/bin/env python3
"""A tabular pipeline with the SageMaker Python SDK v2, run for real by sagepipe.

    scripts/serve                        # in one shell
    scripts/example tabular_sdk_v2       # in another

It generates a small CSV, then runs: Preprocess (split it) -> Train (a logistic regression) ->
Evaluate (test accuracy into evaluation.json, a PropertyFile) -> CheckAccuracy (a Condition
on that JSON) -> Register (a model package in the registry), or a Fail step when the accuracy
is too low. The job scripts are in examples/tabular/ and need only the standard library, so
the server runs them in its own Python (no --images needed)."""

from __future__ import annotations

import uuid
from pathlib import Path

from common import IMAGE, ROLE, SDK_CONFIG, dataset, point_clients_at_sagepipe, print_steps

point_clients_at_sagepipe()

import boto3  # noqa: E402
from sagemaker.estimator import Estimator  # noqa: E402
from sagemaker.inputs import TrainingInput  # noqa: E402
from sagemaker.model import Model  # noqa: E402
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor  # noqa: E402
from sagemaker.workflow.condition_step import ConditionStep  # noqa: E402
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo  # noqa: E402
from sagemaker.workflow.fail_step import FailStep  # noqa: E402
from sagemaker.workflow.functions import Join, JsonGet  # noqa: E402
from sagemaker.workflow.model_step import ModelStep  # noqa: E402
from sagemaker.workflow.parameters import ParameterFloat, ParameterString  # noqa: E402
from sagemaker.workflow.pipeline import Pipeline  # noqa: E402
from sagemaker.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.workflow.properties import PropertyFile  # noqa: E402
from sagemaker.workflow.steps import ProcessingStep, TrainingStep  # noqa: E402

SCRIPTS = Path(__file__).resolve().parent / "tabular"
GROUP = "tabular-models"


def session_for(bucket: str) -> PipelineSession:
    boto_session = boto3.Session()
    boto_session.client("s3").create_bucket(Bucket=bucket)
    return PipelineSession(boto_session=boto_session, default_bucket=bucket,
                           sagemaker_config=SDK_CONFIG)  # fmt: skip


def upload_inputs(session: PipelineSession, bucket: str, train_script: bytes) -> str:
    """The data, and train.py where the Train step reads it (its `code` channel)."""
    s3 = session.boto_session.client("s3")
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=dataset())
    s3.put_object(Bucket=bucket, Key="code/train/train.py", Body=train_script)
    return f"s3://{bucket}/code/train/train.py"


def build_pipeline(session: PipelineSession, name: str) -> Pipeline:
    bucket = session.default_bucket()
    input_data = ParameterString("InputData", default_value=f"s3://{bucket}/raw/data.csv")
    min_accuracy = ParameterFloat("MinAccuracy", default_value=0.8)
    processor = ScriptProcessor(image_uri=IMAGE, command=["python3"], role=ROLE,
                                instance_type="ml.m5.xlarge", instance_count=1,
                                sagemaker_session=session)  # fmt: skip
    preprocess = ProcessingStep("Preprocess", step_args=processor.run(
        code=str(SCRIPTS / "preprocess.py"),
        inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                 ProcessingOutput(output_name="test", source="/opt/ml/processing/test")]))  # fmt: skip
    outputs = preprocess.properties.ProcessingOutputConfig.Outputs

    # A bring-your-own-container estimator: the image's entrypoint runs train.py from the
    # `code` channel (fix it at that S3 URI and retry: examples/fix_and_retry.py).
    estimator = Estimator(image_uri=IMAGE, role=ROLE, instance_type="ml.m5.xlarge",
                          instance_count=1, output_path=f"s3://{bucket}/models",
                          container_entry_point=["python3", "/opt/ml/input/data/code/train.py"],
                          hyperparameters={"epochs": 300, "learning_rate": 1.0},
                          metric_definitions=[{"Name": "train:accuracy",
                                               "Regex": "train_accuracy=([0-9.]+)"}],
                          sagemaker_session=session)  # fmt: skip
    train = TrainingStep("Train", step_args=estimator.fit({
        "train": TrainingInput(outputs["train"].S3Output.S3Uri, content_type="text/csv"),
        "code": TrainingInput(f"s3://{bucket}/code/train/")}))  # fmt: skip

    report = PropertyFile("EvaluationReport", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep("Evaluate", property_files=[report], step_args=processor.run(
        code=str(SCRIPTS / "evaluate.py"),
        inputs=[ProcessingInput(source=train.properties.ModelArtifacts.S3ModelArtifacts,
                                destination="/opt/ml/processing/model"),
                ProcessingInput(source=outputs["test"].S3Output.S3Uri,
                                destination="/opt/ml/processing/test")],
        outputs=[ProcessingOutput(output_name="evaluation",
                                  source="/opt/ml/processing/evaluation")]))  # fmt: skip

    model = Model(image_uri=IMAGE, model_data=train.properties.ModelArtifacts.S3ModelArtifacts,
                  role=ROLE, sagemaker_session=session)  # fmt: skip
    register = ModelStep("Register", step_args=model.register(
        content_types=["text/csv"], response_types=["text/csv"],
        inference_instances=["ml.m5.large"], transform_instances=["ml.m5.large"],
        model_package_group_name=GROUP, approval_status="PendingManualApproval"))  # fmt: skip
    accuracy = JsonGet(step_name="Evaluate", property_file=report,
                       json_path="metrics.accuracy.value")  # fmt: skip
    check = ConditionStep(
        "CheckAccuracy",
        conditions=[ConditionGreaterThanOrEqualTo(left=accuracy, right=min_accuracy)],
        if_steps=[register],
        else_steps=[
            FailStep(
                "TooInaccurate",
                error_message=Join(on=" ", values=["accuracy", accuracy, "is below", min_accuracy]),
            )
        ],  # fmt: skip
    )
    return Pipeline(name=name, parameters=[input_data, min_accuracy],
                    steps=[preprocess, train, evaluate, check], sagemaker_session=session)  # fmt: skip


def describe_registered(session: PipelineSession) -> str:
    sm = session.sagemaker_client
    newest = sm.list_model_packages(ModelPackageGroupName=GROUP, SortOrder="Descending")
    package = newest["ModelPackageSummaryList"][0]
    return (f"{package['ModelPackageArn']} (version {package['ModelPackageVersion']}, "
            f"{package['ModelApprovalStatus']})")  # fmt: skip


def main() -> int:
    bucket = f"tabular-{uuid.uuid4().hex[:8]}"
    session = session_for(bucket)
    upload_inputs(session, bucket, (SCRIPTS / "train.py").read_bytes())
    pipeline = build_pipeline(session, f"tabular-v2-{uuid.uuid4().hex[:6]}")
    pipeline.upsert(role_arn=ROLE)
    print(f"pipeline {pipeline.name}: data and scripts in s3://{bucket}")
    execution = pipeline.start()
    print(f"started {execution.arn}; waiting (each step is a real process)...")
    execution.wait(delay=2, max_attempts=300)
    steps = execution.list_steps()
    print_steps(steps)
    check = next(s for s in steps if s["StepName"] == "CheckAccuracy")
    print(f"the accuracy check came out {check['Metadata']['Condition']['Outcome']}; "
          f"registered {describe_registered(session)}")  # fmt: skip
    print(f"result: {execution.describe()['PipelineExecutionStatus']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
