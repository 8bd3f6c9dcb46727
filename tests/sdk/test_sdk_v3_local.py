"""The SDK v3 (sagemaker-mlops pipelines, sagemaker-train's ModelTrainer, sagemaker-core's
processors and @step) run for real on the local runner: the v3 twin of the SDK v2 pipeline in
test_sdk_v2_local.py, with its fix-and-retry story, and a pipeline of @step functions.

ModelTrainer runs its own drivers (sm_train.sh from the sm_drivers channel) in the job; the
@step jobs run sagemaker-core's remote-function bootstrap. Real server, real S3 API (moto's
server), real processes. Needs the `sdk3` extra."""

from __future__ import annotations

import json
import random
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.sdk import SDK_CONFIG, isolate_sdk_v3, sdk_missing

if sdk_missing("3"):
    pytest.skip(str(sdk_missing("3")), allow_module_level=True)

from tests.support.jobenv import job_environment  # noqa: E402
from tests.support.s3 import MotoServer  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SKLEARN_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
FUNCTION_IMAGE = f"example.local/python-sagemaker:{PYTHON}"  # mapped to this virtualenv

PREPROCESS = """
import csv, pathlib, random
rows = list(csv.reader(open("/opt/ml/processing/input/data.csv")))
random.Random(7).shuffle(rows)
cut = int(len(rows) * 0.8)
for name, part in (("train", rows[:cut]), ("test", rows[cut:])):
    out = pathlib.Path(f"/opt/ml/processing/{name}"); out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{name}.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(part)
"""

TRAIN = """
import argparse, csv, os, joblib
from sklearn.tree import DecisionTreeClassifier
parser = argparse.ArgumentParser(); parser.add_argument("--max_depth", type=int, default=2)
args, _ = parser.parse_known_args()
rows = list(csv.reader(open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv"))))
X = [[float(a), float(b)] for a, b, _ in rows]; y = [int(c) for _, _, c in rows]
model = DecisionTreeClassifier(max_depth=args.max_depth, random_state=0).fit(X, y)
print(f"train_accuracy={model.score(X, y):.4f}")
joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""

BROKEN_TRAIN = "raise RuntimeError('the v3 training script has a bug')\n"

EVALUATE = """
import csv, json, pathlib, tarfile, joblib
with tarfile.open("/opt/ml/processing/model/model.tar.gz") as archive:
    archive.extractall("/tmp/model")
model = joblib.load("/tmp/model/model.joblib")
rows = list(csv.reader(open("/opt/ml/processing/test/test.csv")))
X = [[float(a), float(b)] for a, b, _ in rows]; y = [int(c) for _, _, c in rows]
out = pathlib.Path("/opt/ml/processing/evaluation"); out.mkdir(parents=True, exist_ok=True)
(out / "evaluation.json").write_text(json.dumps({"metrics": {"accuracy": model.score(X, y)}}))
"""


@pytest.fixture
def v3_local(
    s3_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    images = tmp_path / "images.json"
    images.write_text(json.dumps({"images": [
        {"match": "*sagemaker-scikit-learn*",
         "venv": str(job_environment("sagemaker-training", "scikit-learn"))},
        {"match": FUNCTION_IMAGE, "venv": sys.prefix, "environment": {"PIP_NO_INDEX": "1"}},
    ]}))  # fmt: skip
    server = ServerProcess(
        ["--data-dir", str(tmp_path / "data"), "--runner", "local", "--s3-endpoint-url",
         s3_server.url, "--images", str(images)]
    )  # fmt: skip
    server.start()
    isolate_sdk_v3(monkeypatch, server.url, REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.url)  # the SDK uploads code there
    # sagemaker-core's own clients (TrainingJob.get, ...) take credentials from the environment.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEYS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEYS["aws_secret_access_key"])

    import boto3
    from sagemaker.core.utils.utils import SageMakerClient
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    SageMakerClient.reset()
    boto_session = boto3.Session(region_name=REGION, **KEYS)
    requests: list[str] = []
    boto_session.events.register("before-send", lambda request, **_: requests.append(request.url))
    bucket = f"v3-{uuid.uuid4().hex[:8]}"
    s3 = boto_session.client("s3")
    s3.create_bucket(Bucket=bucket)
    sm = boto_session.client("sagemaker", endpoint_url=server.url)
    session = PipelineSession(
        boto_session=boto_session,
        sagemaker_client=sm,
        default_bucket=bucket,
        sagemaker_config=SDK_CONFIG,
    )
    try:
        yield {"server": server, "session": session, "sm": sm, "s3": s3, "bucket": bucket}
        # Nothing left loopback. (ModelTrainer asks IAM whether the role may write the default
        # bucket and carries on when it cannot: that call goes to AWS_ENDPOINT_URL's dead port.)
        assert [u for u in requests if not u.startswith("http://127.0.0.1:")] == []
    finally:
        SageMakerClient.reset()
        server.stop()


def dataset() -> bytes:
    rng = random.Random(1)
    rows = [(rng.random(), rng.random()) for _ in range(200)]
    return "\n".join(f"{a:.4f},{b:.4f},{int(a > b)}" for a, b in rows).encode()


def tabular_pipeline(session: Any, name: str, code: Path, bucket: str) -> Any:
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterString
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData, OutputDataConfig, SourceCode

    def s3_input(name: str, uri: Any, path: str) -> Any:
        return ProcessingInput(input_name=name, s3_input=ProcessingS3Input(
            s3_uri=uri, local_path=path, s3_data_type="S3Prefix", s3_input_mode="File"))  # fmt: skip

    def s3_output(name: str) -> Any:
        return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
            s3_uri=f"s3://{bucket}/{name}", local_path=f"/opt/ml/processing/{name}",
            s3_upload_mode="EndOfJob"))  # fmt: skip

    input_data = ParameterString("InputData", default_value=f"s3://{bucket}/raw/data.csv")
    processor = ScriptProcessor(role=ROLE, image_uri=SKLEARN_IMAGE, command=["python3"],
                                instance_count=1, instance_type="ml.m5.xlarge",
                                sagemaker_session=session)  # fmt: skip
    preprocess = ProcessingStep(name="Preprocess", step_args=processor.run(
        code=str(code / "preprocess.py"),
        inputs=[s3_input("raw", input_data, "/opt/ml/processing/input")],
        outputs=[s3_output("train"), s3_output("test")]))  # fmt: skip
    outputs = preprocess.properties.ProcessingOutputConfig.Outputs
    trainer = ModelTrainer(
        training_image=SKLEARN_IMAGE, role=ROLE, base_job_name="train",
        compute=Compute(instance_type="ml.m5.xlarge", instance_count=1),
        source_code=SourceCode(source_dir=str(code / "train"), entry_script="train.py"),
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{bucket}/models"),
        hyperparameters={"max_depth": 3}, sagemaker_session=session,
    )  # fmt: skip
    train = TrainingStep(name="Train", step_args=trainer.train(input_data_config=[
        InputData(channel_name="train", data_source=outputs["train"].S3Output.S3Uri)]))  # fmt: skip
    report = PropertyFile(name="Evaluation", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(name="Evaluate", property_files=[report], step_args=processor.run(
        code=str(code / "evaluate.py"),
        inputs=[s3_input("model", train.properties.ModelArtifacts.S3ModelArtifacts,
                         "/opt/ml/processing/model"),
                s3_input("test", outputs["test"].S3Output.S3Uri, "/opt/ml/processing/test")],
        outputs=[s3_output("evaluation")]))  # fmt: skip
    accuracy = JsonGet(step_name="Evaluate", property_file=report, json_path="metrics.accuracy")
    check = ConditionStep(
        name="CheckAccuracy",
        conditions=[ConditionGreaterThanOrEqualTo(left=accuracy, right=0.8)],
        if_steps=[],
        else_steps=[FailStep(name="TooLow", error_message=Join(on=" ", values=["low", accuracy]))],
    )
    return Pipeline(name=name, parameters=[input_data],
                    steps=[preprocess, train, evaluate, check], sagemaker_session=session)  # fmt: skip


def test_a_v3_pipeline_runs_for_real_and_a_fixed_training_script_resumes_with_a_retry(
    v3_local: dict[str, Any], tmp_path: Path
) -> None:
    from botocore.exceptions import WaiterError

    session, s3, bucket = v3_local["session"], v3_local["s3"], v3_local["bucket"]
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=dataset())
    code = tmp_path / "code"
    (code / "train").mkdir(parents=True)
    (code / "preprocess.py").write_text(PREPROCESS)
    (code / "evaluate.py").write_text(EVALUATE)
    (code / "train" / "train.py").write_text(BROKEN_TRAIN)
    pipeline = tabular_pipeline(session, "v3-tabular", code, bucket)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    with pytest.raises(WaiterError):
        execution.wait(delay=1, max_attempts=180)
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert steps["Preprocess"]["StepStatus"] == "Succeeded", steps
    assert steps["Train"]["StepStatus"] == "Failed"
    # ModelTrainer's driver writes its own failure file: that is the FailureReason.
    assert "returned non-zero exit status 1" in steps["Train"]["FailureReason"]
    exec_id = execution.arn.rsplit("/", 1)[1]
    server = v3_local["server"]
    _, logs = server.extension("GET", f"/_sagepipe/executions/{exec_id}/steps/Train/logs")
    assert "RuntimeError: the v3 training script has a bug" in logs["logs"]

    # Fix train.py where the failed job read it (ModelTrainer's `code` channel), then retry.
    failed_job = steps["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    described = v3_local["sm"].describe_training_job(TrainingJobName=failed_job)
    (code_uri,) = [c["DataSource"]["S3DataSource"]["S3Uri"]
                   for c in described["InputDataConfig"] if c["ChannelName"] == "code"]  # fmt: skip
    code_bucket, _, prefix = code_uri[len("s3://") :].partition("/")
    s3.put_object(Bucket=code_bucket, Key=f"{prefix.rstrip('/')}/train.py", Body=TRAIN.encode())
    v3_local["sm"].retry_pipeline_execution(
        PipelineExecutionArn=execution.arn, ClientRequestToken=uuid.uuid4().hex
    )
    execution.wait(delay=1, max_attempts=300)
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert steps["Preprocess"]["AttemptCount"] == 1
    assert steps["Train"]["AttemptCount"] == 2 and steps["Train"]["StepStatus"] == "Succeeded"
    assert steps["Evaluate"]["StepStatus"] == "Succeeded"
    assert steps["CheckAccuracy"]["Metadata"]["Condition"]["Outcome"] == "True", steps
    assert execution.describe()["PipelineExecutionStatus"] == "Succeeded"
    _, logs = server.extension("GET", f"/_sagepipe/executions/{exec_id}/steps/Train/logs")
    assert "train_accuracy=" in logs["logs"]

    # sagemaker-core reads the training job behind the step.
    from sagemaker.core.resources import TrainingJob

    job_name = steps["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    job = TrainingJob.get(job_name)
    assert job.training_job_status == "Completed"
    artifacts = job.model_artifacts.s3_model_artifacts
    artifacts_bucket, _, key = artifacts[len("s3://") :].partition("/")
    assert s3.head_object(Bucket=artifacts_bucket, Key=key)["ContentLength"] > 0


def test_v3_step_functions_pass_values_and_a_condition_tests_a_returned_value(
    v3_local: dict[str, Any],
) -> None:
    from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.function_step import step
    from sagemaker.mlops.workflow.pipeline import Pipeline

    @step(name="Make", role=ROLE, instance_type="ml.m5.large", image_uri=FUNCTION_IMAGE)
    def make(n: int) -> list[int]:
        return [i * i for i in range(n)]

    @step(name="Total", role=ROLE, instance_type="ml.m5.large", image_uri=FUNCTION_IMAGE)
    def total(values: list[int]) -> int:
        return sum(values)

    summed = total(make(4))
    check = ConditionStep(
        name="BigEnough",
        conditions=[ConditionGreaterThanOrEqualTo(left=summed, right=10)],
        if_steps=[],
        else_steps=[FailStep(name="TooSmall", error_message="the total is below 10")],
    )
    pipeline = Pipeline(name="v3-functions", steps=[check], sagemaker_session=v3_local["session"])
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    execution.wait(delay=1, max_attempts=300)
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert {n: s["StepStatus"] for n, s in steps.items()} == {
        "Make": "Succeeded", "Total": "Succeeded", "BigEnough": "Succeeded"
    }  # fmt: skip
    assert steps["BigEnough"]["Metadata"]["Condition"]["Outcome"] == "True"
    assert execution.result("Make") == [0, 1, 4, 9]
    assert execution.result("Total") == 14


def test_the_v3_tabular_example_runs_as_a_newcomer_runs_it(tmp_path: Path) -> None:
    """`scripts/example tabular_sdk_v3` against a server on its defaults (the local runner, the
    embedded object store)."""
    import re

    from tests.support.examples import run_scripts_example

    server = ServerProcess(["--data-dir", str(tmp_path / "data"), "--runner", "local"])
    server.start()
    try:
        out = run_scripts_example("tabular_sdk_v3", server.url, tmp_path / "data")
    finally:
        server.stop()
    for step in ("Preprocess", "Train", "Evaluate", "CheckAccuracy", "Register"):
        assert re.search(rf"^  {step} +Succeeded +attempts=1$", out, re.M), out
    assert re.search(
        r"^registered arn:aws:sagemaker:.*model-package/tabular-models-v3/1 ", out, re.M
    )
    assert out.splitlines()[-1] == "result: Succeeded"
