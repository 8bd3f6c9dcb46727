"""An SDK v2 pipeline as people write it, run for real on the local runner: an SKLearnProcessor
preprocesses a CSV into train and test sets, an SKLearn estimator trains in script mode (the
sagemaker-training toolkit in the job's environment), a ScriptProcessor evaluates the model
into evaluation.json (a PropertyFile), a ConditionStep reads its accuracy with JsonGet, and a
FailStep stands on the other branch. Then the fix-and-retry story with the SDK's own calls.

Real server, real S3 API (moto's server), real processes. Needs the `sdk` extra."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sdk import SDK_CONFIG, sdk_missing

if sdk_missing("2"):
    pytest.skip(str(sdk_missing("2")), allow_module_level=True)

import boto3  # noqa: E402
from sagemaker.inputs import TrainingInput  # noqa: E402
from sagemaker.processing import (  # noqa: E402
    FrameworkProcessor,
    ProcessingInput,
    ProcessingOutput,
    ScriptProcessor,
)
from sagemaker.sklearn.estimator import SKLearn  # noqa: E402
from sagemaker.sklearn.processing import SKLearnProcessor  # noqa: E402
from sagemaker.workflow.condition_step import ConditionStep  # noqa: E402
from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo  # noqa: E402
from sagemaker.workflow.fail_step import FailStep  # noqa: E402
from sagemaker.workflow.functions import Join, JsonGet  # noqa: E402
from sagemaker.workflow.parameters import ParameterString  # noqa: E402
from sagemaker.workflow.pipeline import Pipeline  # noqa: E402
from sagemaker.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.workflow.properties import PropertyFile  # noqa: E402
from sagemaker.workflow.steps import ProcessingStep, TrainingStep  # noqa: E402

from tests.support.jobenv import job_environment  # noqa: E402
from tests.support.s3 import MotoServer  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

PREPROCESS = """
import csv, pathlib, random
rows = list(csv.reader(open("/opt/ml/processing/input/data.csv")))
random.Random(7).shuffle(rows)
cut = int(len(rows) * 0.8)
for name, part in (("train", rows[:cut]), ("test", rows[cut:])):
    out = pathlib.Path(f"/opt/ml/processing/{name}"); out.mkdir(parents=True, exist_ok=True)
    with open(out / f"{name}.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(part)
print(f"split {len(rows)} rows: {cut} train")
"""

# The training source_dir has a module of its own beside the entry point, and a
# requirements.txt the toolkit installs before it runs the script.
FEATURES = """
import csv, os
def load(channel):
    rows = list(csv.reader(open(os.path.join(os.environ[f"SM_CHANNEL_{channel}"], "train.csv"))))
    return [[float(a), float(b)] for a, b, _ in rows], [int(c) for _, _, c in rows]
"""

TRAIN = """
import argparse, os, joblib
from sklearn.tree import DecisionTreeClassifier
from features import load
parser = argparse.ArgumentParser(); parser.add_argument("--max_depth", type=int, default=2)
args = parser.parse_args()
X, y = load("TRAIN")
model = DecisionTreeClassifier(max_depth=args.max_depth, random_state=0).fit(X, y)
print(f"train_accuracy={model.score(X, y):.4f}")
joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""

BROKEN_TRAIN = "raise RuntimeError('the training script has a bug')\n"

EVALUATE = """
import csv, json, pathlib, tarfile, joblib
with tarfile.open("/opt/ml/processing/model/model.tar.gz") as archive:
    archive.extractall("/tmp/model")
model = joblib.load("/tmp/model/model.joblib")
rows = list(csv.reader(open("/opt/ml/processing/test/test.csv")))
X = [[float(a), float(b)] for a, b, _ in rows]; y = [int(c) for _, _, c in rows]
out = pathlib.Path("/opt/ml/processing/evaluation"); out.mkdir(parents=True, exist_ok=True)
(out / "evaluation.json").write_text(json.dumps({"metrics": {"accuracy": {"value": model.score(X, y)}}}))
"""


def dataset() -> bytes:
    import random

    rng = random.Random(1)
    lines = []
    for _ in range(200):
        a, b = rng.random(), rng.random()
        lines.append(f"{a:.4f},{b:.4f},{int(a > b)}")
    return "\n".join(lines).encode()


@pytest.fixture
def local_server(
    s3_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServerProcess]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # The SDK's own S3 calls (uploading code, the default bucket) go to the same store.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.url)
    venv = job_environment("sagemaker-training", "scikit-learn")
    images = tmp_path / "images.json"
    # PIP_NO_INDEX: a source_dir's requirements.txt installs from what the venv has.
    images.write_text(json.dumps({"images": [{"match": "*sagemaker-scikit-learn*",
                                              "venv": str(venv),
                                              "environment": {"PIP_NO_INDEX": "1"}}]}))  # fmt: skip
    server = ServerProcess(
        ["--data-dir", str(tmp_path / "data"), "--runner", "local", "--s3-endpoint-url",
         s3_server.url, "--images", str(images)]
    )  # fmt: skip
    server.start()
    # The SDK's log tailer (logs_for_job, logs=True) reads CloudWatch Logs at the same server.
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", server.url)
    try:
        yield server
    finally:
        server.stop()


def pipeline_session(server: ServerProcess, bucket: str) -> PipelineSession:
    """The SDK's session on `server`, with `bucket` its default bucket and telemetry off."""
    boto_session = boto3.Session(region_name=REGION, **KEYS)
    return PipelineSession(
        boto_session=boto_session,
        sagemaker_client=boto_session.client("sagemaker", endpoint_url=server.url),
        default_bucket=bucket,
        sagemaker_config=SDK_CONFIG,
    )


def pipeline(session: PipelineSession, name: str, code: Path, bucket: str) -> Pipeline:
    input_data = ParameterString("InputData", default_value=f"s3://{bucket}/raw/data.csv")
    sklearn = SKLearnProcessor(framework_version="1.2-1", role=ROLE, instance_type="ml.m5.xlarge",
                               instance_count=1, sagemaker_session=session)  # fmt: skip
    preprocess = ProcessingStep("Preprocess", step_args=sklearn.run(
        code=str(code / "preprocess.py"),
        inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                 ProcessingOutput(output_name="test", source="/opt/ml/processing/test")]))  # fmt: skip
    outputs = preprocess.properties.ProcessingOutputConfig.Outputs
    estimator = SKLearn(entry_point="train.py", source_dir=str(code / "train"),
                        framework_version="1.2-1", instance_type="ml.m5.xlarge", role=ROLE,
                        output_path=f"s3://{bucket}/models", hyperparameters={"max_depth": 3},
                        metric_definitions=[{"Name": "train:accuracy",
                                             "Regex": "train_accuracy=([0-9.]+)"}],
                        sagemaker_session=session)  # fmt: skip
    train = TrainingStep(
        "Train",
        step_args=estimator.fit(
            {"train": TrainingInput(outputs["train"].S3Output.S3Uri, content_type="text/csv")}
        ),
    )
    report = PropertyFile("EvaluationReport", output_name="evaluation", path="evaluation.json")
    evaluator = ScriptProcessor(image_uri=sklearn.image_uri, command=["python3"], role=ROLE,
                                instance_type="ml.m5.xlarge", instance_count=1,
                                sagemaker_session=session)  # fmt: skip
    evaluate = ProcessingStep("Evaluate", property_files=[report], step_args=evaluator.run(
        code=str(code / "evaluate.py"),
        inputs=[ProcessingInput(train.properties.ModelArtifacts.S3ModelArtifacts,
                                "/opt/ml/processing/model"),
                ProcessingInput(outputs["test"].S3Output.S3Uri, "/opt/ml/processing/test")],
        outputs=[ProcessingOutput(output_name="evaluation",
                                  source="/opt/ml/processing/evaluation")]))  # fmt: skip
    accuracy = JsonGet(step_name=evaluate.name, property_file=report,
                       json_path="metrics.accuracy.value")  # fmt: skip
    too_low = FailStep("AccuracyTooLow", error_message=Join(on=" ", values=["accuracy", accuracy]))
    good = FailStep("AccuracyGood", error_message=Join(on=" ", values=["good", accuracy]))
    check = ConditionStep("CheckAccuracy", conditions=[ConditionGreaterThanOrEqualTo(accuracy, 0.8)],
                          if_steps=[good], else_steps=[too_low])  # fmt: skip
    return Pipeline(name=name, parameters=[input_data], sagemaker_session=session,
                    steps=[preprocess, train, evaluate, check])  # fmt: skip


def test_an_sdk_v2_pipeline_runs_for_real_and_a_fixed_training_script_resumes_with_a_retry(
    local_server: ServerProcess,
    s3_server: MotoServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket, name = f"b-{uuid.uuid4().hex[:8]}", f"sdk-local-{uuid.uuid4().hex[:6]}"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=dataset())
    code = tmp_path / "code"
    (code / "train").mkdir(parents=True)
    (code / "preprocess.py").write_text(PREPROCESS)
    (code / "evaluate.py").write_text(EVALUATE)
    (code / "train" / "train.py").write_text(BROKEN_TRAIN)
    (code / "train" / "features.py").write_text(FEATURES)
    (code / "train" / "requirements.txt").write_text("scikit-learn\n")
    session = pipeline_session(local_server, bucket)
    built = pipeline(session, name, code, bucket)
    built.upsert(role_arn=ROLE)
    execution = built.start()
    with pytest.raises(Exception):  # noqa: B017 - the SDK's waiter raises on a failed run
        execution.wait(delay=1, max_attempts=180)
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert steps["Preprocess"]["StepStatus"] == "Succeeded", steps
    assert steps["Train"]["StepStatus"] == "Failed"
    # The toolkit's own failure file is the FailureReason, as on AWS; the error is in the log.
    assert steps["Train"]["FailureReason"].startswith("ExecuteUserScriptError:")
    exec_id = execution.arn.rsplit("/", 1)[1]
    _, logs = local_server.extension("GET", f"/_sagepipe/executions/{exec_id}/steps/Train/logs")
    assert "RuntimeError: the training script has a bug" in logs["logs"]

    # Fix train.py at the same S3 URI the failed job read its code from, then retry.
    hyper = json.loads(built.definition())["Steps"][1]["Arguments"]["HyperParameters"]
    source = json.loads(hyper["sagemaker_submit_directory"])
    src_bucket, _, key = source[len("s3://") :].partition("/")
    (code / "train" / "train.py").write_text(TRAIN)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name in ("train.py", "features.py", "requirements.txt"):
            tar.add(code / "train" / name, arcname=name)
    s3.put_object(Bucket=src_bucket, Key=key, Body=archive.getvalue())
    prepared = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]
                if "/Preprocess/" in o["Key"]}  # fmt: skip
    assert prepared
    session.sagemaker_client.retry_pipeline_execution(
        PipelineExecutionArn=execution.arn, ClientRequestToken=uuid.uuid4().hex
    )
    with pytest.raises(Exception):  # noqa: B017 - ends in a Fail step on either branch
        execution.wait(delay=1, max_attempts=300)
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert steps["Preprocess"]["AttemptCount"] == 1
    assert steps["Train"]["AttemptCount"] == 2 and steps["Train"]["StepStatus"] == "Succeeded"
    assert steps["Evaluate"]["StepStatus"] == "Succeeded"
    assert steps["CheckAccuracy"]["Metadata"]["Condition"]["Outcome"] == "True", steps
    described = execution.describe()
    assert described["FailureReason"].startswith("good 0.")
    assert float(described["FailureReason"].split()[1]) >= 0.8
    still = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]
             if "/Preprocess/" in o["Key"]}  # fmt: skip
    assert still == prepared  # the kept preprocessing outputs were not written again

    # The training job behind the step, as code around pipelines reads it.
    job = steps["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    described_job = session.sagemaker_client.describe_training_job(TrainingJobName=job)
    attached = SKLearn.attach(described_job["TrainingJobName"], sagemaker_session=session)
    assert attached.model_data == described_job["ModelArtifacts"]["S3ModelArtifacts"]
    model_bucket, _, model_key = attached.model_data[len("s3://") :].partition("/")
    assert s3.head_object(Bucket=model_bucket, Key=model_key)["ContentLength"] > 0
    assert attached.hyperparameters()["max_depth"] == "3"
    capsys.readouterr()
    session.logs_for_job(described_job["TrainingJobName"], wait=False)
    tail = capsys.readouterr().out
    assert "train_accuracy=" in tail
    assert "Requirement already satisfied: scikit-learn" in tail  # the toolkit ran pip on it


INFERENCE = """
import os, joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
"""


def test_an_sdk_v2_batch_transform_scores_with_the_trained_model(
    local_server: ServerProcess, s3_server: MotoServer, tmp_path: Path
) -> None:
    """Train, create an SKLearnModel with an inference script, and score a CSV with a
    Transformer in a TransformStep: the SDK's own repack step, the model's model_fn and the
    default CSV input/predict/output handling all run for real."""
    from sagemaker.sklearn.model import SKLearnModel
    from sagemaker.transformer import Transformer
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.steps import TransformStep

    bucket, name = f"b-{uuid.uuid4().hex[:8]}", f"sdk-batch-{uuid.uuid4().hex[:6]}"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=bucket)
    rows = [line.rsplit(",", 1) for line in dataset().decode().splitlines()]
    s3.put_object(Bucket=bucket, Key="data/train/train.csv", Body=dataset())
    s3.put_object(Bucket=bucket, Key="batch/features.csv",
                  Body="\n".join(features for features, _ in rows[:20]).encode())  # fmt: skip
    code = tmp_path / "code"
    (code / "train").mkdir(parents=True)
    (code / "serve").mkdir()
    (code / "train" / "train.py").write_text(TRAIN)
    (code / "train" / "features.py").write_text(FEATURES)
    (code / "serve" / "inference.py").write_text(INFERENCE)
    session = pipeline_session(local_server, bucket)
    estimator = SKLearn(entry_point="train.py", source_dir=str(code / "train"),
                        framework_version="1.2-1", instance_type="ml.m5.xlarge", role=ROLE,
                        output_path=f"s3://{bucket}/models", sagemaker_session=session)  # fmt: skip
    train = TrainingStep("Train", step_args=estimator.fit(
        {"train": TrainingInput(f"s3://{bucket}/data/train", content_type="text/csv")}))  # fmt: skip
    model = SKLearnModel(model_data=train.properties.ModelArtifacts.S3ModelArtifacts,
                         entry_point="inference.py", source_dir=str(code / "serve"),
                         framework_version="1.2-1", role=ROLE, sagemaker_session=session)  # fmt: skip
    create = ModelStep("CreateModel", step_args=model.create(instance_type="ml.m5.large"))
    transformer = Transformer(model_name=create.properties.ModelName, instance_count=1,
                              instance_type="ml.m5.large", output_path=f"s3://{bucket}/scored",
                              accept="text/csv", assemble_with="Line", sagemaker_session=session)  # fmt: skip
    score = TransformStep("Score", step_args=transformer.transform(
        data=f"s3://{bucket}/batch", content_type="text/csv", split_type="Line"))  # fmt: skip
    pipeline = Pipeline(name=name, steps=[train, create, score], sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    try:
        execution.wait(delay=1, max_attempts=300)
    finally:
        ran = {s["StepName"]: s for s in execution.list_steps()}
    assert {s["StepStatus"] for s in ran.values()} == {"Succeeded"}, ran

    scored = s3.get_object(Bucket=bucket, Key="scored/features.csv.out")["Body"].read().decode()
    predictions = [int(float(line)) for line in scored.splitlines()]
    assert len(predictions) == 20 and set(predictions) <= {0, 1}
    truth = [int(label) for _, label in rows[:20]]
    assert sum(p == t for p, t in zip(predictions, truth, strict=True)) >= 15  # it learned


PREPARE = """
import pathlib
from scaling import scale  # a module of the source_dir
rows = pathlib.Path("/opt/ml/processing/input/data.csv").read_text().splitlines()
out = pathlib.Path("/opt/ml/processing/scaled"); out.mkdir(parents=True, exist_ok=True)
(out / "scaled.csv").write_text("\\n".join(scale(row) for row in rows))
print(f"scaled {len(rows)} rows")
"""

SCALING = """
def scale(row):
    a, b, label = row.split(",")
    return f"{float(a) * 10:.3f},{float(b) * 10:.3f},{label}"
"""


def test_a_framework_processor_runs_its_source_dir_through_runproc_with_requirements(
    local_server: ServerProcess, s3_server: MotoServer, tmp_path: Path
) -> None:
    """FrameworkProcessor(source_dir=...) packs the code with a runproc.sh that unpacks it,
    pip-installs its requirements.txt and runs the entry point: all of it in the job."""
    bucket = f"fw-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_server.url, region_name=REGION, **KEYS)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=dataset())
    source = tmp_path / "prepare"
    source.mkdir()
    (source / "prepare.py").write_text(PREPARE)
    (source / "scaling.py").write_text(SCALING)
    (source / "requirements.txt").write_text("scikit-learn\n")
    session = pipeline_session(local_server, bucket)
    processor = FrameworkProcessor(estimator_cls=SKLearn, framework_version="1.2-1", role=ROLE,
                                   instance_type="ml.m5.xlarge", instance_count=1,
                                   sagemaker_session=session)  # fmt: skip
    prepare = ProcessingStep("Prepare", step_args=processor.run(
        code="prepare.py", source_dir=str(source),
        inputs=[ProcessingInput(source=f"s3://{bucket}/raw/data.csv",
                                destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name="scaled", source="/opt/ml/processing/scaled",
                                  destination=f"s3://{bucket}/scaled")]))  # fmt: skip
    arguments = json.loads(Pipeline(name="x", steps=[prepare], sagemaker_session=session)
                           .definition())["Steps"][0]["Arguments"]  # fmt: skip
    assert arguments["AppSpecification"]["ContainerEntrypoint"][-1].endswith("runproc.sh")
    built = Pipeline(name=f"fw-{uuid.uuid4().hex[:6]}", steps=[prepare], sagemaker_session=session)
    built.upsert(role_arn=ROLE)
    execution = built.start()
    execution.wait(delay=1, max_attempts=180)
    scaled = s3.get_object(Bucket=bucket, Key="scaled/scaled.csv")["Body"].read().decode()
    first = dataset().decode().splitlines()[0].split(",")
    assert (
        scaled.splitlines()[0]
        == f"{float(first[0]) * 10:.3f},{float(first[1]) * 10:.3f},{first[2]}"
    )
    exec_id = execution.arn.rsplit("/", 1)[1]
    _, logs = local_server.extension("GET", f"/_sagepipe/executions/{exec_id}/steps/Prepare/logs")
    assert "Requirement already satisfied: scikit-learn" in logs["logs"]
    assert "scaled 200 rows" in logs["logs"]
