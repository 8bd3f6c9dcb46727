"""Step cache keys (CacheConfig): which of a step's values decide whether an earlier run of it
is reused.

AWS keys a step's cache on a few attributes per step type, not on the whole request: the
SageMaker Python SDK's default output paths embed `Execution.PipelineExecutionId`, so a key
over every argument would never match across executions. The attributes are those AWS lists
in the SageMaker Developer Guide, "Caching pipeline steps" > "Default cache key attributes by
pipeline step type" (https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-default-keys.html;
also doc_source/pipelines-caching.md of awsdocs/amazon-sagemaker-developer-guide, a869fa5).

The key is computed on the *resolved* values, as AWS documents ("If the S3 path changes, a new
training job is initiated"; "only the S3 path" of an input is tracked: SDK docs, "Caching
Configuration"). A step reading an upstream step's output path therefore matches an earlier run
exactly when the upstream step was itself reused: a cache hit carries the earlier run's
properties, so the path resolves to the same earlier value. When the upstream step ran again,
the path is new and so is the downstream data: the downstream step runs again too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# The AWS table "Default cache key attributes by pipeline step type" (see the module docstring),
# step type -> keyed attributes. "Parent.Child" keys only that child of the parent (AWS lists
# which children of Tuning's TrainingJobDefinition and AutoML's AutoMLJobConfig count).
CACHE_KEY_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": (
        "AlgorithmSpecification", "CheckpointConfig", "DebugHookConfig",
        "DebugRuleConfigurations", "Environment", "HyperParameters", "InputDataConfig",
    ),
    "Tuning": (
        "HyperParameterTuningJobConfig",
        "TrainingJobDefinition.AlgorithmSpecification",
        "TrainingJobDefinition.HyperParameterRanges",
        "TrainingJobDefinition.InputDataConfig",
        "TrainingJobDefinition.StaticHyperParameters",
        "TrainingJobDefinition.TuningObjective",
        "TrainingJobDefinitions",
    ),
    "AutoML": (
        "AutoMLJobConfig.CompletionCriteria",
        "AutoMLJobConfig.CandidateGenerationConfig",
        "AutoMLJobConfig.DataSplitConfig",
        "AutoMLJobConfig.Mode",
        "AutoMLJobObjective", "InputDataConfig", "ProblemType",
    ),
    "Transform": ("DataProcessing", "Environment", "ModelName", "TransformInput"),
    "ClarifyCheck": (
        "ClarifyCheckConfig", "CheckJobConfig", "SkipCheck", "RegisterNewBaseline",
        "ModelPackageGroupName", "SuppliedBaselineConstraints",
    ),
    "QualityCheck": (
        "QualityCheckConfig", "CheckJobConfig", "SkipCheck", "RegisterNewBaseline",
        "ModelPackageGroupName", "SuppliedBaselineConstraints", "SuppliedBaselineStatistics",
    ),
    # AWS lists ClusterId and StepConfig; the SDK docs ("Caching Configuration", EMR step) add
    # that a ClusterConfig (a new cluster instead of a running one) also triggers a rerun.
    "EMR": ("ClusterId", "StepConfig", "ClusterConfig"),
}  # fmt: skip

# The check steps' ClarifyCheckConfig/QualityCheckConfig and CheckJobConfig are SDK objects:
# a definition holds what they compile to, the processing job request that is the step's
# Arguments (its inputs, image, environment, resources, outputs). So they stand for the whole
# Arguments. The other check attributes are members of the step itself, beside Arguments.
_WHOLE_ARGUMENTS = frozenset({"ClarifyCheckConfig", "QualityCheckConfig", "CheckJobConfig"})
_CALLED_MEMBERS = frozenset({"FunctionArn", "SqsQueueUrl", "OutputParameters"})
_STEP_MEMBERS = frozenset(
    {"SkipCheck", "RegisterNewBaseline", "ModelPackageGroupName",
     "SuppliedBaselineConstraints", "SuppliedBaselineStatistics"}
)  # fmt: skip


def cache_key(
    step_type: str,
    arguments: Any,
    property_files: Mapping[str, Any] | None = None,
    *,
    step_name: str | None = None,
    step: Mapping[str, Any] | None = None,
) -> str:
    """sha256 (hex) of what decides whether an earlier run of the step can be reused.

    `arguments`: the step's resolved Arguments. `step`: the step object, for the check steps'
    attributes that are members of the step rather than of its Arguments. Step types AWS does
    not list (Lambda, Callback, Model, ...) have no documented key: their whole Arguments are
    hashed, so any change runs them again; for Lambda and Callback steps, so are the members
    that say what is called and what it answers (FunctionArn, SqsQueueUrl, OutputParameters),
    or a changed function would be answered from the old one's run.

    `property_files` (the step's PropertyFiles declarations) are part of the key although AWS
    does not list them: the engine reads a step's property files through the declaration, and a
    reused run only carries the files it was declared with. They hold no per-execution value,
    so keeping them never costs a hit on an unchanged pipeline.

    `step_name` is part of the key: AWS reuses "a previous run of your current pipeline step",
    never another step's run that happens to share the keyed attributes.

    The JSON is canonical (sorted members), so member order never changes the key; list order
    does, as it does in the request (container arguments, input channels).
    """
    keyed = CACHE_KEY_ATTRIBUTES.get(step_type)
    material: dict[str, Any] = {"Type": step_type, "PropertyFiles": property_files or {}}
    if step_name is not None:
        material["StepName"] = step_name
    if keyed is None or not isinstance(arguments, Mapping):
        material["Arguments"] = arguments
        called = {k: v for k, v in (step or {}).items() if k in _CALLED_MEMBERS}
        if called:  # absent otherwise: the keys of steps stored before stay the same
            material["Step"] = called
    else:
        material["Arguments"] = _pick(arguments, keyed)
        members = step or {}
        material["Step"] = {k: members[k] for k in keyed if k in _STEP_MEMBERS and k in members}
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _pick(arguments: Mapping[str, Any], keyed: tuple[str, ...]) -> Any:
    if any(name in _WHOLE_ARGUMENTS for name in keyed):
        return arguments
    picked: dict[str, Any] = {}
    for name in keyed:
        if name in _STEP_MEMBERS:
            continue
        parent, _, child = name.partition(".")
        if parent not in arguments:
            continue
        if not child:
            picked[parent] = arguments[parent]
            continue
        value = arguments[parent]
        if not isinstance(value, Mapping):
            picked[parent] = value  # not the documented shape: key all of it
        elif child in value:
            picked.setdefault(parent, {})[child] = value[child]
    return picked
