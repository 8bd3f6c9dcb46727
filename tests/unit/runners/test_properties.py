"""Simulated properties: botocore-shaped Describe* responses built from step Arguments."""

from datetime import UTC, datetime, timedelta

import botocore.session
import pytest

from sagepipe.runners.jobs import resource_for
from sagepipe.runners.properties import (
    _DESCRIBE,
    SIMULATED_STEP_TYPES,
    default_outputs,
    simulated_metric,
    simulated_properties,
)

SESSION = botocore.session.get_session()
SM = SESSION.get_service_model("sagemaker")
STARTED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ENDED = STARTED + timedelta(seconds=90)
ROLE = "arn:aws:iam::111122223333:role/SageMakerRole"
IMAGE = "683313688378.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"

PROCESSING = {
    "ProcessingResources": {
        "ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    },
    "AppSpecification": {"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "run.py"]},
    "RoleArn": ROLE,
    "ProcessingInputs": [
        {
            "InputName": "code",
            "AppManaged": False,
            "S3Input": {
                "S3Uri": "s3://b/code/run.py",
                "LocalPath": "/opt/ml/processing/input/code",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
            },
        }
    ],
    "ProcessingOutputConfig": {
        "Outputs": [
            {
                "OutputName": "train",
                "AppManaged": False,
                "S3Output": {
                    "S3Uri": "s3://b/out/train",
                    "LocalPath": "/opt/ml/processing/train",
                    "S3UploadMode": "EndOfJob",
                },
            }
        ]
    },
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "Environment": {"MODE": "fast"},
}
TRAINING = {
    "AlgorithmSpecification": {
        "TrainingImage": IMAGE,
        "TrainingInputMode": "File",
        "MetricDefinitions": [
            {"Name": "validation:auc", "Regex": "auc:([0-9.]+)"},
            {"Name": "train:loss", "Regex": "loss:([0-9.]+)"},
        ],
    },
    "OutputDataConfig": {"S3OutputPath": "s3://b/models/"},
    "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
    "RoleArn": ROLE,
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
    "HyperParameters": {"max_depth": "5", "eta": "0.2"},
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "s3://b/out/train",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "text/csv",
        }
    ],
    "DebugHookConfig": {"S3OutputPath": "s3://b/debug", "CollectionConfigurations": []},
    "ProfilerConfig": {"S3OutputPath": "s3://b/profiler", "DisableProfiler": False},
    "EnableNetworkIsolation": False,
}
TUNING = {
    "HyperParameterTuningJobConfig": {
        "Strategy": "Bayesian",
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 1},
        "ParameterRanges": {
            "ContinuousParameterRanges": [
                {"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Auto"}
            ],
            "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "8"}],
            "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}],
        },
        "TrainingJobEarlyStoppingType": "Off",
    },
    "TrainingJobDefinition": {
        "StaticHyperParameters": {"num_round": "50"},
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://b/tuning"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    },
}
S3_SOURCE = {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/data"}}
ARGUMENTS = {
    "Processing": PROCESSING,
    "Training": TRAINING,
    "Transform": {
        "ModelName": "my-model",
        "TransformInput": {"DataSource": S3_SOURCE, "ContentType": "text/csv"},
        "TransformOutput": {"S3OutputPath": "s3://b/transform"},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge"},
        "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "None"},
    },
    "Tuning": TUNING,
    "AutoML": {
        "InputDataConfig": [
            {"DataSource": S3_SOURCE, "TargetAttributeName": "y", "ChannelType": "training"}
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://b/automl"},
        "AutoMLJobConfig": {"CompletionCriteria": {"MaxCandidates": 2}, "Mode": "ENSEMBLING"},
        "RoleArn": ROLE,
        "ProblemType": "BinaryClassification",
        "AutoMLJobObjective": {"MetricName": "F1"},
        "GenerateCandidateDefinitionsOnly": False,
    },
    "Model": {
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"},
    },
    "RegisterModel": {
        "ModelPackageGroupName": "MyGroup",
        "ModelPackageDescription": "candidate",
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://b/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
            "SupportedTransformInstanceTypes": ["ml.m5.large"],
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/eval.json"}
            }
        },
        "CustomerMetadataProperties": {"team": "ml"},
    },
    "QualityCheck": PROCESSING,
    "ClarifyCheck": PROCESSING,
    "EMR": {
        "ClusterId": "j-1ABCDEFGHIJKL",
        "StepConfig": {
            "Name": "spark",
            "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {
                "Jar": "command-runner.jar",
                "Args": ["spark-submit", "s3://b/job.py"],
                "Properties": [{"Key": "k", "Value": "v"}],
            },
        },
    },
    "EMRServerless": {
        "ExecutionRoleArn": ROLE,
        "ApplicationId": "00fabc123def4567",
        "JobConfig": {
            "executionRoleArn": ROLE,
            "applicationId": "00fabc123def4567",
            "jobDriver": {"sparkSubmit": {"entryPoint": "s3://b/job.py"}},
            "configurationOverrides": {
                "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "s3://b/logs/"}}
            },
            "name": "nightly",
        },
    },
    "Athena": {
        "QueryString": "SELECT 1",
        "WorkGroup": "primary",
        "ResultConfiguration": {"OutputLocation": "s3://b/athena/"},
        "QueryExecutionContext": {"Database": "db"},
    },
    "Endpoint": {"EndpointName": "my-endpoint", "EndpointConfigName": "my-config"},
    "EndpointConfig": {
        "EndpointConfigName": "my-config",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": "my-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
    },
    "InferenceComponent": {
        "InferenceComponentName": "ic-1",
        "EndpointName": "my-endpoint",
        "VariantName": "AllTraffic",
        "Specification": {
            "ModelName": "my-model",
            "ComputeResourceRequirements": {
                "NumberOfCpuCoresRequired": 1.0,
                "MinMemoryRequiredInMb": 1024,
            },
        },
        "RuntimeConfig": {"CopyCount": 2},
    },
    "HubContent": {
        "HubName": "my-hub",
        "HubContentName": "my-model",
        "HubContentType": "Model",
        "DocumentSchemaVersion": "2.0.0",
        "HubContentDocument": "{}",
    },
    "Job": {
        "JobName": "my-job",
        "RoleArn": ROLE,
        "JobCategory": "DataTransformation",
        "JobConfigSchemaVersion": "1.0.0",
        "JobConfigDocument": "{}",
    },
    "Lineage": {
        "Actions": [{"ActionName": "deploy", "Source": {"SourceUri": "x"}, "ActionType": "Deploy"}],
        "Artifacts": [{"ArtifactName": "data", "Source": {"SourceUri": "s3://b/d"}}],
        "Contexts": [{"ContextName": "proj", "Source": {"SourceUri": "x"}, "ContextType": "P"}],
        "Associations": [
            {
                "SourceArn": "arn:aws:sagemaker:us-west-2:111122223333:context/proj",
                "DestinationArn": "arn:aws:sagemaker:us-west-2:111122223333:action/deploy",
                "AssociationType": "ContributedTo",
            }
        ],
    },
    "Lambda": {"x": 1},
    "Callback": {"x": 1},
    "BedrockCustomModel": {
        "ModelName": "my-custom",
        "ModelSourceConfig": {"S3DataSource": {"S3Uri": "s3://b/m/"}},
        "RoleArn": ROLE,
    },
    "BedrockCustomModelDeployment": {
        "ModelDeploymentName": "dep",
        "ModelArn": "arn:aws:bedrock:us-west-2:111122223333:custom-model/my-custom",
    },
    "BedrockModelImport": {
        "JobName": "imp",
        "ImportedModelName": "imported",
        "RoleArn": ROLE,
        "ModelDataSource": {"S3DataSource": {"S3Uri": "s3://b/m/"}},
    },
    "BedrockProvisionedModelThroughput": {
        "ModelUnits": 1,
        "ProvisionedModelName": "pt",
        "ModelId": "anthropic.claude-v2",
    },
}
CHECK_STEPS = {
    "QualityCheck": {
        "CheckType": "DATA_QUALITY",
        "ModelPackageGroupName": "MyGroup",
        "SkipCheck": False,
        "RegisterNewBaseline": False,
        "SuppliedBaselineStatistics": "s3://b/base/statistics.json",
        "SuppliedBaselineConstraints": "s3://b/base/constraints.json",
    },
    "ClarifyCheck": {
        "CheckType": "DATA_BIAS",
        "ModelPackageGroupName": None,
        "SkipCheck": True,
        "RegisterNewBaseline": True,
        "SuppliedBaselineConstraints": None,
    },
}
LAMBDA_ARN = "arn:aws:lambda:us-west-2:111122223333:function:my-fn"
CALLBACK_STEP = {
    "OutputParameters": [
        {"OutputName": "s", "OutputType": "String"},
        {"OutputName": "ok", "OutputType": "Boolean"},
    ]
}


def _shape(spec):
    service, name = spec.split(":") if ":" in spec else ("sagemaker", spec)
    return SESSION.get_service_model(service).shape_for(name)


# Step type -> shapes (service:Shape) whose members its properties may hold, and extra names
# the SDK adds itself.
SHAPES = {
    "Processing": ["DescribeProcessingJobResponse"],
    "Training": ["DescribeTrainingJobResponse"],
    "Transform": ["DescribeTransformJobResponse"],
    "Tuning": [
        "DescribeHyperParameterTuningJobResponse",
        "ListTrainingJobsForHyperParameterTuningJobResponse",
    ],
    "AutoML": ["DescribeAutoMLJobResponse", "DescribeAutoMLJobV2Response"],
    "Model": ["DescribeModelOutput"],
    "RegisterModel": ["DescribeModelPackageOutput"],
    "QualityCheck": ["QualityCheckStepMetadata"],
    "ClarifyCheck": ["ClarifyCheckStepMetadata"],
    "EMR": ["emr:Step"],
    "EMRServerless": ["emr-serverless:GetJobRunResponse"],
    "Athena": ["athena:QueryExecution"],
    "Endpoint": ["DescribeEndpointOutput"],
    "EndpointConfig": ["DescribeEndpointConfigOutput"],
    "InferenceComponent": ["DescribeInferenceComponentOutput"],
    "HubContent": ["DescribeHubContentResponse"],
    "Job": ["DescribeJobResponse"],
    "Lineage": ["LineageMetadata"],
    "BedrockCustomModel": ["bedrock:GetCustomModelResponse"],
    "BedrockCustomModelDeployment": ["bedrock:GetCustomModelDeploymentResponse"],
    "BedrockModelImport": ["bedrock:GetModelImportJobResponse"],
    "BedrockProvisionedModelThroughput": ["bedrock:GetProvisionedModelThroughputResponse"],
}
SDK_EXTRAS = {
    "AutoML": {"BestCandidateProperties"},
    "EMR": {"ClusterId", "ClusterConfig"},
    "BedrockCustomModelDeployment": {"ModelDeploymentArn"},
}


def shape_errors(shape, value, path="$"):
    """Member names, nested member names, value types and enums of `value` against `shape`."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected structure, got {type(value).__name__}"]
        errors = [
            f"{path}.{k}: not a member of {shape.name}" for k in value if k not in shape.members
        ]
        for key, item in value.items():
            if key in shape.members:
                errors += shape_errors(shape.members[key], item, f"{path}.{key}")
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected list"]
        return [
            e for i, v in enumerate(value) for e in shape_errors(shape.member, v, f"{path}[{i}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected map"]
        return [e for k, v in value.items() for e in shape_errors(shape.value, v, f"{path}[{k}]")]
    expected = {
        "string": str,
        "boolean": bool,
        "integer": int,
        "long": int,
        "float": (int, float),
        "double": (int, float),
        "timestamp": datetime,
    }[kind]
    if not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool)):
        return [f"{path}: expected {kind}, got {value!r}"]
    if kind == "string" and shape.enum and value not in shape.enum:
        return [f"{path}: {value!r} not in {shape.enum}"]
    return []


def _pascal(name):
    return name[0].upper() + name[1:]


def _members(step_type):
    members = {}
    for spec in SHAPES[step_type]:
        shape = _shape(spec)
        for name, member in shape.members.items():
            members[_pascal(name) if spec.startswith("bedrock:") else name] = member
    return members


def props_for(step_type, **kw):
    arguments = ARGUMENTS[step_type]
    name, arn = resource_for(
        step_type,
        arguments,
        region="us-west-2",
        account="111122223333",
        execution_id="a1b2c3d4e5f6",
        step_name="MyStep",
        rand="Ab12Cd34Ef",
    )
    if step_type == "Lambda":
        arn = LAMBDA_ARN
    kw.setdefault("step", CHECK_STEPS.get(step_type, CALLBACK_STEP))
    return (
        name,
        arn,
        simulated_properties(step_type, arguments, name, arn, started=STARTED, ended=ENDED, **kw),
    )


def test_every_simulated_type_has_arguments_and_shapes():
    assert set(ARGUMENTS) == SIMULATED_STEP_TYPES
    assert set(SHAPES) | {"Lambda", "Callback"} == SIMULATED_STEP_TYPES


@pytest.mark.parametrize("step_type", sorted(SHAPES))
def test_properties_follow_the_botocore_shapes(step_type):
    _, _, props = props_for(step_type)
    members = _members(step_type)
    unknown = set(props) - set(members) - SDK_EXTRAS.get(step_type, set())
    assert not unknown, f"{step_type}: {sorted(unknown)}"
    errors = []
    for key, value in props.items():
        if key in members and not SHAPES[step_type][0].startswith("bedrock:"):
            errors += shape_errors(members[key], value, f"{step_type}.{key}")
    assert not errors


@pytest.mark.parametrize("step_type", sorted(SHAPES))
def test_required_members_are_present(step_type):
    _, _, props = props_for(step_type)
    shape = _shape(SHAPES[step_type][0])
    required = {_pascal(m) if SHAPES[step_type][0].startswith("bedrock:") else m
                for m in shape.required_members}  # fmt: skip
    assert required <= set(props), sorted(required - set(props))


CREATE_OPERATIONS = {
    "Processing": ["CreateProcessingJob"],
    "Training": ["CreateTrainingJob"],
    "Transform": ["CreateTransformJob"],
    "Tuning": ["CreateHyperParameterTuningJob"],
    "AutoML": ["CreateAutoMLJob", "CreateAutoMLJobV2"],
    "Model": ["CreateModel"],
    "RegisterModel": ["CreateModelPackage"],
    "Endpoint": ["CreateEndpoint"],
    "EndpointConfig": ["CreateEndpointConfig"],
    "InferenceComponent": ["CreateInferenceComponent"],
    "HubContent": ["ImportHubContent"],
    "Job": ["CreateJob"],
}


@pytest.mark.parametrize("step_type", sorted(CREATE_OPERATIONS))
def test_echoed_members_exist_in_create_and_describe(step_type):
    inputs = set()
    for operation in CREATE_OPERATIONS[step_type]:
        inputs |= set(SM.operation_model(operation).input_shape.members)
    copied = set(_DESCRIBE[step_type].copy.split())
    assert copied <= inputs, sorted(copied - inputs)
    assert copied <= set(_members(step_type)), sorted(copied - set(_members(step_type)))


def test_processing():
    name, arn, props = props_for("Processing")
    assert props["ProcessingJobName"] == name and props["ProcessingJobArn"] == arn
    assert props["ProcessingJobStatus"] == "Completed"
    outputs = props["ProcessingOutputConfig"]["Outputs"]
    assert outputs[0]["S3Output"]["S3Uri"] == "s3://b/out/train"
    assert props["ProcessingStartTime"] == props["CreationTime"] == STARTED
    assert props["ProcessingEndTime"] == ENDED


def test_training():
    name, _, props = props_for("Training")
    assert (
        props["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://b/models/{name}/output/model.tar.gz"
    )
    metrics = {m["MetricName"]: m["Value"] for m in props["FinalMetricDataList"]}
    assert metrics == {n: simulated_metric(n) for n in ("validation:auc", "train:loss")}
    assert 0 <= metrics["validation:auc"] < 1
    assert props["HyperParameters"] == TRAINING["HyperParameters"]
    assert props["TrainingTimeInSeconds"] == 90


def test_string_maps_hold_text_whatever_a_pipeline_variable_resolved_to():
    # SDK v3 puts bare `Get`s of Float and Boolean parameters into HyperParameters.
    args = dict(TRAINING, HyperParameters={"lr": 0.8, "deep": True, "epochs": 5, "name": "x"},
                Environment={"DEBUG": False})  # fmt: skip
    props = simulated_properties("Training", args, "job", None, started=STARTED, ended=ENDED)
    assert props["HyperParameters"] == {"lr": "0.8", "deep": "true", "epochs": "5", "name": "x"}
    assert props["Environment"] == {"DEBUG": "false"}


def test_register_model_by_group_arn_names_the_group():
    group_arn = "arn:aws:sagemaker:us-west-2:111122223333:model-package-group/MyGroup"
    name, arn = resource_for(
        "RegisterModel", {"ModelPackageGroupName": group_arn}, region="us-west-2",
        account="111122223333", execution_id="e", step_name="R", rand="r",
        model_package_version=3,
    )  # fmt: skip
    assert (name, arn) == (
        "MyGroup",
        "arn:aws:sagemaker:us-west-2:111122223333:model-package/mygroup/3",
    )
    props = simulated_properties("RegisterModel", {"ModelPackageGroupName": group_arn}, name, arn,
                                 started=STARTED, ended=ENDED)  # fmt: skip
    assert props["ModelPackageGroupName"] == "MyGroup" and props["ModelPackageVersion"] == 3


def test_training_without_output_path_uses_default_bucket():
    args = {k: v for k, v in TRAINING.items() if k != "OutputDataConfig"}
    props = simulated_properties("Training", args, "job", None, started=STARTED, ended=ENDED)
    uri = props["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri == "s3://sagemaker-us-east-1-123456789012/job/output/model.tar.gz"


def test_tuning_summaries_are_best_first():
    name, arn, props = props_for("Tuning")
    summaries = props["TrainingJobSummaries"]
    assert len(summaries) == 3 and props["BestTrainingJob"] == summaries[0]
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert values == sorted(values, reverse=True)
    assert all(s["TrainingJobName"].startswith(name) for s in summaries)
    assert summaries[0]["TrainingJobArn"].startswith("arn:aws:sagemaker:us-west-2:111122223333:")
    assert [s["TunedHyperParameters"]["booster"] for s in summaries] == ["gbtree", "dart", "gbtree"]
    assert len(name) <= 32


def test_automl_best_candidate():
    _, _, props = props_for("AutoML")
    container = props["BestCandidate"]["InferenceContainers"][0]
    assert container["ModelDataUrl"].startswith("s3://b/automl/")
    assert "SAGEMAKER_PROGRAM" in container["Environment"]
    assert props["BestCandidateProperties"]["ModelInsightsJsonReportPath"].endswith(".json")


def test_register_model():
    name, arn, props = props_for("RegisterModel")
    assert props["ModelPackageArn"] == arn and arn.endswith("/mygroup/1")
    assert props["ModelPackageGroupName"] == "MyGroup" == props["ModelPackageName"]
    assert props["ModelPackageVersion"] == 1 and props["ModelApprovalStatus"] == "Approved"
    later = simulated_properties(
        "RegisterModel",
        {"ModelPackageGroupName": "G"},
        "G",
        "arn:aws:sagemaker:us-west-2:111122223333:model-package/g/12",
        started=STARTED,
        ended=ENDED,
    )
    assert later["ModelPackageVersion"] == 12
    assert later["ModelApprovalStatus"] == "PendingManualApproval"


def test_quality_check_uses_supplied_baselines_unless_registering_new_ones():
    _, arn, props = props_for("QualityCheck")
    assert props["CalculatedBaselineConstraints"] == "s3://b/out/train/constraints.json"
    assert props["CalculatedBaselineStatistics"] == "s3://b/out/train/statistics.json"
    assert props["BaselineUsedForDriftCheckConstraints"] == "s3://b/base/constraints.json"
    assert props["BaselineUsedForDriftCheckStatistics"] == "s3://b/base/statistics.json"
    assert props["CheckJobArn"] == arn and "ViolationReport" in props
    step = {**CHECK_STEPS["QualityCheck"], "RegisterNewBaseline": True}
    _, _, props = props_for("QualityCheck", step=step)
    assert props["BaselineUsedForDriftCheckConstraints"] == props["CalculatedBaselineConstraints"]


def test_clarify_check():
    _, _, props = props_for("ClarifyCheck")
    assert props["CalculatedBaselineConstraints"] == "s3://b/out/train/analysis.json"
    assert props["BaselineUsedForDriftCheckConstraints"] == props["CalculatedBaselineConstraints"]
    assert "CalculatedBaselineStatistics" not in props and "ModelPackageGroupName" not in props
    assert props["SkipCheck"] is True and "ViolationReport" not in props


def test_emr():
    step_id, _, props = props_for("EMR")
    assert props["Id"] == step_id and props["ClusterId"] == "j-1ABCDEFGHIJKL"
    assert props["Config"]["Properties"] == {"k": "v"}
    assert props["Status"]["State"] == "COMPLETED"
    args = {"ClusterConfig": {"LogUri": "s3://b/logs"}, "StepConfig": {"Name": "x"}}
    props = simulated_properties("EMR", args, step_id, None, started=STARTED, ended=ENDED)
    assert props["ClusterId"].startswith("j-")
    assert props["LogUri"] == f"s3://b/logs/{props['ClusterId']}/steps/{step_id}/"


def test_lambda_and_callback_outputs():
    props = simulated_properties(
        "Lambda", {}, "n", LAMBDA_ARN, outputs={"x": 3, "ok": True}, started=STARTED, ended=ENDED
    )
    assert props == {"OutputParameters": [{"Name": "x", "Value": 3}, {"Name": "ok", "Value": True}]}
    _, _, props = props_for("Callback")
    assert props == {
        "OutputParameters": [{"Name": "s", "Value": ""}, {"Name": "ok", "Value": False}]
    }


def test_default_outputs():
    declared = [
        {"OutputName": "s", "OutputType": "String"},
        {"OutputName": "i", "OutputType": "Integer"},
        {"OutputName": "f", "OutputType": "Float"},
        {"OutputName": "b", "OutputType": "Boolean"},
        {"OutputName": "untyped"},
    ]
    assert default_outputs(declared) == {"s": "", "i": 0, "f": 0.0, "b": False, "untyped": ""}
    assert default_outputs([]) == {}


def test_engine_step_types_have_no_properties():
    for step_type in ("Condition", "Fail", "ForEach", "Cleanup", "Unknown"):
        assert simulated_properties(step_type, {}, "n", None, started=STARTED, ended=ENDED) == {}


def test_deterministic():
    assert props_for("Tuning") == props_for("Tuning")


def _walk(doc, path):
    """Follows a property path the way pipeline references do: Outputs['name'] selects the
    list item whose *Name member equals name."""
    for token in path:
        if isinstance(doc, list) and isinstance(token, str):
            doc = next(
                i for i in doc if any(k.endswith("Name") and v == token for k, v in i.items())
            )
        else:
            doc = doc[token]
    return doc


@pytest.mark.parametrize(
    "step_type,path",
    [
        ("Processing", ("ProcessingOutputConfig", "Outputs", "train", "S3Output", "S3Uri")),
        ("Training", ("ModelArtifacts", "S3ModelArtifacts")),
        ("Training", ("FinalMetricDataList", "validation:auc", "Value")),
        ("Training", ("TrainingJobName",)),
        ("Transform", ("TransformOutput", "S3OutputPath")),
        ("Tuning", ("TrainingJobSummaries", 2, "TrainingJobName")),
        ("Tuning", ("BestTrainingJob", "TrainingJobName")),
        ("AutoML", ("BestCandidate", "InferenceContainers", 0, "Environment", "MODEL_NAME")),
        ("AutoML", ("BestCandidateProperties", "ExplainabilityJsonReportPath")),
        ("Model", ("ModelName",)),
        ("RegisterModel", ("ModelPackageArn",)),
        ("QualityCheck", ("CalculatedBaselineStatistics",)),
        ("ClarifyCheck", ("BaselineUsedForDriftCheckConstraints",)),
        ("EMR", ("ClusterId",)),
        ("EMRServerless", ("jobRun", "state")),
        ("Endpoint", ("EndpointArn",)),
        ("EndpointConfig", ("EndpointConfigArn",)),
        ("InferenceComponent", ("RuntimeConfig", "CurrentCopyCount")),
        ("Lineage", ("ContextArns", "proj")),
        ("BedrockCustomModel", ("ModelArn",)),
        ("BedrockModelImport", ("ImportedModelArn",)),
        ("Callback", ("OutputParameters", "s", "Value")),
    ],
)
def test_sdk_property_references_resolve(step_type, path):
    _, _, props = props_for(step_type)
    assert _walk(props, path) is not None


def test_validator_catches_mistakes():
    shape = _shape("DescribeTrainingJobResponse")
    assert shape_errors(shape, {"ModelArtifacts": {"S3Uri": "s3://x"}})
    assert shape_errors(shape, {"TrainingJobStatus": "Done"})
    assert shape_errors(shape, {"CreationTime": "2024-01-01"})
    assert shape_errors(shape, {"FinalMetricDataList": [{"MetricName": "m", "Value": "1"}]})
