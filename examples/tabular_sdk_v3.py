#!/usr/bin/env python3
"""The tabular pipeline of tabular_sdk_v2.py with the SageMaker Python SDK v3, run for real.

    scripts/serve                        # in one shell
    scripts/example tabular_sdk_v3       # in another (it makes .venv-sdk3 on first use)

sagemaker-core's ScriptProcessor splits the data and scores the model, sagemaker-train's
ModelTrainer runs train.py through its own drivers, sagemaker-mlops builds the pipeline: a
Condition on the evaluation's JSON, then a ModelStep that registers the model (ModelBuilder),
or a Fail step. The job scripts are the same standard-library ones in examples/tabular/."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from common import IMAGE, ROLE, SDK_CONFIG, dataset, point_clients_at_sagepipe, print_steps

point_clients_at_sagepipe()

import boto3  # noqa: E402
from sagemaker.core.processing import ScriptProcessor  # noqa: E402
from sagemaker.core.shapes import (  # noqa: E402
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
)
from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo  # noqa: E402
from sagemaker.core.workflow.functions import Join, JsonGet  # noqa: E402
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterString  # noqa: E402
from sagemaker.core.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.core.workflow.properties import PropertyFile  # noqa: E402
from sagemaker.mlops.workflow.condition_step import ConditionStep  # noqa: E402
from sagemaker.mlops.workflow.fail_step import FailStep  # noqa: E402
from sagemaker.mlops.workflow.model_step import ModelStep  # noqa: E402
from sagemaker.mlops.workflow.pipeline import Pipeline  # noqa: E402
from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep  # noqa: E402
from sagemaker.serve.model_builder import ModelBuilder  # noqa: E402
from sagemaker.train import ModelTrainer  # noqa: E402
from sagemaker.train.configs import (  # noqa: E402
    Compute,
    InputData,
    OutputDataConfig,
    SourceCode,
)

SCRIPTS = Path(__file__).resolve().parent / "tabular"
GROUP = "tabular-models-v3"


def s3_input(name: str, uri: Any, path: str) -> ProcessingInput:
    return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
        s3_uri=uri, local_path=path, s3_data_type="S3Prefix", s3_input_mode="File"))  # fmt: skip


def s3_output(bucket: str, name: str) -> ProcessingOutput:
    return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
        s3_uri=f"s3://{bucket}/{name}", local_path=f"/opt/ml/processing/{name}",
        s3_upload_mode="EndOfJob"))  # fmt: skip


def build_pipeline(session: PipelineSession, name: str) -> Pipeline:
    bucket = session.default_bucket()
    input_data = ParameterString("InputData", default_value=f"s3://{bucket}/raw/data.csv")
    min_accuracy = ParameterFloat("MinAccuracy", default_value=0.8)
    processor = ScriptProcessor(role=ROLE, image_uri=IMAGE, command=["python3"],
                                instance_count=1, instance_type="ml.m5.xlarge",
                                sagemaker_session=session)  # fmt: skip
    preprocess = ProcessingStep(name="Preprocess", step_args=processor.run(
        code=str(SCRIPTS / "preprocess.py"),
        inputs=[s3_input("raw", input_data, "/opt/ml/processing/input")],
        outputs=[s3_output(bucket, "train"), s3_output(bucket, "test")]))  # fmt: skip
    outputs = preprocess.properties.ProcessingOutputConfig.Outputs

    trainer = ModelTrainer(
        training_image=IMAGE, role=ROLE, base_job_name="train",
        compute=Compute(instance_type="ml.m5.xlarge", instance_count=1),
        source_code=SourceCode(source_dir=str(SCRIPTS), entry_script="train.py"),
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{bucket}/models"),
        hyperparameters={"epochs": 300, "learning_rate": 1.0}, sagemaker_session=session,
    )  # fmt: skip
    train = TrainingStep(name="Train", step_args=trainer.train(input_data_config=[
        InputData(channel_name="train", data_source=outputs["train"].S3Output.S3Uri)]))  # fmt: skip

    report = PropertyFile(name="EvaluationReport", output_name="evaluation",
                          path="evaluation.json")  # fmt: skip
    evaluate = ProcessingStep(name="Evaluate", property_files=[report], step_args=processor.run(
        code=str(SCRIPTS / "evaluate.py"),
        inputs=[s3_input("model", train.properties.ModelArtifacts.S3ModelArtifacts,
                         "/opt/ml/processing/model"),
                s3_input("test", outputs["test"].S3Output.S3Uri, "/opt/ml/processing/test")],
        outputs=[s3_output(bucket, "evaluation")]))  # fmt: skip

    builder = ModelBuilder(image_uri=IMAGE, role_arn=ROLE, sagemaker_session=session,
                           s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts)  # fmt: skip
    register = ModelStep(name="Register", step_args=builder.register(
        model_package_group_name=GROUP, content_types=["text/csv"], response_types=["text/csv"],
        inference_instances=["ml.m5.large"], transform_instances=["ml.m5.large"],
        approval_status="PendingManualApproval"))  # fmt: skip
    accuracy = JsonGet(step_name="Evaluate", property_file=report,
                       json_path="metrics.accuracy.value")  # fmt: skip
    check = ConditionStep(
        name="CheckAccuracy",
        conditions=[ConditionGreaterThanOrEqualTo(left=accuracy, right=min_accuracy)],
        if_steps=[register],
        else_steps=[
            FailStep(
                name="TooInaccurate",
                error_message=Join(on=" ", values=["accuracy", accuracy, "is below", min_accuracy]),
            )
        ],  # fmt: skip
    )
    return Pipeline(name=name, parameters=[input_data, min_accuracy],
                    steps=[preprocess, train, evaluate, check], sagemaker_session=session)  # fmt: skip


def main() -> int:
    bucket = f"tabular-v3-{uuid.uuid4().hex[:8]}"
    boto_session = boto3.Session()
    s3 = boto_session.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=dataset())
    sm = boto_session.client("sagemaker")
    session = PipelineSession(boto_session=boto_session, sagemaker_client=sm,
                              default_bucket=bucket, sagemaker_config=SDK_CONFIG)  # fmt: skip
    pipeline = build_pipeline(session, f"tabular-v3-{uuid.uuid4().hex[:6]}")
    pipeline.upsert(role_arn=ROLE)
    print(f"pipeline {pipeline.name}: data and scripts in s3://{bucket}")
    execution = pipeline.start()
    print(f"started {execution.arn}; waiting (each step is a real process)...")
    execution.wait(delay=2, max_attempts=300)
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=execution.arn)
    print_steps(steps["PipelineExecutionSteps"])
    package = sm.list_model_packages(ModelPackageGroupName=GROUP, SortOrder="Descending")
    newest = package["ModelPackageSummaryList"][0]
    print(f"registered {newest['ModelPackageArn']} ({newest['ModelApprovalStatus']})")
    status = sm.describe_pipeline_execution(PipelineExecutionArn=execution.arn)
    print(f"result: {status['PipelineExecutionStatus']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
