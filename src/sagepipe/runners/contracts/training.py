"""CreateTrainingJob's container contract (docs/behaviour.md §11.3)."""

from __future__ import annotations

from typing import Any

from sagepipe.runners.contracts.plan import (
    ContractError,
    Download,
    JobPlan,
    Upload,
    resource_config,
    string_map,
    under_opt_ml,
)

DATA = "/opt/ml/input/data"


def model_artifacts_uri(arguments: dict[str, Any], job_name: str) -> str:
    output = str((arguments.get("OutputDataConfig") or {}).get("S3OutputPath") or "")
    return f"{output.rstrip('/')}/{job_name}/output/model.tar.gz"


def training_plan(arguments: dict[str, Any], job_name: str, job_arn: str | None) -> JobPlan:
    spec = arguments.get("AlgorithmSpecification") or {}
    resources = arguments.get("ResourceConfig") or {}
    count = int(resources.get("InstanceCount") or 1)
    hyper = string_map(arguments.get("HyperParameters"))
    entrypoint = list(spec.get("ContainerEntrypoint") or [])
    container_args = list(spec.get("ContainerArguments") or [])
    mode = spec.get("TrainingInputMode", "File")
    if mode == "Pipe":
        raise ContractError(
            "ClientError: TrainingInputMode Pipe is not supported by the local runner; use File "
            "(or FastFile)."
        )
    plan = JobPlan(
        kind="Training",
        image=str(spec.get("TrainingImage") or spec.get("AlgorithmName") or ""),
        entrypoint=entrypoint or None,
        arguments=container_args,
        environment=string_map(arguments.get("Environment")),
        instance_count=count,
        script_mode="sagemaker_program" in hyper,
        metric_definitions=list(spec.get("MetricDefinitions") or []),
    )
    channels: dict[str, Any] = {}
    for channel in arguments.get("InputDataConfig") or []:
        name = str(channel.get("ChannelName"))
        source = (channel.get("DataSource") or {}).get("S3DataSource")
        if source is None:
            raise ContractError(
                f"ClientError: channel '{name}' has no S3DataSource; the local runner stages "
                "channels from S3 only."
            )
        channel_mode = channel.get("InputMode") or mode
        if channel_mode == "Pipe":
            raise ContractError(
                f"ClientError: channel '{name}' uses Pipe mode, which the local runner does not "
                "support; use File."
            )
        plan.downloads.append(
            Download(
                uri=source.get("S3Uri"),
                path=f"{DATA}/{name}",
                data_type=source.get("S3DataType", "S3Prefix"),
                sharded=source.get("S3DataDistributionType") == "ShardedByS3Key",
            )
        )
        channels[name] = {
            "TrainingInputMode": "File" if channel_mode == "FastFile" else channel_mode,
            "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": channel.get("RecordWrapperType", "None"),
            **({"ContentType": channel["ContentType"]} if channel.get("ContentType") else {}),
        }
    plan.files["/opt/ml/input/config/hyperparameters.json"] = hyper
    plan.files["/opt/ml/input/config/inputdataconfig.json"] = channels
    plan.files["/opt/ml/input/config/resourceconfig.json"] = {
        **resource_config(count),
        "current_instance_type": resources.get("InstanceType", "ml.m5.xlarge"),
    }
    plan.directories += ["/opt/ml/model", "/opt/ml/output/data", "/opt/ml/code"]
    artifacts = model_artifacts_uri(arguments, job_name)
    plan.uploads.append(Upload(path="/opt/ml/model", uri=artifacts, archive=True))
    plan.uploads.append(
        Upload(path="/opt/ml/output/data", uri=artifacts[: -len("model.tar.gz")] + "output.tar.gz",
               archive=True)
    )  # fmt: skip
    checkpoint = arguments.get("CheckpointConfig")
    if checkpoint and checkpoint.get("S3Uri"):
        local = under_opt_ml(checkpoint.get("LocalPath") or "/opt/ml/checkpoints",
                             "CheckpointConfig.LocalPath")  # fmt: skip
        plan.checkpoint = Upload(path=local, uri=str(checkpoint["S3Uri"]))
        plan.directories.append(local)
    stopping = arguments.get("StoppingCondition") or {}
    plan.max_runtime_seconds = stopping.get("MaxRuntimeInSeconds")
    plan.volume_gb = resources.get("VolumeSizeInGB")
    plan.environment.setdefault("TRAINING_JOB_NAME", job_name)
    if job_arn:
        plan.environment.setdefault("TRAINING_JOB_ARN", job_arn)
    return plan
