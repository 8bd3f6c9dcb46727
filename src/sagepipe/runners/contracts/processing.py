"""CreateProcessingJob's container contract (docs/behaviour.md §11.3)."""

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

PROCESSING = "/opt/ml/processing"


def processing_plan(arguments: dict[str, Any], job_name: str, job_arn: str | None) -> JobPlan:
    app = arguments.get("AppSpecification") or {}
    cluster = (arguments.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    count = int(cluster.get("InstanceCount") or 1)
    entrypoint = list(app.get("ContainerEntrypoint") or [])
    container_args = list(app.get("ContainerArguments") or [])
    plan = JobPlan(
        kind="Processing",
        image=str(app.get("ImageUri") or ""),
        entrypoint=entrypoint or None,
        arguments=container_args,
        environment=string_map(arguments.get("Environment")),
        instance_count=count,
    )
    plan.environment.setdefault("PROCESSING_JOB_NAME", job_name)
    if job_arn:
        plan.environment.setdefault("PROCESSING_JOB_ARN", job_arn)
    for item in arguments.get("ProcessingInputs") or []:
        s3 = item.get("S3Input")
        if s3 is None:
            name = item.get("InputName")
            raise ContractError(
                f"ClientError: input '{name}' uses DatasetDefinition, which the local runner "
                "does not run: give it an S3Input."
            )
        path = under_opt_ml(s3.get("LocalPath"), "ProcessingInputs.S3Input.LocalPath", PROCESSING)
        if s3.get("S3InputMode", "File") != "File":
            raise ContractError(
                f"ClientError: input '{item.get('InputName')}' uses S3InputMode "
                f"{s3.get('S3InputMode')}; the local runner supports File mode only."
            )
        plan.downloads.append(
            Download(
                uri=s3.get("S3Uri"),
                path=path,
                data_type=s3.get("S3DataType", "S3Prefix"),
                sharded=s3.get("S3DataDistributionType") == "ShardedByS3Key",
            )
        )
    for item in (arguments.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        s3 = item.get("S3Output")
        if s3 is None:
            continue  # FeatureStoreOutput: nothing to upload here
        path = under_opt_ml(s3.get("LocalPath"), "ProcessingOutputs.S3Output.LocalPath", PROCESSING)
        plan.directories.append(path)
        plan.uploads.append(Upload(path=path, uri=str(s3.get("S3Uri"))))
    request = {k: v for k, v in arguments.items()}
    request.update(ProcessingJobName=job_name, ProcessingJobArn=job_arn)
    plan.files["/opt/ml/config/processingjobconfig.json"] = request
    plan.files["/opt/ml/config/resourceconfig.json"] = resource_config(count)
    plan.directories.append("/opt/ml/output")
    stopping = arguments.get("StoppingCondition") or {}
    plan.max_runtime_seconds = stopping.get("MaxRuntimeInSeconds")
    cluster = (arguments.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    plan.volume_gb = cluster.get("VolumeSizeInGB")
    return plan
