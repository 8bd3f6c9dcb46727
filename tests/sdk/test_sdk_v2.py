"""The SageMaker Python SDK v2 (and sagemaker-core 1.x) end to end against a real sagepipe server.

The pipeline is built with the SDK's own classes, exactly as a user writes it, and driven with
the SDK's own calls: upsert, start, wait, list_steps, describe, stop, plus boto3's and
sagemaker-core's RetryPipelineExecution. The client setup is the one docs/clients.md documents.

Needs the `sdk` extra in its own virtualenv (`pip install -e '.[sdk]'`); skipped otherwise."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.sdk import SDK_CONFIG, sdk_missing
from tests.support.server import ServerProcess

if sdk_missing("2"):
    pytest.skip(str(sdk_missing("2")), allow_module_level=True)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError, WaiterError  # noqa: E402
from sagemaker.estimator import Estimator  # noqa: E402
from sagemaker.inputs import TrainingInput  # noqa: E402
from sagemaker.lambda_helper import Lambda  # noqa: E402
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor  # noqa: E402
from sagemaker.workflow.callback_step import (  # noqa: E402
    CallbackOutput,
    CallbackOutputTypeEnum,
    CallbackStep,
)
from sagemaker.workflow.condition_step import ConditionStep  # noqa: E402
from sagemaker.workflow.conditions import (  # noqa: E402
    ConditionEquals,
    ConditionGreaterThanOrEqualTo,
)
from sagemaker.workflow.fail_step import FailStep  # noqa: E402
from sagemaker.workflow.functions import Join, JsonGet  # noqa: E402
from sagemaker.workflow.lambda_step import (  # noqa: E402
    LambdaOutput,
    LambdaOutputTypeEnum,
    LambdaStep,
)
from sagemaker.workflow.parameters import (  # noqa: E402
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
)
from sagemaker.workflow.pipeline import Pipeline  # noqa: E402
from sagemaker.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.workflow.properties import PropertyFile  # noqa: E402
from sagemaker.workflow.retry import (  # noqa: E402
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
)
from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/{}:1"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:notify"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/approvals"
# Every step that ran, as the happy path leaves them (TooLow, the Fail step, is the else branch).
IF_BRANCH = ["Evaluate", "CheckAccuracy", "Train", "Notify", "Approve", "Publish"]


# ------------------------------------------------------------------------------ client setup
@dataclass
class Sdk:
    server: ServerProcess
    boto_session: Any
    sm: Any
    session: PipelineSession
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    def faults(self, name: str, **per_step: dict[str, Any]) -> None:
        """Fault rules for pipeline `name`: the property file and Lambda outputs the happy path
        needs, merged with per-step overrides."""
        rules = {
            "Evaluate": {"property_files": {"Evaluation": {"metrics": {"accuracy": 0.93}}}},
            "Notify": {"outputs": {"status": "sent"}},
        }
        for step, extra in per_step.items():
            rules[step] = {**rules.get(step, {}), **extra}
        self.server.set_faults(
            [{"pipeline": name, "step": step, **rule} for step, rule in rules.items()]
        )


@pytest.fixture
def sdk(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sdk]:
    # Nothing from this machine's AWS setup, and nothing reaches AWS: any client for another
    # service (S3, STS, IAM, Lambda, ...) would go to a closed port and be recorded below.
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    # sagemaker-core builds its own clients and takes no endpoint: boto3 reads this variable.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    _reset_sagemaker_core_client()

    boto_session = boto3.Session(
        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret", region_name=REGION
    )
    requests: list[tuple[str, str, str]] = []

    def record(request: Any, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        requests.append((service, operation, request.url))

    # Registered before any client exists, so every client of this session reports its calls.
    boto_session.events.register("before-send", record)
    sm = boto_session.client(
        "sagemaker", endpoint_url=server.url, config=Config(retries={"max_attempts": 1})
    )
    session = PipelineSession(
        boto_session=boto_session, sagemaker_client=sm, sagemaker_config=SDK_CONFIG
    )
    yield Sdk(server, boto_session, sm, session, requests)
    strays = [call for call in requests if not call[2].startswith(server.url)]
    assert strays == [], "the SDK called something other than sagepipe"
    _reset_sagemaker_core_client()


@pytest.fixture(autouse=True, scope="module")
def _validate_the_sdk_config_once() -> Iterator[None]:
    """SDK 2.2xx validates its whole config against its JSON schema on EVERY config lookup
    (~0.1 s with jsonschema 4.2x), dozens of times per Pipeline.definition() once any config
    is set, as the telemetry opt-out must be. Validate each distinct config once instead: the
    same checks, a fraction of the time; nothing sent to the server changes."""
    import sagemaker.utils

    original = sagemaker.utils.validate_sagemaker_config
    seen: set[str] = set()

    def validate_once(config: dict[str, Any] | None = None) -> None:
        key = json.dumps(config, sort_keys=True, default=str)
        if key not in seen:
            original(config)
            seen.add(key)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sagemaker.utils, "validate_sagemaker_config", validate_once)
        yield


def _reset_sagemaker_core_client() -> None:
    """sagemaker-core caches ONE SageMakerClient per process (a singleton holding the clients
    of the first session it saw); forget it so each test's server and session are used."""
    from sagemaker_core.main.utils import SageMakerClient, SingletonMeta

    SingletonMeta._instances.pop(SageMakerClient, None)


# ---------------------------------------------------------------------------------- pipeline
def build_pipeline(session: PipelineSession, name: str, threshold: float = 0.5) -> Pipeline:
    """Every SDK v2 feature sagepipe runs: all parameter types, a Processing step with a
    PropertyFile, caching and both retry policy kinds, a Condition on JsonGet, Training,
    Lambda, Callback and Fail steps, and references between them."""
    input_data = ParameterString("InputData", default_value="s3://sagepipe-demo/input")
    instance_count = ParameterInteger("InstanceCount", default_value=1)
    min_accuracy = ParameterFloat("MinAccuracy", default_value=threshold)
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
            code="s3://sagepipe-demo/code/evaluate.py",  # an S3 URI: nothing is uploaded
            inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
            outputs=[
                ProcessingOutput(
                    output_name="evaluation",
                    source="/opt/ml/processing/evaluation",
                    destination="s3://sagepipe-demo/evaluation",
                )
            ],
        ),
        property_files=[evaluation],
        cache_config=CacheConfig(enable_caching=True, expire_after="PT1H"),
        retry_policies=[
            StepRetryPolicy(
                exception_types=[
                    StepExceptionTypeEnum.SERVICE_FAULT,
                    StepExceptionTypeEnum.THROTTLING,
                ],
                interval_seconds=1,
                backoff_rate=1.0,
                max_attempts=2,
            ),
            SageMakerJobStepRetryPolicy(
                exception_types=[SageMakerJobExceptionTypeEnum.INTERNAL_ERROR],
                interval_seconds=1,
                backoff_rate=1.0,
                max_attempts=2,
            ),
        ],
    )
    estimator = Estimator(
        image_uri=IMAGE.format("train"),
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        output_path="s3://sagepipe-demo/models",
        hyperparameters={"min_accuracy": min_accuracy},
        sagemaker_session=session,
    )
    source = evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri
    train = TrainingStep(
        name="Train", step_args=estimator.fit(inputs={"train": TrainingInput(s3_data=source)})
    )
    model_uri = train.properties.ModelArtifacts.S3ModelArtifacts
    notify = LambdaStep(
        name="Notify",
        lambda_func=Lambda(function_arn=LAMBDA_ARN, session=session),  # no Lambda call
        inputs={"model": model_uri},
        outputs=[LambdaOutput(output_name="status", output_type=LambdaOutputTypeEnum.String)],
    )
    approve = CallbackStep(
        name="Approve",
        sqs_queue_url=QUEUE_URL,
        inputs={"model": model_uri, "notified": notify.properties.Outputs["status"]},
        outputs=[CallbackOutput(output_name="approved", output_type=CallbackOutputTypeEnum.String)],
    )
    publisher = ScriptProcessor(
        role=ROLE,
        image_uri=IMAGE.format("publish"),
        command=["python3"],
        instance_count=1,
        instance_type="ml.m5.large",
        env={"APPROVED": approve.properties.Outputs["approved"]},
        sagemaker_session=session,
    )
    publish = ProcessingStep(
        name="Publish",
        step_args=publisher.run(code="s3://sagepipe-demo/code/publish.py"),
        depends_on=[approve],
    )
    too_low = FailStep(
        name="TooLow",
        error_message=Join(on=" ", values=["accuracy below", min_accuracy, "or Deploy off"]),
    )
    check = ConditionStep(
        name="CheckAccuracy",
        conditions=[
            ConditionGreaterThanOrEqualTo(
                left=JsonGet(
                    step_name=evaluate.name, property_file=evaluation, json_path="metrics.accuracy"
                ),
                right=min_accuracy,
            ),
            ConditionEquals(left=deploy, right=True),
        ],
        if_steps=[train, notify, approve, publish],
        else_steps=[too_low],
    )
    return Pipeline(
        name=name,
        parameters=[input_data, instance_count, min_accuracy, deploy],
        steps=[evaluate, check],
        sagemaker_session=session,
    )


# ----------------------------------------------------------------------------------- helpers
def wait_until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.time() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def steps(execution: Any) -> dict[str, dict[str, Any]]:
    return {s["StepName"]: s for s in execution.list_steps()}


def answer_callback(sdk: Sdk, execution: Any, approved: str = "yes") -> str:
    """Wait for the Approve step to wait for its callback, then answer it with boto3."""

    def token() -> str | None:
        step = steps(execution).get("Approve", {})
        if step.get("StepStatus") != "Executing":
            return None
        return str(step["Metadata"]["Callback"]["CallbackToken"])

    callback_token = wait_until(token, "the Approve callback")
    sdk.sm.send_pipeline_execution_step_success(
        CallbackToken=callback_token, OutputParameters=[{"Name": "approved", "Value": approved}]
    )
    return str(callback_token)


def status_of(execution: Any, timeout: float = 30) -> str:
    """Poll until the execution leaves Executing/Stopping (the SDK's wait() knows only
    Succeeded and Failed)."""
    running = ("Executing", "Stopping")
    described = wait_until(
        lambda: (d := execution.describe())["PipelineExecutionStatus"] not in running and d,
        f"{execution.arn} to finish",
        timeout,
    )
    return str(described["PipelineExecutionStatus"])


def attempts(sdk: Sdk, arn: str) -> list[dict[str, Any]]:
    code, body = sdk.server.extension(
        "GET", f"/_sagepipe/executions/{arn.rsplit('/', 1)[1]}/attempts"
    )
    assert code == 200, body
    return list(body["attempts"])


def retry_plan(sdk: Sdk, arn: str) -> dict[str, Any]:
    code, body = sdk.server.extension(
        "GET", f"/_sagepipe/executions/{arn.rsplit('/', 1)[1]}/retry-plan"
    )
    assert code == 200, body
    return dict(body)


def start_and_fail(sdk: Sdk, name: str, step: str) -> Any:
    """Create the pipeline, make `step` fail once (no retry policy covers the failure), start
    it and let the SDK's waiter see it fail."""
    pipeline = build_pipeline(sdk.session, name)
    pipeline.upsert(role_arn=ROLE)
    sdk.faults(
        name,
        **{
            step: {
                "fail_attempts": 1,
                "exception_type": "SageMaker.CAPACITY_ERROR",
                "failure_reason": f"{step} broke",
            }
        },
    )
    execution = pipeline.start()
    with pytest.raises(WaiterError, match="terminal failure state"):
        execution.wait(delay=1, max_attempts=60)
    described = execution.describe()
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "Step failure: One or multiple steps failed."
    failed = steps(execution)[step]
    assert failed["StepStatus"] == "Failed"
    assert failed["FailureReason"] == f"{step} broke"
    return execution


def assert_only_failed_step_reran(sdk: Sdk, arn: str, failed: str) -> None:
    """After one manual retry: the failed step ran twice (once per run), every step that had
    succeeded ran once, in the original run, and the steps after the failure ran once, in the
    retry."""
    runs: dict[str, list[tuple[int, str]]] = {}
    for attempt in attempts(sdk, arn):
        runs.setdefault(attempt["step"], []).append((attempt["manual_retry"], attempt["status"]))
    position = IF_BRANCH.index(failed)
    before, after = IF_BRANCH[:position], IF_BRANCH[position + 1 :]
    assert runs[failed] == [(0, "Failed"), (1, "Succeeded")]
    for step in before:
        assert runs[step] == [(0, "Succeeded")], step
    for step in after:
        assert runs[step] == [(1, "Succeeded")], step
    assert "TooLow" not in runs


def parameter_defaults(described: dict[str, Any]) -> dict[str, Any]:
    definition = json.loads(described["PipelineDefinition"])
    return {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}


# ------------------------------------------------------------------------------------- tests
def test_upsert_creates_then_updates_and_merges_tags(sdk, name):
    pipeline = build_pipeline(sdk.session, name)
    created = pipeline.upsert(
        role_arn=ROLE, description="first", tags=[{"Key": "team", "Value": "ml"}]
    )
    arn = f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/{name}"
    assert created["PipelineArn"] == arn

    # Same name again: CreatePipeline answers "already exists", the SDK falls back to
    # UpdatePipeline (a new version, the definition changed) and merges the tags itself.
    changed = build_pipeline(sdk.session, name, threshold=0.7)
    del sdk.requests[:]
    updated = changed.upsert(
        role_arn=ROLE, description="second", tags=[{"Key": "stage", "Value": "dev"}]
    )
    assert updated["PipelineArn"] == arn
    assert updated["PipelineVersionId"] == 2
    operations = [operation for _, operation, _ in sdk.requests]
    assert operations == ["CreatePipeline", "UpdatePipeline", "ListTags", "AddTags"]
    versions = sdk.sm.list_pipeline_versions(PipelineName=name)["PipelineVersionSummaries"]
    assert [v["PipelineVersionId"] for v in versions] == [2, 1]

    described = changed.describe()
    assert described["PipelineDescription"] == "second"
    assert parameter_defaults(described)["MinAccuracy"] == 0.7
    first = sdk.sm.describe_pipeline(PipelineName=name, PipelineVersionId=1)
    assert parameter_defaults(first)["MinAccuracy"] == 0.5
    tags = sdk.sm.list_tags(ResourceArn=arn)["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("stage", "dev"), ("team", "ml")]


def test_pipeline_runs_every_step_kind_to_success(sdk, name):
    pipeline = build_pipeline(sdk.session, name)
    pipeline.upsert(role_arn=ROLE)
    # Evaluate fails once with an internal error: its SageMakerJobStepRetryPolicy re-runs it.
    sdk.faults(
        name, Evaluate={"fail_attempts": 1, "exception_type": "SageMaker.JOB_INTERNAL_ERROR"}
    )
    parameters = {
        "InputData": "s3://sagepipe-demo/other",
        "InstanceCount": 2,
        "MinAccuracy": 0.9,
        "Deploy": True,
    }
    execution = pipeline.start(parameters=parameters, execution_display_name="sdk-run")
    answer_callback(sdk, execution, approved="yes")
    execution.wait(delay=1, max_attempts=60)

    described = execution.describe()
    assert described["PipelineExecutionStatus"] == "Succeeded"
    assert described["PipelineExecutionDisplayName"] == "sdk-run"
    assert described["PipelineArn"] == execution.arn.split("/execution/")[0]
    ran = steps(execution)
    assert sorted(ran) == sorted(IF_BRANCH)
    assert {s["StepStatus"] for s in ran.values()} == {"Succeeded"}
    assert ran["Evaluate"]["AttemptCount"] == 2
    assert "ProcessingJob" in ran["Evaluate"]["Metadata"]
    assert ran["CheckAccuracy"]["Metadata"]["Condition"]["Outcome"] == "True"
    assert ran["Train"]["Metadata"]["TrainingJob"]["Arn"].startswith(
        f"arn:aws:sagemaker:{REGION}:123456789012:training-job/pipelines-"
    )
    assert ran["Notify"]["Metadata"]["Lambda"]["OutputParameters"] == [
        {"Name": "status", "Value": "sent"}
    ]
    assert ran["Approve"]["Metadata"]["Callback"]["OutputParameters"] == [
        {"Name": "approved", "Value": "yes"}
    ]
    # What each job was started with: parameters, step properties, Lambda and Callback
    # outputs all resolved, with the types the API expects.
    arguments = {
        a["step"]: a["arguments"]
        for a in attempts(sdk, execution.arn)
        if a["status"] == "Succeeded"
    }
    cluster = arguments["Evaluate"]["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceCount"] == 2
    assert (
        arguments["Evaluate"]["ProcessingInputs"][0]["S3Input"]["S3Uri"]
        == "s3://sagepipe-demo/other"
    )
    train = arguments["Train"]
    assert train["HyperParameters"] == {"min_accuracy": "0.9"}
    assert (
        train["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
        == "s3://sagepipe-demo/evaluation"
    )
    job_name = ran["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    model = arguments["Notify"]["model"]
    assert model.lower() == f"s3://sagepipe-demo/models/{job_name}/output/model.tar.gz"
    assert arguments["Approve"] == {"model": model, "notified": "sent"}
    assert arguments["Publish"]["Environment"] == {"APPROVED": "yes"}
    parameters_seen = execution.list_parameters()["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in parameters_seen} == {
        "InputData": "s3://sagepipe-demo/other",
        "InstanceCount": "2",
        "MinAccuracy": "0.9",
        "Deploy": "true",
    }


def test_condition_false_runs_the_fail_step_and_cache_hits(sdk, name):
    pipeline = build_pipeline(sdk.session, name)
    pipeline.upsert(role_arn=ROLE)
    sdk.faults(name)
    first = pipeline.start()
    answer_callback(sdk, first)
    first.wait(delay=1, max_attempts=60)

    # Same Evaluate arguments: a cache hit, whose property file still feeds the condition.
    second = pipeline.start(parameters={"MinAccuracy": 0.95})
    with pytest.raises(WaiterError, match="terminal failure state"):
        second.wait(delay=1, max_attempts=60)
    described = second.describe()
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "accuracy below 0.95 or Deploy off"
    ran = steps(second)
    assert sorted(ran) == ["CheckAccuracy", "Evaluate", "TooLow"]
    assert ran["Evaluate"]["StepStatus"] == "Succeeded"
    assert (
        ran["Evaluate"]["Metadata"]["ProcessingJob"]
        == steps(first)["Evaluate"]["Metadata"]["ProcessingJob"]
    )
    assert ran["Evaluate"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first.arn}
    assert ran["CheckAccuracy"]["Metadata"]["Condition"]["Outcome"] == "False"
    assert ran["TooLow"]["StepStatus"] == "Failed"

    # An execution that ended in a Fail step cannot be retried (docs/behaviour.md §5 step 4).
    with pytest.raises(ClientError) as refused:
        sdk.sm.retry_pipeline_execution(
            PipelineExecutionArn=second.arn, ClientRequestToken=uuid.uuid4().hex
        )
    assert refused.value.response["Error"]["Code"] == "ConflictException"


def test_stop_a_slow_execution_then_retry_it(sdk, name):
    pipeline = build_pipeline(sdk.session, name)
    pipeline.upsert(role_arn=ROLE)
    sdk.faults(name, Train={"duration_seconds": 60})
    execution = pipeline.start()
    wait_until(
        lambda: steps(execution).get("Train", {}).get("StepStatus") == "Executing", "Train to run"
    )
    execution.stop()
    assert status_of(execution) == "Stopped"
    ran = steps(execution)
    assert ran["Train"]["StepStatus"] == "Stopped"
    assert sorted(ran) == ["CheckAccuracy", "Evaluate", "Train"]
    with pytest.raises(ClientError, match="Only pipelines with 'Executing' status can be stopped"):
        execution.stop()

    sdk.faults(name)  # Train is quick again
    plan = retry_plan(sdk, execution.arn)
    assert plan["retryable"] is True and plan["error"] is None
    assert "Train" in plan["rerun"] and {"Evaluate", "CheckAccuracy"} <= set(plan["reuse"])
    sdk.sm.retry_pipeline_execution(
        PipelineExecutionArn=execution.arn, ClientRequestToken=uuid.uuid4().hex
    )
    answer_callback(sdk, execution)
    execution.wait(delay=1, max_attempts=60)
    assert execution.describe()["PipelineExecutionStatus"] == "Succeeded"
    ran = steps(execution)
    assert ran["Train"]["AttemptCount"] == 2
    assert ran["Evaluate"]["AttemptCount"] == 1


def test_retry_with_boto3_reruns_only_the_failed_step(sdk, name):
    execution = start_and_fail(sdk, name, "Train")
    assert sorted(steps(execution)) == ["CheckAccuracy", "Evaluate", "Train"]
    # The plan re-runs the failed step and runs the ones that never started; it reuses the rest.
    plan = retry_plan(sdk, execution.arn)
    assert plan["retryable"] is True and plan["error"] is None
    assert sorted(plan["rerun"]) == ["Approve", "Notify", "Publish", "Train"]
    assert sorted(plan["reuse"]) == ["CheckAccuracy", "Evaluate"]

    token = uuid.uuid4().hex
    retried = sdk.sm.retry_pipeline_execution(
        PipelineExecutionArn=execution.arn, ClientRequestToken=token
    )
    assert retried["PipelineExecutionArn"] == execution.arn
    answer_callback(sdk, execution)
    execution.wait(delay=1, max_attempts=60)
    assert execution.describe()["PipelineExecutionStatus"] == "Succeeded"
    ran = steps(execution)
    assert {s["StepStatus"] for s in ran.values()} == {"Succeeded"}
    assert ran["Train"]["AttemptCount"] == 2
    assert ran["Evaluate"]["AttemptCount"] == ran["CheckAccuracy"]["AttemptCount"] == 1
    assert_only_failed_step_reran(sdk, execution.arn, "Train")
    # Same token, same request: the recorded answer, and nothing runs again.
    again = sdk.sm.retry_pipeline_execution(
        PipelineExecutionArn=execution.arn, ClientRequestToken=token
    )
    assert again["PipelineExecutionArn"] == execution.arn
    assert execution.describe()["PipelineExecutionStatus"] == "Succeeded"
    # The SDK lists one execution: a retry resumes in place.
    assert len(pipeline_executions(sdk, name)) == 1


def pipeline_executions(sdk: Sdk, name: str) -> list[dict[str, Any]]:
    return list(sdk.sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"])


def test_retry_with_sagemaker_core_reruns_only_the_failed_step(sdk, name):
    from sagemaker_core.main.resources import PipelineExecution

    execution = start_and_fail(sdk, name, "Notify")
    # sagemaker-core's resource classes take a boto3 session and a region, no endpoint URL:
    # AWS_ENDPOINT_URL_SAGEMAKER (set by the fixture) points its client at sagepipe.
    core = PipelineExecution.get(execution.arn, session=sdk.boto_session, region=REGION)
    assert core.pipeline_execution_status == "Failed"
    assert core.failure_reason == "Step failure: One or multiple steps failed."
    core.retry(client_request_token=uuid.uuid4().hex, session=sdk.boto_session, region=REGION)
    answer_callback(sdk, execution)
    core.wait_for_status("Succeeded", poll=1, timeout=60)
    assert core.pipeline_execution_status == "Succeeded"
    # (Not core.get_all_steps(): sagemaker-core's PipelineExecutionStepMetadata model has no
    # `lambda` member - a Python keyword - and forbids extra members, so any Lambda step's
    # metadata fails its validation, against AWS as here. See docs/clients.md.)
    ran = steps(execution)
    assert ran["Notify"]["AttemptCount"] == 2
    assert ran["Train"]["AttemptCount"] == ran["Evaluate"]["AttemptCount"] == 1
    assert_only_failed_step_reran(sdk, execution.arn, "Notify")


def test_the_sdk_waiter_reports_failure_and_timeout(sdk, name):
    pipeline = build_pipeline(sdk.session, name)
    pipeline.upsert(role_arn=ROLE)
    sdk.faults(name)
    execution = pipeline.start()
    # The Approve callback is never answered: the waiter gives up after max_attempts.
    with pytest.raises(WaiterError, match="Max attempts exceeded"):
        execution.wait(delay=1, max_attempts=2)
    assert execution.describe()["PipelineExecutionStatus"] == "Executing"
    sdk.sm.send_pipeline_execution_step_failure(
        CallbackToken=steps(execution)["Approve"]["Metadata"]["Callback"]["CallbackToken"],
        FailureReason="rejected by a human",
    )
    with pytest.raises(WaiterError, match="terminal failure state"):
        execution.wait(delay=1, max_attempts=60)
    assert steps(execution)["Approve"]["FailureReason"] == "rejected by a human"


def test_model_steps_register_versions_the_sdk_reads_and_approves(sdk, name):
    """The end of an MLOps pipeline (the public abalone example's): a ModelStep that creates
    the trained model and one that registers it into a model package group; then the SDK's
    own registry calls on what the runs registered."""
    from sagemaker.model import Model, ModelPackage
    from sagemaker.session import Session
    from sagemaker.workflow.model_step import ModelStep

    group = f"{name}-models"
    estimator = Estimator(image_uri=IMAGE.format("train"), role=ROLE, instance_count=1,
                          instance_type="ml.m5.xlarge", output_path="s3://sagepipe-demo/models",
                          sagemaker_session=sdk.session)  # fmt: skip
    train = TrainingStep(name="Train", step_args=estimator.fit(
        inputs={"train": TrainingInput(s3_data="s3://sagepipe-demo/input")}))  # fmt: skip
    model = Model(image_uri=IMAGE.format("serve"), role=ROLE, sagemaker_session=sdk.session,
                  model_data=train.properties.ModelArtifacts.S3ModelArtifacts)  # fmt: skip
    create_model = ModelStep(
        name="CreateModel", step_args=model.create(instance_type="ml.m5.large")
    )
    register = ModelStep(name="Register", step_args=model.register(
        content_types=["text/csv"], response_types=["text/csv"],
        inference_instances=["ml.m5.large"], transform_instances=["ml.m5.large"],
        model_package_group_name=group, approval_status="PendingManualApproval"))  # fmt: skip
    pipeline = Pipeline(name=name, steps=[train, create_model, register],
                        sagemaker_session=sdk.session)  # fmt: skip
    pipeline.upsert(role_arn=ROLE)
    executions = [pipeline.start(), pipeline.start()]
    for execution in executions:
        execution.wait(delay=1, max_attempts=60)

    session = Session(boto_session=sdk.boto_session, sagemaker_client=sdk.sm,
                      sagemaker_config=SDK_CONFIG)  # fmt: skip
    listed = sdk.sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert [p["ModelPackageVersion"] for p in listed] == [1, 2]
    registered = {
        s["Metadata"]["RegisterModel"]["Arn"]
        for e in executions for s in e.list_steps() if "RegisterModel" in s["Metadata"]
    }  # fmt: skip
    assert registered == {p["ModelPackageArn"] for p in listed}
    latest = listed[-1]["ModelPackageArn"]
    assert session.wait_for_model_package(latest, poll=1)["ModelPackageStatus"] == "Completed"
    described = sdk.sm.describe_model_package(ModelPackageName=latest)
    container = described["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == IMAGE.format("serve")
    job = {s["StepName"]: s for s in executions[1].list_steps()}["Train"]
    job_name = job["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    trained = sdk.sm.describe_training_job(TrainingJobName=job_name)
    assert container["ModelDataUrl"] == trained["ModelArtifacts"]["S3ModelArtifacts"]

    ModelPackage(role=ROLE, model_package_arn=latest, sagemaker_session=session
                 ).update_approval_status("Approved", approval_description="ship it")  # fmt: skip
    approved = sdk.sm.list_model_packages(ModelPackageGroupName=group,
                                          ModelApprovalStatus="Approved")  # fmt: skip
    assert [p["ModelPackageArn"] for p in approved["ModelPackageSummaryList"]] == [latest]

    model_arn = next(s["Metadata"]["Model"]["Arn"] for s in executions[1].list_steps()
                     if "Model" in s["Metadata"])  # fmt: skip
    described_model = session.describe_model(model_arn.rsplit("/", 1)[1])
    assert described_model["ModelArn"] == model_arn
    assert described_model["PrimaryContainer"]["ModelDataUrl"] == container["ModelDataUrl"]


def test_the_sdk_works_unchanged_against_a_server_that_verifies_signatures(
    server_args, tmp_path, monkeypatch, name
):
    """docs/behaviour.md §14: with --credentials the SDK's own calls are signed as for AWS
    and verified; the wrong secret is refused with AWS's code."""
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({"credentials": [
        {"access_key": "AKIDSDK", "secret_key": "sdk-secret", "account": "444444444444"}]}))  # fmt: skip
    secured = ServerProcess([*server_args, "--credentials", str(credentials)])
    secured.start()
    try:
        for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(variable, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")

        def session_for(secret: str) -> PipelineSession:
            boto_session = boto3.Session(aws_access_key_id="AKIDSDK", aws_secret_access_key=secret,
                                         region_name=REGION)  # fmt: skip
            sm = boto_session.client("sagemaker", endpoint_url=secured.url,
                                     config=Config(retries={"max_attempts": 1}))  # fmt: skip
            return PipelineSession(boto_session=boto_session, sagemaker_client=sm,
                                   sagemaker_config=SDK_CONFIG)  # fmt: skip

        session = session_for("sdk-secret")
        estimator = Estimator(image_uri=IMAGE.format("train"), role=ROLE, instance_count=1,
                              instance_type="ml.m5.xlarge", output_path="s3://sagepipe-demo/m",
                              sagemaker_session=session)  # fmt: skip
        train = TrainingStep(name="Train", step_args=estimator.fit(
            inputs={"train": TrainingInput(s3_data="s3://sagepipe-demo/input")}))  # fmt: skip
        pipeline = Pipeline(name=name, steps=[train], sagemaker_session=session)
        created = pipeline.upsert(role_arn=ROLE)
        assert created["PipelineArn"].startswith("arn:aws:sagemaker:us-east-1:444444444444:")
        execution = pipeline.start()
        execution.wait(delay=1, max_attempts=30)
        assert execution.describe()["PipelineExecutionStatus"] == "Succeeded"

        wrong = Pipeline(name=name, steps=[train], sagemaker_session=session_for("not-it"))
        with pytest.raises(ClientError) as refused:
            wrong.describe()
        assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
    finally:
        secured.stop()
