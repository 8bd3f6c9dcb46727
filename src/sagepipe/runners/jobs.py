"""What a runner-executed step "is": the external resource it creates, its name and ARN.

Pure functions (docs/behaviour.md §3): job names `pipelines-<execution id>-<StepName>-<10 random alnum>` cut
to the resource's name limit, ARNs `arn:aws:sagemaker:<region>:<account>:<kind>/<lower name>`.
Condition, Fail, ForEach and Cleanup are evaluated by the engine and are not listed here.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping

from sagepipe.domain.arns import base_digits, random_chars

# Step Type -> ARN resource type of the SageMaker resource one attempt creates. None: the step
# runs, but its resource has no SageMaker ARN we mint (see resource_for for what it gets).
JOB_KINDS: dict[str, str | None] = {
    "Processing": "processing-job",
    "Training": "training-job",
    "Transform": "transform-job",
    "Tuning": "hyper-parameter-tuning-job",
    "AutoML": "automl-job",
    "Model": "model",
    "RegisterModel": "model-package",
    # Check steps run a baselining processing job.
    "QualityCheck": "processing-job",
    "ClarifyCheck": "processing-job",
    "Endpoint": "endpoint",
    "EndpointConfig": "endpoint-config",
    "InferenceComponent": "inference-component",
    "HubContent": "hub-content",
    "Job": "job",  # generic SageMaker job: job/<JobCategory>/<name>
    # Bedrock resources: ARNs in the bedrock service (BEDROCK_KINDS).
    "BedrockCustomModel": None,
    "BedrockCustomModelDeployment": None,
    "BedrockModelImport": None,
    "BedrockProvisionedModelThroughput": None,
    "EMR": None,  # cluster step: ids j-XXXXXXXXXXXXX / s-XXXXXXXXXXXXX
    "EMRServerless": None,  # job run of an EMR Serverless application
    "Athena": None,  # query execution id
    "Lambda": None,  # the function ARN given by the step's FunctionArn
    "Callback": None,  # waits for SendPipelineExecutionStep*; no resource
    "Lineage": None,  # several lineage entities, each with its own ARN
}

# The job kinds whose Describe*/List*/Stop* operations sagepipe answers (providers/jobs.py).
LISTED_JOB_KINDS = frozenset({"processing-job", "training-job", "transform-job"})

# Step types the engine evaluates itself (no runner, no resource).
ENGINE_STEP_TYPES = frozenset({"Condition", "Fail", "ForEach", "Cleanup"})

# ARN resource type in the bedrock service, per Bedrock step type.
BEDROCK_KINDS: dict[str, str] = {
    "BedrockCustomModel": "custom-model",
    "BedrockCustomModelDeployment": "custom-model-deployment",
    "BedrockModelImport": "model-import-job",
    "BedrockProvisionedModelThroughput": "provisioned-model",
}

# Name limits differ from the 63 of most jobs (botocore HyperParameterTuningJobName,
# AutoMLJobName: max 32).
DEFAULT_NAME_LIMIT = 63
NAME_LIMITS: dict[str, int] = {"Tuning": 32, "AutoML": 32}

# Steps whose Arguments name the resource themselves (the create call takes the name).
NAME_ARGUMENTS: dict[str, str] = {
    "Endpoint": "EndpointName",
    "EndpointConfig": "EndpointConfigName",
    "InferenceComponent": "InferenceComponentName",
    "HubContent": "HubContentName",
    "Job": "JobName",
    "BedrockCustomModel": "ModelName",
    "BedrockCustomModelDeployment": "ModelDeploymentName",
    "BedrockModelImport": "JobName",
    "BedrockProvisionedModelThroughput": "ProvisionedModelName",
    "RegisterModel": "ModelPackageName",  # an unversioned package's; a version is its group's
}

_NOT_NAME_CHARS = re.compile(r"[^A-Za-z0-9-]+")
_ALNUM = string.ascii_letters + string.digits


def new_rand(length: int = 10) -> str:
    """The random alphanumeric tail of a job name (fresh per attempt)."""
    return random_chars(_ALNUM, length)


def _clean(part: str) -> str:
    # Job names allow only [A-Za-z0-9-] and must start and end alphanumeric.
    return _NOT_NAME_CHARS.sub("-", part).strip("-")


def job_name(
    execution_id: str, step_name: str, rand: str, *, limit: int = DEFAULT_NAME_LIMIT
) -> str:
    """`pipelines-<execution id>-<StepName>-<rand>` within `limit` characters, matching
    `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,limit-1}`. The step name is shortened first and the random
    tail is always kept, so every attempt gets a distinct name even for long step names."""
    tail = "".join(c for c in rand if c.isascii() and c.isalnum())
    if not tail:
        raise ValueError("rand must contain alphanumeric characters")
    tail = tail[: max(1, limit - 2)]
    head = "pipelines-" + _clean(execution_id)
    room = limit - len(head) - len(tail) - 2  # two joining hyphens
    step = _clean(step_name)[: max(room, 0)].rstrip("-")
    if step:
        return f"{head}-{step}-{tail}"
    return f"{head[: limit - len(tail) - 1].rstrip('-')}-{tail}"


def job_arn(region: str, account: str, kind: str, name: str, *, service: str = "sagemaker") -> str:
    """`arn:aws:<service>:<region>:<account>:<kind>/<lower-cased name>`."""
    return f"arn:aws:{service}:{region}:{account}:{kind}/{name.lower()}"


def derived_id(seed: str, length: int, *, upper: bool = False) -> str:
    """A deterministic [0-9a-z] (or [0-9A-Z]) id from `seed`: ids that AWS mints itself (EMR
    cluster/step ids, EMR Serverless run ids, Athena query ids) follow from the job name."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = string.digits + (string.ascii_uppercase if upper else string.ascii_lowercase)
    return base_digits(digest, chars, length)


def derived_uuid(seed: str) -> str:
    """A deterministic uuid-formatted id (Athena QueryExecutionId)."""
    h = hashlib.sha256(seed.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def emr_ids(seed: str) -> tuple[str, str]:
    """(ClusterId, StepId) derived from `seed`, in EMR's `j-`/`s-` + 13 characters form."""
    return (
        "j-" + derived_id("cluster:" + seed, 13, upper=True),
        "s-" + derived_id("step:" + seed, 13, upper=True),
    )


def resource_for(
    step_type: str,
    arguments: Mapping,
    *,
    region: str,
    account: str,
    execution_id: str,
    step_name: str,
    rand: str,
    model_package_version: int = 1,
) -> tuple[str, str | None]:
    """(name, ARN) of the resource one attempt of a runner step creates, from its resolved
    Arguments. The name is the Arguments' own name member where the create call takes one,
    else a fresh job name. ARN None: Lambda (use the step's FunctionArn), Callback, EMR
    (name is the EMR StepId), Athena (name is the QueryExecutionId), Lineage. A versioned
    RegisterModel (with ModelPackageGroupName) is named by its group and versioned by the
    engine, which counts the group's packages: `model_package_version`."""
    generated = job_name(
        execution_id, step_name, rand, limit=NAME_LIMITS.get(step_type, DEFAULT_NAME_LIMIT)
    )
    member = NAME_ARGUMENTS.get(step_type)
    name = str(arguments.get(member) or generated) if member else generated
    if step_type == "EMR":
        return emr_ids(generated)[1], None
    if step_type == "Athena":
        return derived_uuid(generated), None
    if step_type == "EMRServerless":
        run_id = derived_id("run:" + generated, 16)
        app = arguments.get("ApplicationId") or derived_id("app:" + generated, 16)
        arn = f"arn:aws:emr-serverless:{region}:{account}:/applications/{app}/jobruns/{run_id}"
        return run_id, arn
    if step_type in BEDROCK_KINDS:
        return name, job_arn(region, account, BEDROCK_KINDS[step_type], name, service="bedrock")
    if step_type == "RegisterModel" and arguments.get("ModelPackageGroupName"):
        group = group_name(arguments["ModelPackageGroupName"])
        arn = job_arn(region, account, "model-package", f"{group}/{model_package_version}")
        return group, arn
    if step_type == "HubContent":
        path = "/".join(
            str(arguments.get(k) or d)
            for k, d in (
                ("HubName", "default"),
                ("HubContentType", "Model"),
                ("HubContentName", name),
                ("HubContentVersion", "1.0.0"),
            )
        )
        return name, job_arn(region, account, "hub-content", path)
    if step_type == "Job":
        category = str(arguments.get("JobCategory") or "default")
        return name, job_arn(region, account, "job", f"{category}/{name}")
    kind = JOB_KINDS.get(step_type)
    return name, (job_arn(region, account, kind, name) if kind else None)


def group_name(value: object) -> str:
    """A model package group's name, from its name or its ARN (both are accepted)."""
    text = str(value)
    return text.rsplit("/", 1)[-1] if text.startswith("arn:") else text


def listed_scope(arn: object) -> str | None:
    """`arn:aws:sagemaker:<region>:<account>:<kind>` of a job ARN whose kind is listed (the
    scope List*Jobs reads), else None."""
    if not isinstance(arn, str) or "/" not in arn:
        return None
    scope = arn.split("/", 1)[0]
    return scope if scope.rsplit(":", 1)[-1] in LISTED_JOB_KINDS else None
