"""CreateTransformJob's contract (docs/behaviour.md §11.3): each input object goes through the
model, and `<its relative path>.out` lands under TransformOutput.S3OutputPath.

The model is the one the request's ModelName names (a Model step's, recorded by the engine):
its model.tar.gz is unpacked at /opt/ml/model and its inference script (SAGEMAKER_PROGRAM, in
SAGEMAKER_SUBMIT_DIRECTORY or the model's code/) is run by `transform_driver.py`, which calls
the script's model_fn, input_fn, predict_fn and output_fn (or transform_fn) per mini-batch, as
the SageMaker inference toolkit does behind its HTTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sagepipe.runners.contracts.plan import ContractError, Download, JobPlan, Upload, string_map

DRIVER = str(Path(__file__).with_name("transform_driver.py"))
SETTINGS = "/opt/ml/input/config/transform.json"
# What the driver reads, as the inference toolkit's batch settings are named.
DEFAULT_PAYLOAD_MB = 6
SPLITS = ("None", "Line")
COMPRESSIONS = ("None", "Gzip")


def transform_plan(
    arguments: dict[str, Any], job_name: str, job_arn: str | None, model: dict[str, Any] | None
) -> JobPlan:
    if model is None:
        raise ContractError(
            f'ClientError: Could not find model "{arguments.get("ModelName")}": a Model step '
            "(or CreateModel) must create it before the Transform step runs."
        )
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    transform_input = arguments.get("TransformInput") or {}
    source = (transform_input.get("DataSource") or {}).get("S3DataSource") or {}
    output = arguments.get("TransformOutput") or {}
    split = transform_input.get("SplitType") or "None"
    compression = transform_input.get("CompressionType") or "None"
    if split not in SPLITS:
        raise ContractError(
            f"ClientError: SplitType {split} is not supported by the local runner; use Line or "
            "None."
        )
    if compression not in COMPRESSIONS:
        raise ContractError(f"ClientError: CompressionType {compression} is not supported.")
    processing = arguments.get("DataProcessing") or {}
    if (
        processing.get("InputFilter", "$") != "$"
        or processing.get("OutputFilter", "$") != "$"
        or (processing.get("JoinSource", "None") != "None")
    ):
        raise ContractError(
            "ClientError: DataProcessing filters and JoinSource are not supported by the local "
            "runner yet; leave them out."
        )
    environment = string_map(container.get("Environment"))
    environment.update(string_map(arguments.get("Environment")))
    strategy = arguments.get("BatchStrategy") or "MultiRecord"
    payload = int(arguments.get("MaxPayloadInMB") or DEFAULT_PAYLOAD_MB)
    environment.update(
        SAGEMAKER_BATCH="true", SAGEMAKER_MAX_PAYLOAD_IN_MB=str(payload),
        SAGEMAKER_BATCH_STRATEGY="MULTI_RECORD" if strategy == "MultiRecord" else "SINGLE_RECORD",
        SAGEMAKER_MAX_CONCURRENT_TRANSFORMS="1", TRANSFORM_JOB_NAME=job_name,
    )  # fmt: skip
    if job_arn:
        environment["TRANSFORM_JOB_ARN"] = job_arn
    resources = arguments.get("TransformResources") or {}
    plan = JobPlan(
        kind="Transform",
        image=str(container.get("Image") or ""),
        entrypoint=["python3", DRIVER],
        arguments=[],
        environment=environment,
        instance_count=int(resources.get("InstanceCount") or 1),
    )
    if container.get("ModelDataUrl"):
        plan.downloads.append(
            Download(uri=str(container["ModelDataUrl"]), path="/opt/ml/input/model")
        )
    submitted = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if submitted.startswith("s3://"):
        plan.downloads.append(Download(uri=submitted, path="/opt/ml/input/code"))
    plan.downloads.append(
        Download(uri=str(source.get("S3Uri")), path="/opt/ml/input/data",
                 data_type=source.get("S3DataType", "S3Prefix"))
    )  # fmt: skip
    plan.files[SETTINGS] = {
        "content_type": transform_input.get("ContentType") or "text/csv",
        "accept": output.get("Accept") or transform_input.get("ContentType") or "text/csv",
        "split": split, "compression": compression, "strategy": strategy,
        "max_payload_bytes": payload * 1024 * 1024 if payload else None,
        "assemble_with": output.get("AssembleWith") or "None",
    }  # fmt: skip
    plan.directories += ["/opt/ml/model", "/opt/ml/transform"]
    plan.uploads.append(Upload(path="/opt/ml/transform", uri=str(output.get("S3OutputPath"))))
    return plan
