"""The `Metadata` member of a ListPipelineExecutionSteps row (botocore shape
`PipelineExecutionStepMetadata`): one member named after the step type, built from the step's
resource ARN, its (simulated or real) properties and values only the engine knows.

`extra` keys (snake_case of the metadata members they fill):
  outcome (Condition: bool or "True"/"False"), error_message (Fail), callback_token and
  sqs_queue_url (Callback), output_parameters (Lambda/Callback, {name: value} or
  [{"Name", "Value"}]; default: the properties' OutputParameters), cleaned_steps,
  failed_steps ([{"StepName", "ErrorCode", "ErrorMessage"}]), skipped_steps (Cleanup),
  status, input_item_count, total_step_count, succeeded_step_count, failed_step_count,
  stopped_step_count, selector ({"StepName", "Index"}) (ForEach).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Step Type -> its member of PipelineExecutionStepMetadata, for steps described by one ARN.
ARN_MEMBERS: dict[str, str] = {
    "Processing": "ProcessingJob",
    "Training": "TrainingJob",
    "Transform": "TransformJob",
    "Tuning": "TuningJob",
    "AutoML": "AutoMLJob",
    "Model": "Model",
    "RegisterModel": "RegisterModel",
    "Endpoint": "Endpoint",
    "EndpointConfig": "EndpointConfig",
    "InferenceComponent": "InferenceComponent",
    "Job": "Job",
    "BedrockCustomModel": "BedrockCustomModel",
    "BedrockCustomModelDeployment": "BedrockCustomModelDeployment",
    "BedrockModelImport": "BedrockModelImport",
    "BedrockProvisionedModelThroughput": "BedrockProvisionedModelThroughput",
}

# Metadata members the engine supplies through `extra`, per step type.
_EXTRA_MEMBERS: dict[str, tuple[str, ...]] = {
    "Condition": ("Outcome",),
    "Fail": ("ErrorMessage",),
    "Callback": ("CallbackToken", "SqsQueueUrl"),
    "Cleanup": ("CleanedSteps", "FailedSteps", "SkippedSteps"),
    "ForEach": (
        "Status",
        "InputItemCount",
        "TotalStepCount",
        "SucceededStepCount",
        "FailedStepCount",
        "StoppedStepCount",
        "Selector",
    ),
}

# Members copied from the properties (the check steps' properties carry them).
_CHECK_MEMBERS = (
    "CheckType",
    "BaselineUsedForDriftCheckStatistics",
    "BaselineUsedForDriftCheckConstraints",
    "CalculatedBaselineStatistics",
    "CalculatedBaselineConstraints",
    "ModelPackageGroupName",
    "ViolationReport",
    "CheckJobArn",
    "SkipCheck",
    "RegisterNewBaseline",
)
_CLARIFY_SKIPS = {"BaselineUsedForDriftCheckStatistics", "CalculatedBaselineStatistics"}

METADATA_STEP_TYPES = frozenset(
    [*ARN_MEMBERS, *_EXTRA_MEMBERS, "Lambda", "QualityCheck", "ClarifyCheck", "EMR"]
    + ["EMRServerless", "Athena", "HubContent", "Lineage"]
)


def _snake(member: str) -> str:
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in member).lstrip("_")


def _text(value: object) -> str:
    # OutputParameter values are strings on the wire; booleans print as AWS prints them.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def _output_parameters(properties: Mapping, extra: Mapping) -> list[dict[str, str]] | None:
    given: Any = extra.get("output_parameters", properties.get("OutputParameters"))
    if given is None:
        return None
    if isinstance(given, Mapping):
        given = [{"Name": k, "Value": v} for k, v in given.items()]
    return [{"Name": str(p["Name"]), "Value": _text(p.get("Value"))} for p in given]


def _pick(doc: Mapping, members: tuple[str, ...], rename: Mapping[str, str] | None = None) -> dict:
    """The given metadata members that have a value, read from `doc` (under `rename`d keys)."""
    keys = {m: (rename or {}).get(m, m) for m in members}
    return {m: doc[k] for m, k in keys.items() if doc.get(k) is not None}


def _outcome(value: object) -> str:
    return "True" if value is True or str(value).lower() == "true" else "False"


def step_metadata(
    step_type: str, *, job_arn: str | None, properties: Mapping, extra: Mapping
) -> dict:
    """{<member>: {...}} for the step's row; members without a value are omitted. Works
    before the step has properties (while it runs) too. Unknown step types: {}."""
    props = properties or {}
    if step_type in ARN_MEMBERS:
        return {ARN_MEMBERS[step_type]: {"Arn": job_arn} if job_arn else {}}
    body: dict[str, Any]
    if step_type in _EXTRA_MEMBERS:
        body = {m: extra[_snake(m)] for m in _EXTRA_MEMBERS[step_type] if _snake(m) in extra}
        if "Outcome" in body:
            body["Outcome"] = _outcome(body["Outcome"])
        if step_type == "Callback" and (params := _output_parameters(props, extra)) is not None:
            body["OutputParameters"] = params
    elif step_type == "Lambda":
        body = {"Arn": job_arn} if job_arn else {}
        if (params := _output_parameters(props, extra)) is not None:
            body["OutputParameters"] = params
    elif step_type in ("QualityCheck", "ClarifyCheck"):
        skips = _CLARIFY_SKIPS if step_type == "ClarifyCheck" else set()
        members = tuple(m for m in _CHECK_MEMBERS if m not in skips)
        body = _pick({"CheckJobArn": job_arn, **props}, members)
    elif step_type == "EMR":
        rename = {"StepId": "Id", "StepName": "Name", "LogFilePath": "LogUri"}
        body = _pick(props, ("ClusterId", "StepId", "StepName", "LogFilePath"), rename)
    elif step_type == "EMRServerless":
        run = props.get("jobRun") or {}
        rename = {"ApplicationId": "applicationId", "JobRunId": "jobRunId", "JobRunName": "name"}
        body = _pick(run, ("ApplicationId", "JobRunId", "JobRunName"), rename)
        logs = (((run.get("configurationOverrides") or {}).get("monitoringConfiguration") or {})
                .get("s3MonitoringConfiguration") or {}).get("logUri")  # fmt: skip
        if logs and body.get("ApplicationId") and body.get("JobRunId"):
            app, run_id = body["ApplicationId"], body["JobRunId"]
            body["LogFilePath"] = f"{str(logs).rstrip('/')}/applications/{app}/jobs/{run_id}/"
    elif step_type == "Athena":
        body = _pick(props, ("QueryExecutionId",))
        if location := (props.get("ResultConfiguration") or {}).get("OutputLocation"):
            body["S3OutputLocation"] = location
    elif step_type == "HubContent":
        body = _pick({"HubContentArn": job_arn, **props}, ("HubArn", "HubContentArn"))
    elif step_type == "Lineage":
        body = _pick(props, ("ActionArns", "ArtifactArns", "ContextArns", "Associations"))
    else:
        return {}
    return {step_type: body}
