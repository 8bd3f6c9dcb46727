"""Simulated properties of a succeeded runner step: its job's Describe* response.

Downstream `{"Get": "Steps.S.<path>"}` references walk these dicts, so member names follow
botocore's output shapes (DescribeProcessingJobResponse, ...; the tests check them) and the
values echo the step's resolved Arguments where the create call took them. Timestamps are
datetimes. Pure: every value follows from the inputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sagepipe.runners.contracts.plan import string_map
from sagepipe.runners.jobs import derived_id, emr_ids, group_name

DEFAULT_REGION, DEFAULT_ACCOUNT = "us-east-1", "123456789012"

# Defaults of Lambda/Callback outputs nobody set (no fault rule): the type's zero value.
OUTPUT_DEFAULTS: dict[str, object] = {"String": "", "Integer": 0, "Float": 0.0, "Boolean": False}


def utc(epoch: float) -> datetime:
    """A Unix time as the aware UTC datetime the Describe* documents hold."""
    return datetime.fromtimestamp(float(epoch), UTC)


def default_outputs(output_parameters: list) -> dict:
    """Declared OutputParameters ([{"OutputName", "OutputType"}]) -> {name: zero value of its
    type}: String "", Integer 0, Float 0.0, Boolean False (unknown/missing type: String)."""
    return {
        p["OutputName"]: OUTPUT_DEFAULTS.get(p.get("OutputType", "String"), "")
        for p in output_parameters
        if isinstance(p, Mapping) and "OutputName" in p
    }


def simulated_metric(name: str) -> float:
    """Deterministic value in [0, 1) for a metric name, so conditions on metrics are
    reproducible across runs and attempts."""
    return round(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 2**32, 4)


@dataclass(frozen=True)
class _Ctx:
    args: Mapping
    name: str
    arn: str | None
    started: datetime
    ended: datetime
    outputs: dict | None
    step: Mapping
    region: str
    account: str

    def sibling(self, kind: str, name: str, service: str = "sagemaker") -> str:
        """ARN of a related resource in the same account and region."""
        return f"arn:aws:{service}:{self.region}:{self.account}:{kind}/{name.lower()}"

    def seconds(self) -> int:
        return int((self.ended - self.started).total_seconds())

    def s3_out(self, *path: str) -> str:
        """Path under the SageMaker default bucket, where the SDK writes unset outputs."""
        return "/".join([f"s3://sagemaker-{self.region}-{self.account}", *path])


@dataclass(frozen=True)
class _Describe:
    """One step type's Describe* response. Member lists are space-separated names."""

    ids: str = ""  # "<name member> <ARN member>" ("-": none)
    fixed: str = ""  # "Member=Value ...": status members after success
    start: str = ""  # members set to the start time
    end: str = ""  # members set to the end time
    copy: str = ""  # Arguments members echoed unchanged
    extra: Callable[[_Ctx], dict] | None = None  # computed members


def _get(doc: object, *path: str | int) -> Any:
    for key in path:
        if isinstance(doc, Mapping):
            doc = doc.get(key)
        elif isinstance(doc, list) and isinstance(key, int) and -len(doc) <= key < len(doc):
            doc = doc[key]
        else:
            return None
    return doc


def _out(c: _Ctx, *path: str | int) -> str:
    """An S3 prefix from the Arguments, else the default bucket's."""
    return str(_get(c.args, *path) or c.s3_out()).rstrip("/")


# fmt: off
# Data-heavy builders below are kept dense on purpose: each is one Describe-shaped literal.
# SecondaryStatusTransitions' StatusMessage, in AWS's words (the SDK's log tailer prints them).
STATUS_MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Training": "Training image download completed. Training in progress.",
    "Completed": "Training job completed", "Failed": "Training job failed",
    "Stopping": "Stopping the training job", "Stopped": "Training job stopped",
}


def _transitions(c: _Ctx, work: str) -> list[dict]:
    steps = [("Starting", c.started, c.started), (work, c.started, c.ended),
             ("Completed", c.ended, c.ended)]
    return [{"Status": s, "StartTime": t0, "EndTime": t1,
             "StatusMessage": STATUS_MESSAGES.get(s, s)} for s, t0, t1 in steps]


def _training(c: _Ctx) -> dict:
    metrics = _get(c.args, "AlgorithmSpecification", "MetricDefinitions") or []
    out, seconds = _out(c, "OutputDataConfig", "S3OutputPath"), c.seconds()
    return {
        "ModelArtifacts": {"S3ModelArtifacts": f"{out}/{c.name}/output/model.tar.gz"},
        # AWS answers an unset KmsKeyId as "", and the SDK's Estimator.attach reads it.
        "OutputDataConfig": {"KmsKeyId": "", **(c.args.get("OutputDataConfig") or {})},
        "SecondaryStatusTransitions": _transitions(c, "Training"),
        "FinalMetricDataList": [
            {"MetricName": m["Name"], "Value": simulated_metric(m["Name"]), "Timestamp": c.ended}
            for m in metrics if isinstance(m, Mapping) and "Name" in m],
        "TrainingTimeInSeconds": seconds, "BillableTimeInSeconds": seconds,
    }


def _tuned(ranges: Mapping, i: int) -> dict[str, str]:
    # One point of the search space per training job: numeric ranges take their minimum,
    # categorical values rotate.
    tuned: dict[str, str] = {}
    for kind in ("IntegerParameterRanges", "ContinuousParameterRanges"):
        tuned |= {r["Name"]: str(r.get("MinValue", "")) for r in ranges.get(kind) or []}
    for r in ranges.get("CategoricalParameterRanges") or []:
        values = r.get("Values") or [""]
        tuned[r["Name"]] = str(values[i % len(values)])
    return tuned


def _tuning(c: _Ctx) -> dict:
    config = c.args.get("HyperParameterTuningJobConfig") or {}
    definition = c.args.get("TrainingJobDefinition") or _get(c.args, "TrainingJobDefinitions", 0)
    ranges = config.get("ParameterRanges") or _get(definition, "HyperParameterRanges") or {}
    objective = config.get("HyperParameterTuningJobObjective")
    # The SDK's TuningStep.get_top_model_s3_uri reads up to 50 TrainingJobSummaries, best first.
    count = min(int(_get(config, "ResourceLimits", "MaxNumberOfTrainingJobs") or 1), 50)
    summaries = []
    for i in range(count):
        name = f"{c.name}-{i + 1:03d}-{derived_id(f'{c.name}/{i}', 8)}"
        summary = {
            "TrainingJobName": name, "TrainingJobArn": c.sibling("training-job", name),
            "TrainingJobDefinitionName": _get(definition, "DefinitionName"),
            "TuningJobName": c.name, "CreationTime": c.started, "TrainingStartTime": c.started,
            "TrainingEndTime": c.ended, "TrainingJobStatus": "Completed",
            "TunedHyperParameters": _tuned(ranges, i), "ObjectiveStatus": "Succeeded"}
        if objective:  # later jobs score worse, so the list is best first
            sign = -1 if objective.get("Type") == "Maximize" else 1
            value = simulated_metric(objective.get("MetricName", "")) + sign * 0.01 * i
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {**objective, "Value": value}
        summaries.append({k: v for k, v in summary.items() if v is not None})
    return {
        "TrainingJobStatusCounters": {"Completed": count, "InProgress": 0, "RetryableError": 0,
                                      "NonRetryableError": 0, "Stopped": 0},
        "ObjectiveStatusCounters": {"Succeeded": count, "Pending": 0, "Failed": 0},
        "BestTrainingJob": summaries[0],
        # ListTrainingJobsForHyperParameterTuningJob's member, which the SDK's TuningStep uses.
        "TrainingJobSummaries": summaries,
    }


def _automl(c: _Ctx) -> dict:
    base = f"{_out(c, 'OutputDataConfig', 'S3OutputPath')}/{c.name}"
    cand = f"{c.name}-best-{derived_id(c.name, 8)}"
    train, docs = f"{cand}-training", f"{base}/documentation"
    insights = f"{docs}/model_monitor/output/{cand}"
    explain = f"{docs}/explainability/output/{cand}"
    # Environment members the SDK's AutoMLStep.get_best_auto_ml_model reads.
    env = {"MODEL_NAME": cand, "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
           "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
           "SAGEMAKER_INFERENCE_SUPPORTED": "predicted_label,probability,labels,probabilities",
           "SAGEMAKER_INFERENCE_OUTPUT": "predicted_label", "SAGEMAKER_PROGRAM": "tabular_serve.py"}
    image = f"763104351884.dkr.ecr.{c.region}.amazonaws.com/autogluon-inference:1.1-cpu-py311"
    metric = _get(c.args, "AutoMLJobObjective", "MetricName") or "Accuracy"
    return {
        "BestCandidate": {
            "CandidateName": cand, "ObjectiveStatus": "Succeeded", "CandidateStatus": "Completed",
            "FinalAutoMLJobObjectiveMetric": {"MetricName": metric, "Value": 0.9},
            "CandidateSteps": [{"CandidateStepType": "AWS::SageMaker::TrainingJob",
                                "CandidateStepArn": c.sibling("training-job", train),
                                "CandidateStepName": train}],
            "InferenceContainers": [{"Image": image, "Environment": env,
                                     "ModelDataUrl": f"{base}/{cand}/model.tar.gz"}],
            "CreationTime": c.started, "EndTime": c.ended, "LastModifiedTime": c.ended,
            "CandidateProperties": {"CandidateArtifactLocations": {
                "Explainability": explain, "ModelInsights": insights}},
        },
        # SDK-only paths of AutoMLStep.properties (not in the Describe response).
        "BestCandidateProperties": {
            "ModelInsightsJsonReportPath": f"{insights}/model_insights.json",
            "ExplainabilityJsonReportPath": f"{explain}/analysis.json"},
    }


def _register_model(c: _Ctx) -> dict:
    group = c.args.get("ModelPackageGroupName")
    props: dict[str, object] = {
        "ModelPackageName": c.args.get("ModelPackageName") or group or c.name,
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []}}
    if group:  # versioned package: the version is the ARN's last segment
        props["ModelPackageName"] = props["ModelPackageGroupName"] = group_name(group)
        tail = (c.arn or "").rsplit("/", 1)[-1]
        props["ModelPackageVersion"] = int(tail) if tail.isdigit() else 1
        props["ModelApprovalStatus"] = c.args.get("ModelApprovalStatus", "PendingManualApproval")
    return props


def _check(c: _Ctx, quality: bool) -> dict:
    # Calculated baselines are what the baselining job wrote; the drift check uses the supplied
    # baselines unless RegisterNewBaseline asks for the new ones (or none were supplied).
    out = _out(c, "ProcessingOutputConfig", "Outputs", 0, "S3Output", "S3Uri")
    calc = {"Constraints": f"{out}/constraints.json" if quality else f"{out}/analysis.json"}
    if quality:
        calc["Statistics"] = f"{out}/statistics.json"
    skip, register = bool(c.step.get("SkipCheck")), bool(c.step.get("RegisterNewBaseline"))
    props = {"CheckJobArn": c.arn, "SkipCheck": skip, "RegisterNewBaseline": register,
             "CheckType": c.step.get("CheckType"),
             "ModelPackageGroupName": c.step.get("ModelPackageGroupName"),
             "ViolationReport": None if skip else f"{out}/constraint_violations.json"}
    for kind, uri in calc.items():
        supplied = c.step.get(f"SuppliedBaseline{kind}")
        props[f"CalculatedBaseline{kind}"] = uri
        props[f"BaselineUsedForDriftCheck{kind}"] = uri if register or not supplied else supplied
    return props


def _emr(c: _Ctx) -> dict:
    # EMR's Step shape (DescribeStep) plus the SDK's ClusterId root property.
    cluster = c.args.get("ClusterId") or emr_ids(c.name)[0]
    step_id = c.name if c.name.startswith("s-") else emr_ids(c.name)[1]
    config = c.args.get("StepConfig") or {}
    jar, log_uri = config.get("HadoopJarStep") or {}, _get(c.args, "ClusterConfig", "LogUri")
    # Describe has Properties as a map where the request has a Key/Value list.
    jar_props = {p["Key"]: p.get("Value", "") for p in jar.get("Properties") or []}
    return {
        "Id": step_id, "Name": config.get("Name", c.name), "ClusterId": cluster,
        "Config": {k: jar[k] for k in ("Jar", "MainClass", "Args") if k in jar}
                  | {"Properties": jar_props},
        "ActionOnFailure": config.get("ActionOnFailure", "CONTINUE"),
        "Status": {"State": "COMPLETED", "Timeline": {
            "CreationDateTime": c.started, "StartDateTime": c.started, "EndDateTime": c.ended}},
        "LogUri": f"{str(log_uri).rstrip('/')}/{cluster}/steps/{step_id}/" if log_uri else None,
    }


def _emr_serverless(c: _Ctx) -> dict:
    # emr-serverless GetJobRunResponse, as the SDK's EMRServerlessStep declares; name = run id.
    job = c.args.get("JobConfig") or {}
    app = c.args.get("ApplicationId") or job.get("applicationId") or derived_id(c.name, 16)
    arn = f"arn:aws:emr-serverless:{c.region}:{c.account}:/applications/{app}/jobruns/{c.name}"
    run = {
        "applicationId": app, "jobRunId": c.name, "name": job.get("name", c.name),
        "arn": c.arn or arn, "createdBy": f"arn:aws:iam::{c.account}:root",
        "createdAt": c.started, "updatedAt": c.ended, "startedAt": c.started,
        "endedAt": c.ended, "state": "SUCCESS", "stateDetails": "",
        "executionRole": c.args.get("ExecutionRoleArn") or job.get("executionRoleArn", ""),
        "releaseLabel": _get(c.args, "ApplicationConfig", "ReleaseLabel") or "emr-7.5.0",
        "jobDriver": job.get("jobDriver", {}), "totalExecutionDurationSeconds": c.seconds()}
    keep = ("configurationOverrides", "executionTimeoutMinutes", "mode")
    return {"jobRun": run | {k: job[k] for k in keep if k in job}}


def _athena(c: _Ctx) -> dict:
    # athena QueryExecution; the name is the QueryExecutionId.
    location = _get(c.args, "ResultConfiguration", "OutputLocation")
    location = str(location or f"s3://aws-athena-query-results-{c.account}-{c.region}/")
    result = {**(c.args.get("ResultConfiguration") or {}),
              "OutputLocation": f"{location.rstrip('/')}/{c.name}.csv"}
    return {"QueryExecutionId": c.name, "Query": c.args.get("QueryString", ""),
            "StatementType": "DML", "ResultConfiguration": result,
            "WorkGroup": c.args.get("WorkGroup", "primary"),
            "Status": {"State": "SUCCEEDED", "SubmissionDateTime": c.started,
                       "CompletionDateTime": c.ended}}


def _lineage(c: _Ctx) -> dict:
    # The SDK's LineageStep properties: <Entity>Arns['<name>'] and Associations.
    def arns(member: str, key: str, kind: str) -> dict[str, str]:
        names = [str(e.get(key) or i) for i, e in enumerate(c.args.get(member) or [])]
        if kind == "artifact":  # artifact ARNs carry a hash, not the name
            return {n: c.sibling(kind, derived_id(f"{c.name}/{n}", 32)) for n in names}
        return {n: c.sibling(kind, n) for n in names}

    return {"ActionArns": arns("Actions", "ActionName", "action"),
            "ArtifactArns": arns("Artifacts", "ArtifactName", "artifact"),
            "ContextArns": arns("Contexts", "ContextName", "context"),
            "Associations": [{k: a[k] for k in ("SourceArn", "DestinationArn") if k in a}
                             for a in c.args.get("Associations") or []]}


def _output_parameters(c: _Ctx) -> dict:
    outputs = c.outputs
    if outputs is None:
        outputs = default_outputs(c.step.get("OutputParameters") or [])
    return {"OutputParameters": [{"Name": n, "Value": v} for n, v in outputs.items()]}


def _bedrock_throughput(c: _Ctx) -> dict:
    model = str(c.args.get("ModelId", ""))
    if not model.startswith("arn:"):
        model = f"arn:aws:bedrock:{c.region}::foundation-model/{model}"
    return {"DesiredModelUnits": c.args.get("ModelUnits"), "ModelArn": model,
            "DesiredModelArn": model, "FoundationModelArn": model}


def _inference_component(c: _Ctx) -> dict:
    spec, copies = c.args.get("Specification") or {}, _get(c.args, "RuntimeConfig", "CopyCount")
    summary = "ModelName StartupParameters ComputeResourceRequirements BaseInferenceComponentName"
    return {"EndpointArn": c.sibling("endpoint", str(c.args.get("EndpointName", ""))),
            "Specification": {k: spec[k] for k in summary.split() if k in spec},
            "RuntimeConfig": None if copies is None
            else {"DesiredCopyCount": copies, "CurrentCopyCount": copies}}


_CT, _LM = "CreationTime", "LastModifiedTime"
_DESCRIBE: dict[str, _Describe] = {
    "Processing": _Describe(
        "ProcessingJobName ProcessingJobArn", "ProcessingJobStatus=Completed",
        f"{_CT} ProcessingStartTime", f"{_LM} ProcessingEndTime",
        "ProcessingInputs ProcessingOutputConfig ProcessingResources StoppingCondition "
        "AppSpecification Environment NetworkConfig RoleArn ExperimentConfig"),
    "Training": _Describe(
        "TrainingJobName TrainingJobArn", "TrainingJobStatus=Completed SecondaryStatus=Completed",
        f"{_CT} TrainingStartTime", f"{_LM} TrainingEndTime",
        "AlgorithmSpecification HyperParameters RoleArn InputDataConfig OutputDataConfig "
        "ResourceConfig VpcConfig StoppingCondition EnableNetworkIsolation "
        "EnableInterContainerTrafficEncryption EnableManagedSpotTraining CheckpointConfig "
        "DebugHookConfig ExperimentConfig DebugRuleConfigurations TensorBoardOutputConfig "
        "ProfilerConfig ProfilerRuleConfigurations Environment RetryStrategy RemoteDebugConfig "
        "InfraCheckConfig", _training),
    "Transform": _Describe(
        "TransformJobName TransformJobArn", "TransformJobStatus=Completed",
        f"{_CT} TransformStartTime", "TransformEndTime",
        "ModelName MaxConcurrentTransforms ModelClientConfig MaxPayloadInMB BatchStrategy "
        "Environment TransformInput TransformOutput DataCaptureConfig TransformResources "
        "DataProcessing ExperimentConfig"),
    "Tuning": _Describe(
        "HyperParameterTuningJobName HyperParameterTuningJobArn",
        "HyperParameterTuningJobStatus=Completed", _CT, f"{_LM} HyperParameterTuningEndTime",
        "HyperParameterTuningJobConfig TrainingJobDefinition TrainingJobDefinitions "
        "WarmStartConfig Autotune", _tuning),
    # The SDK's AutoMLStep sends CreateAutoMLJob (v1) arguments; V2 members are echoed too.
    "AutoML": _Describe(
        "AutoMLJobName AutoMLJobArn",
        "AutoMLJobStatus=Completed AutoMLJobSecondaryStatus=Completed", _CT, f"{_LM} EndTime",
        "InputDataConfig AutoMLJobInputDataConfig OutputDataConfig RoleArn AutoMLJobObjective "
        "ProblemType AutoMLJobConfig AutoMLProblemTypeConfig GenerateCandidateDefinitionsOnly "
        "ModelDeployConfig DataSplitConfig SecurityConfig AutoMLComputeConfig", _automl),
    "Model": _Describe(
        "ModelName ModelArn", "", _CT, "",
        "PrimaryContainer Containers InferenceExecutionConfig ExecutionRoleArn VpcConfig "
        "EnableNetworkIsolation"),
    "RegisterModel": _Describe(
        "- ModelPackageArn", "ModelPackageStatus=Completed", _CT, _LM,
        "ModelPackageGroupName ModelPackageDescription ModelPackageRegistrationType "
        "InferenceSpecification ValidationSpecification SourceAlgorithmSpecification "
        "CertifyForMarketplace MetadataProperties ModelMetrics Domain Task SamplePayloadUrl "
        "CustomerMetadataProperties DriftCheckBaselines AdditionalInferenceSpecifications "
        "SkipModelValidation SourceUri SecurityConfig ModelCard ModelLifeCycle",
        _register_model),
    # Check steps: the SDK's property names, which are also the step Metadata's members.
    "QualityCheck": _Describe(extra=lambda c: _check(c, quality=True)),
    "ClarifyCheck": _Describe(extra=lambda c: _check(c, quality=False)),
    "EMR": _Describe(copy="ExecutionRoleArn ClusterConfig", extra=_emr),
    "EMRServerless": _Describe(extra=_emr_serverless),
    "Athena": _Describe(copy="QueryExecutionContext ExecutionParameters", extra=_athena),
    "Endpoint": _Describe(
        "EndpointName EndpointArn", "EndpointStatus=InService", _CT, _LM, "EndpointConfigName"),
    "EndpointConfig": _Describe(
        "EndpointConfigName EndpointConfigArn", "", _CT, "",
        "ProductionVariants DataCaptureConfig KmsKeyId AsyncInferenceConfig ExplainerConfig "
        "ShadowProductionVariants ExecutionRoleArn VpcConfig EnableNetworkIsolation "
        "MetricsConfig"),
    "InferenceComponent": _Describe(
        "InferenceComponentName InferenceComponentArn", "InferenceComponentStatus=InService",
        _CT, _LM, "EndpointName VariantName", _inference_component),
    "HubContent": _Describe(
        "HubContentName HubContentArn", "HubContentStatus=Available", _CT, _LM,
        "HubContentType DocumentSchemaVersion HubName HubContentDisplayName "
        "HubContentDescription HubContentMarkdown HubContentDocument SupportStatus "
        "HubContentSearchKeywords",
        lambda c: {"HubArn": c.sibling("hub", str(c.args.get("HubName", ""))),
                   "HubContentVersion": c.args.get("HubContentVersion", "1.0.0")}),
    "Job": _Describe(
        "JobName JobArn", "JobStatus=Completed SecondaryStatus=Completed", _CT, f"{_LM} EndTime",
        "RoleArn JobCategory JobConfigSchemaVersion JobConfigDocument",
        lambda c: {"SecondaryStatusTransitions": _transitions(c, "Executing")}),
    "Lineage": _Describe(extra=_lineage),
    "Lambda": _Describe(extra=_output_parameters),
    "Callback": _Describe(extra=_output_parameters),
    # Bedrock steps: PascalCase members of bedrock's Get* responses, as the SDK lists them.
    "BedrockCustomModel": _Describe(
        "ModelName ModelArn", "ModelStatus=Active", _CT, "", "ModelKmsKeyArn"),
    "BedrockCustomModelDeployment": _Describe(
        "ModelDeploymentName CustomModelDeploymentArn", "Status=Active", "CreatedAt",
        "LastUpdatedAt", "ModelArn Description",
        lambda c: {"ModelDeploymentArn": c.arn}),  # the SDK's name for the ARN
    "BedrockModelImport": _Describe(
        "JobName JobArn", "Status=Completed", _CT, f"{_LM} EndTime",
        "ImportedModelName RoleArn ModelDataSource VpcConfig",
        lambda c: {"ImportedModelArn": c.sibling(
            "imported-model", str(c.args.get("ImportedModelName") or c.name), "bedrock")}),
    "BedrockProvisionedModelThroughput": _Describe(
        "ProvisionedModelName ProvisionedModelArn", "Status=InService", _CT, _LM,
        "ModelUnits CommitmentDuration", _bedrock_throughput),
}
# fmt: on

SIMULATED_STEP_TYPES = frozenset(_DESCRIBE)


def simulated_properties(
    step_type: str,
    arguments: dict,
    job_name: str,
    job_arn: str | None,
    *,
    outputs: dict | None = None,
    started: datetime,
    ended: datetime,
    step: Mapping | None = None,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
) -> dict:
    """The step's job as Describe* returns it after success, built from resolved `arguments`.

    `job_name`/`job_arn` come from jobs.resource_for (Lambda: the step's FunctionArn).
    `outputs`: Lambda/Callback output values (default: zero values of the step's declared
    OutputParameters). `step`: the step definition, for top-level members (QualityCheck's
    SkipCheck, Supplied*...). Related ARNs take region and account from `job_arn` when it
    has them, else `region`/`account`. Engine-evaluated step types have no properties: {}."""
    describe = _DESCRIBE.get(step_type)
    if describe is None:
        return {}
    parts = job_arn.split(":") if job_arn and job_arn.startswith("arn:") else []
    if len(parts) > 5 and parts[3] and parts[4]:
        region, account = parts[3], parts[4]
    c = _Ctx(
        arguments or {}, job_name, job_arn, started, ended, outputs, step or {}, region, account
    )
    props: dict[str, object] = {k: c.args[k] for k in describe.copy.split() if k in c.args}
    name, arn = (describe.ids.split() + ["-", "-"])[:2]
    props[name], props[arn] = job_name, job_arn
    props.update(dict(item.split("=", 1) for item in describe.fixed.split()))
    props.update(dict.fromkeys(describe.start.split(), started))
    props.update(dict.fromkeys(describe.end.split(), ended))
    if describe.extra:
        props.update(describe.extra(c))
    for member in ("HyperParameters", "Environment"):  # string maps, as Describe* has them
        if isinstance(props.get(member), dict):
            props[member] = string_map(props[member])
    return {k: v for k, v in props.items() if v is not None and k != "-"}


def jsonable(value: Any) -> Any:
    """Properties as JSON would give them back: timestamps become epoch seconds, so a value
    reads the same whether it was built now or stored (a cache entry) and loaded."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, datetime):
        return value.timestamp()
    return str(value)
