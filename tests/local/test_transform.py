"""Transform steps on the local runner: the model a Model step created is unpacked, its
inference script's model_fn/input_fn/predict_fn/output_fn score every input object, and
`<input>.out` lands under S3OutputPath, as a batch transform job writes it."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

from tests.support.pipelines import ROLE, create, steps_by_name, wait_status
from tests.support.server import ServerProcess

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

INFERENCE = """
import json, os

def model_fn(model_dir):
    return json.load(open(os.path.join(model_dir, "model.json")))

def input_fn(body, content_type):
    assert content_type == "text/csv", content_type
    return [[float(x) for x in line.split(",")] for line in body.decode().splitlines()]

def predict_fn(rows, model):
    if any(row[0] < 0 for row in rows):
        raise ValueError("negative input")
    return [sum(row) * model["scale"] for row in rows]

def output_fn(prediction, accept):
    return "\\n".join(str(p) for p in prediction), accept
"""


def model_archive(script: str) -> bytes:
    """model.tar.gz as the SDK repacks a framework model: the artifact and code/<script>."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in (("model.json", json.dumps({"scale": 2})), ("code/inference.py", script)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def steps(bucket: str, model_name: Any = None) -> list[dict[str, Any]]:
    model = {
        "Name": "CreateModel", "Type": "Model",
        "Arguments": {"ExecutionRoleArn": ROLE, "PrimaryContainer": {
            "Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/model/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}}},
    }  # fmt: skip
    transform = {
        "Name": "Score", "Type": "Transform",
        "Arguments": {
            "ModelName": model_name or {"Get": "Steps.CreateModel.ModelName"},
            "TransformInput": {"ContentType": "text/csv", "SplitType": "Line",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                "S3Uri": f"s3://{bucket}/batch"}}},
            "TransformOutput": {"S3OutputPath": f"s3://{bucket}/scored", "AssembleWith": "Line",
                                "Accept": "text/csv"},
            "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
            "BatchStrategy": "MultiRecord",
        },
    }  # fmt: skip
    return [model, transform]


def put_inputs(s3: Any, bucket: str, script: str = INFERENCE) -> None:
    s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=model_archive(script))
    s3.put_object(Bucket=bucket, Key="batch/a.csv", Body=b"1,2\n3,4\n")
    s3.put_object(Bucket=bucket, Key="batch/more/b.csv", Body=b"10,0\n")


def run(server: ServerProcess, name: str, pipeline: list[dict[str, Any]]) -> tuple[str, dict]:
    sm = server.client()
    create(sm, name, pipeline)
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    status = wait_status(sm, arn, timeout=120)["PipelineExecutionStatus"]
    return status, steps_by_name(sm, arn)


def test_a_transform_step_scores_every_input_with_the_models_inference_script(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    put_inputs(s3, bucket)
    status, ran = run(local_server, name, steps(bucket))
    assert status == "Succeeded", ran["Score"].get("FailureReason")
    read = lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # noqa: E731
    assert read("scored/a.csv.out") == b"6.0\n14.0\n"  # (1+2)*2, (3+4)*2: one line each
    assert read("scored/more/b.csv.out") == b"20.0\n"  # relative paths are kept
    job = ran["Score"]["Metadata"]["TransformJob"]["Arn"].rsplit("/", 1)[1]
    described = local_server.client().describe_transform_job(TransformJobName=job)
    assert described["TransformJobStatus"] == "Completed"
    assert described["TransformOutput"]["S3OutputPath"] == f"s3://{bucket}/scored"
    model_arn = ran["CreateModel"]["Metadata"]["Model"]["Arn"]
    assert described["ModelName"].lower() == model_arn.rsplit("/", 1)[1]


def test_a_failing_inference_script_and_a_missing_model_fail_the_step_clearly(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    put_inputs(s3, bucket)
    s3.put_object(Bucket=bucket, Key="batch/more/b.csv", Body=b"-1,0\n")
    status, ran = run(local_server, name, steps(bucket))
    assert status == "Failed"
    assert ran["Score"]["FailureReason"] == (
        "AlgorithmError: transforming more/b.csv failed: ValueError: negative input"
    )
    status, ran = run(local_server, name + "-m", steps(bucket, model_name="no-such-model")[1:])
    assert status == "Failed"
    assert ran["Score"]["FailureReason"].startswith(
        'ClientError: Could not find model "no-such-model"'
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not [k for k in keys if k.startswith("scored/")]  # a failed job uploads nothing
