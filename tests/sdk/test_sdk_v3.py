"""The SageMaker Python SDK v3 (sagemaker-mlops, sagemaker-train, sagemaker-core 2.x) end to end.

v2 and v3 are both the `sagemaker` distribution, so they never share a virtualenv: this module
runs only where the installed `sagemaker` is 3.x and is skipped everywhere else. To run it:

    python -m venv /tmp/sdk3 && /tmp/sdk3/bin/pip install -e . 'sagemaker>=3' pytest
    /tmp/sdk3/bin/python -m pytest tests/sdk/test_sdk_v3.py

What v3 emits that v2 does not: a top-level `MlflowConfig`, pipeline variables put into
`HyperParameters` as bare `{"Get": ...}` (v2 wraps them in Std:Join to make strings), and its
own PipelineSession, Processor, ModelTrainer and step classes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.sdk import SDK_CONFIG, isolate_sdk_v3, sdk_missing
from tests.support.server import ServerProcess

if sdk_missing("3"):
    pytest.skip(str(sdk_missing("3")), allow_module_level=True)

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/{}:1"
MLFLOW_ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/demo"


@pytest.fixture
def v3(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Any:
    isolate_sdk_v3(monkeypatch, server.url, REGION)

    import boto3
    from botocore.config import Config
    from sagemaker.core.utils.utils import SageMakerClient
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    SageMakerClient.reset()
    boto_session = boto3.Session(
        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret", region_name=REGION
    )
    requests: list[str] = []
    boto_session.events.register("before-send", lambda request, **_: requests.append(request.url))
    sm = boto_session.client(
        "sagemaker", endpoint_url=server.url, config=Config(retries={"max_attempts": 1})
    )
    session = PipelineSession(
        boto_session=boto_session, sagemaker_client=sm, sagemaker_config=SDK_CONFIG
    )
    yield {"server": server, "boto_session": boto_session, "sm": sm, "session": session}
    assert [url for url in requests if not url.startswith(server.url)] == []
    SageMakerClient.reset()


def build_pipeline(session: Any, name: str) -> Any:
    from sagemaker.core.lambda_helper import Lambda
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        MlflowConfig,
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import (
        ParameterBoolean,
        ParameterFloat,
        ParameterInteger,
        ParameterString,
    )
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.callback_step import CallbackOutput, CallbackStep
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.lambda_step import LambdaOutput, LambdaStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.retry import StepExceptionTypeEnum, StepRetryPolicy
    from sagemaker.mlops.workflow.steps import CacheConfig, ProcessingStep, TrainingStep
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData, OutputDataConfig

    input_data = ParameterString("InputData", default_value="s3://sagepipe-demo/input")
    instance_count = ParameterInteger("InstanceCount", default_value=1)
    min_accuracy = ParameterFloat("MinAccuracy", default_value=0.5)
    deploy = ParameterBoolean("Deploy", default_value=True)
    processor = ScriptProcessor(
        role=ROLE,
        image_uri=IMAGE.format("evaluate"),
        command=["python3"],
        instance_count=instance_count,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
    )
    evaluation = PropertyFile(name="Evaluation", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(
        name="Evaluate",
        step_args=processor.run(
            code="s3://sagepipe-demo/code/evaluate.py",
            inputs=[
                ProcessingInput(
                    input_name="data",
                    s3_input=ProcessingS3Input(
                        s3_uri=input_data,
                        local_path="/opt/ml/processing/input",
                        s3_data_type="S3Prefix",
                        s3_input_mode="File",
                    ),
                )
            ],
            outputs=[
                ProcessingOutput(
                    output_name="evaluation",
                    s3_output=ProcessingS3Output(
                        s3_uri="s3://sagepipe-demo/evaluation",
                        local_path="/opt/ml/processing/evaluation",
                        s3_upload_mode="EndOfJob",
                    ),
                )
            ],
        ),
        property_files=[evaluation],
        cache_config=CacheConfig(enable_caching=True, expire_after="PT1H"),
        retry_policies=[
            StepRetryPolicy(
                exception_types=[StepExceptionTypeEnum.SERVICE_FAULT],
                interval_seconds=1,
                max_attempts=2,
            )
        ],
    )
    trainer = ModelTrainer(
        training_image=IMAGE.format("train"),
        role=ROLE,
        compute=Compute(instance_type="ml.m5.xlarge", instance_count=instance_count),
        output_data_config=OutputDataConfig(s3_output_path="s3://sagepipe-demo/models"),
        hyperparameters={"epochs": 5, "min_accuracy": min_accuracy},
        base_job_name="train",
        sagemaker_session=session,
    )
    train = TrainingStep(
        name="Train",
        step_args=trainer.train(
            input_data_config=[
                InputData(channel_name="train", data_source="s3://sagepipe-demo/train")
            ]
        ),
    )
    notify = LambdaStep(
        name="Notify",
        lambda_func=Lambda(
            function_arn="arn:aws:lambda:us-east-1:123456789012:function:notify", session=session
        ),
        inputs={"model": train.properties.ModelArtifacts.S3ModelArtifacts},
        outputs=[LambdaOutput(output_name="status")],
    )
    approve = CallbackStep(
        name="Approve",
        sqs_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/approvals",
        inputs={"notified": notify.properties.Outputs["status"]},
        outputs=[CallbackOutput(output_name="approved")],
    )
    check = ConditionStep(
        name="CheckAccuracy",
        conditions=[
            ConditionGreaterThanOrEqualTo(
                left=JsonGet(
                    step_name="Evaluate", property_file=evaluation, json_path="metrics.accuracy"
                ),
                right=min_accuracy,
            )
        ],
        if_steps=[train, notify, approve],
        else_steps=[
            FailStep(name="TooLow", error_message=Join(on=" ", values=["below", min_accuracy]))
        ],
    )
    return Pipeline(
        name=name,
        parameters=[input_data, instance_count, min_accuracy, deploy],
        steps=[evaluate, check],
        mlflow_config=MlflowConfig(mlflow_resource_arn=MLFLOW_ARN, mlflow_experiment_name="demo"),
        sagemaker_session=session,
    )


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.time() + timeout
    while not (found := check()):
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return found


def callback_token(execution: Any, not_this: str | None = None) -> str:
    def token() -> str | None:
        step = {s["StepName"]: s for s in execution.list_steps()}.get("Approve", {})
        found = step.get("Metadata", {}).get("Callback", {}).get("CallbackToken")
        return found if step.get("StepStatus") == "Executing" and found != not_this else None

    return str(wait_until(token, "the Approve callback"))


def test_v3_pipeline_runs_fails_and_retries_with_sagemaker_core(v3, name):
    from botocore.exceptions import WaiterError
    from sagemaker.core.resources import PipelineExecution

    sm, server = v3["sm"], v3["server"]
    pipeline = build_pipeline(v3["session"], name)
    definition = json.loads(pipeline.definition())
    assert definition["MlflowConfig"] == {
        "MlflowResourceArn": MLFLOW_ARN,
        "MlflowExperimentName": "demo",
    }
    [train] = [s for s in definition["Steps"][1]["Arguments"]["IfSteps"] if s["Name"] == "Train"]
    assert train["Arguments"]["HyperParameters"]["min_accuracy"] == {
        "Get": "Parameters.MinAccuracy"
    }

    pipeline.upsert(role_arn=ROLE, tags=[{"Key": "team", "Value": "ml"}])
    updated = pipeline.upsert(role_arn=ROLE, tags=[{"Key": "stage", "Value": "dev"}])
    assert updated["PipelineArn"].endswith(f":pipeline/{name}")
    tags = sm.list_tags(ResourceArn=updated["PipelineArn"])["Tags"]
    assert sorted(t["Key"] for t in tags) == ["stage", "team"]

    server.set_faults(
        [
            {
                "pipeline": name,
                "step": "Evaluate",
                "property_files": {"Evaluation": {"metrics": {"accuracy": 0.9}}},
            },
            {"pipeline": name, "step": "Notify", "outputs": {"status": "sent"}},
        ]
    )
    execution = pipeline.start(parameters={"InstanceCount": 2, "MinAccuracy": 0.8})
    first = callback_token(execution)
    sm.send_pipeline_execution_step_failure(CallbackToken=first, FailureReason="rejected")
    with pytest.raises(WaiterError, match="terminal failure state"):
        execution.wait(delay=1, max_attempts=60)

    core = PipelineExecution.get(execution.arn, session=v3["boto_session"], region=REGION)
    assert core.pipeline_execution_status == "Failed"
    core.retry(client_request_token=uuid.uuid4().hex, session=v3["boto_session"], region=REGION)
    sm.send_pipeline_execution_step_success(
        CallbackToken=callback_token(execution, not_this=first),
        OutputParameters=[{"Name": "approved", "Value": "yes"}],
    )
    core.wait_for_status("Succeeded", poll=1, timeout=60)
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert {n: s["AttemptCount"] for n, s in steps.items()} == {
        "Evaluate": 1,
        "CheckAccuracy": 1,
        "Train": 1,
        "Notify": 1,
        "Approve": 2,
    }
    code, history = server.extension(
        "GET", f"/_sagepipe/executions/{execution.arn.rsplit('/', 1)[1]}/attempts"
    )
    assert code == 200
    arguments = {a["step"]: a["arguments"] for a in history["attempts"]}
    # The integer parameter lands in an integer member, the un-stringified Float in a string
    # map: the job sees the value the execution was started with.
    assert arguments["Train"]["ResourceConfig"]["InstanceCount"] == 2
    assert str(arguments["Train"]["HyperParameters"]["min_accuracy"]) == "0.8"
    assert arguments["Train"]["HyperParameters"]["epochs"] == "5"

    # The jobs behind the steps, through sagemaker-core's resource classes.
    from sagemaker.core.resources import ProcessingJob, TrainingJob

    def job_name(step: str, kind: str) -> str:
        return str(steps[step]["Metadata"][kind]["Arn"].rsplit("/", 1)[1])

    trained = TrainingJob.get(job_name("Train", "TrainingJob"), session=v3["boto_session"],
                              region=REGION)  # fmt: skip
    described = sm.describe_training_job(TrainingJobName=trained.training_job_name)
    assert trained.training_job_status == "Completed"
    assert (
        trained.model_artifacts.s3_model_artifacts
        == (described["ModelArtifacts"]["S3ModelArtifacts"])
    )
    assert trained.resource_config.instance_count == 2
    evaluated = ProcessingJob.get(job_name("Evaluate", "ProcessingJob"),
                                  session=v3["boto_session"], region=REGION)  # fmt: skip
    assert evaluated.processing_job_status == "Completed"
    assert evaluated.processing_job_arn == steps["Evaluate"]["Metadata"]["ProcessingJob"]["Arn"]
