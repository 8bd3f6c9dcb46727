"""Models and the model registry (docs/behaviour.md §13): what Model and RegisterModel steps
create, read back through boto3 and the AWS CLI on SQLite and PostgreSQL (the simulate
runner: these steps create no compute under any runner)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import aws_sagemaker
from tests.support.pipelines import create, steps_by_name
from tests.support.server import ServerProcess
from tests.support.steps import IMAGE, get, model, start, training, wait_done

OTHER_ACCOUNT_GROUP = "arn:aws:sagemaker:us-east-1:210987654321:model-package-group/{}"


def register(name: str, group: str, **extra: Any) -> dict[str, Any]:
    """A RegisterModel step as SDK v2's ModelStep(step_args=model.register(...)) writes it."""
    arguments = {
        "ModelPackageGroupName": group,
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE,
                            "ModelDataUrl": get("Steps.Train.ModelArtifacts.S3ModelArtifacts")}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        "ModelApprovalStatus": "PendingManualApproval",
        **extra,
    }  # fmt: skip
    return {"Name": name, "Type": "RegisterModel", "Arguments": arguments, "DependsOn": ["Train"]}


def mlops_pipeline(group: str) -> list[dict[str, Any]]:
    deploy = model("CreateModel", get("Steps.Train.ModelArtifacts.S3ModelArtifacts"),
                   DependsOn=["Train"])  # fmt: skip
    return [training("Train", "s3://bucket/in"), deploy, register("Register", group)]


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


def test_each_run_registers_the_next_version_and_its_model(
    server: ServerProcess, name: str
) -> None:
    sm = server.client()
    group = f"{name}-Models"
    create(sm, name, mlops_pipeline(group))
    # Three runs at once: each gets a version of its own.
    runs = [start(sm, name) for _ in range(3)]
    for arn in runs:
        assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    steps = [steps_by_name(sm, arn) for arn in runs]
    package_arns = [s["Register"]["Metadata"]["RegisterModel"]["Arn"] for s in steps]
    assert sorted(a.rsplit("/", 1)[1] for a in package_arns) == ["1", "2", "3"]

    # The group did not exist: the first RegisterModel step made it.
    described = sm.describe_model_package_group(ModelPackageGroupName=group)
    assert described["ModelPackageGroupName"] == group
    assert described["ModelPackageGroupStatus"] == "Completed"
    assert described["ModelPackageGroupArn"].endswith(f":model-package-group/{group.lower()}")

    listed = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert [p["ModelPackageVersion"] for p in listed] == [1, 2, 3]  # CreationTime, Ascending
    assert sorted(p["ModelPackageArn"] for p in listed) == sorted(package_arns)
    assert {p["ModelApprovalStatus"] for p in listed} == {"PendingManualApproval"}
    assert sm.list_model_packages()["ModelPackageSummaryList"] == []  # Unversioned by default

    second = sm.describe_model_package(ModelPackageName=f"{group}/2")
    assert second["ModelPackageGroupName"] == group and second["ModelPackageVersion"] == 2
    assert second["ModelPackageStatus"] == "Completed"
    assert second["InferenceSpecification"]["SupportedContentTypes"] == ["text/csv"]
    by_arn = sm.describe_model_package(ModelPackageName=second["ModelPackageArn"])
    assert {**second, "ResponseMetadata": None} == {**by_arn, "ResponseMetadata": None}
    assert second["InferenceSpecification"]["Containers"][0]["ModelDataUrl"].endswith(
        "/output/model.tar.gz"
    )  # the Train step's model artifacts

    # Approve version 2, as the abalone example's last step does.
    sm.update_model_package(ModelPackageArn=second["ModelPackageArn"],
                            ModelApprovalStatus="Approved", ApprovalDescription="good RMSE")  # fmt: skip
    approved = sm.describe_model_package(ModelPackageName=second["ModelPackageArn"])
    assert approved["ModelApprovalStatus"] == "Approved"
    assert approved["ApprovalDescription"] == "good RMSE"
    assert approved["LastModifiedTime"] >= second["CreationTime"]
    only = sm.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="Approved")
    assert [p["ModelPackageVersion"] for p in only["ModelPackageSummaryList"]] == [2]
    newest = sm.list_model_packages(ModelPackageGroupName=group, SortOrder="Descending",
                                    MaxResults=1)  # fmt: skip
    assert newest["ModelPackageSummaryList"][0]["ModelPackageVersion"] == 3

    # The models the Model steps created, one a run.
    model_arns = {s["CreateModel"]["Metadata"]["Model"]["Arn"] for s in steps}
    models = [m for m in sm.list_models(NameContains="CreateModel")["Models"]
              if m["ModelArn"] in model_arns]  # fmt: skip
    assert len(models) == 3
    assert [m["CreationTime"] for m in models] == sorted(
        (m["CreationTime"] for m in models), reverse=True
    )  # ListModels: Descending by default
    first_model = sm.describe_model(ModelName=models[0]["ModelName"])
    assert first_model["ModelArn"] == models[0]["ModelArn"]
    assert first_model["PrimaryContainer"]["ModelDataUrl"].startswith("s3://")
    sm.delete_model(ModelName=first_model["ModelName"])
    code, message = error_of(sm.describe_model, ModelName=first_model["ModelName"])
    assert (code, message) == (
        "ValidationException",
        f'Could not find model "{first_model["ModelArn"]}".',
    )

    # A group that holds versions is not deleted; once they are gone, it is.
    assert error_of(sm.delete_model_package_group, ModelPackageGroupName=group)[0] == (
        "ConflictException"
    )
    for arn in package_arns:
        sm.delete_model_package(ModelPackageName=arn)
    sm.delete_model_package_group(ModelPackageGroupName=group)
    code, _ = error_of(sm.describe_model_package_group, ModelPackageGroupName=group)
    assert code == "ValidationException"
    # A new group of the same name starts again at version 1.
    again = start(sm, name)
    assert wait_done(sm, again)["PipelineExecutionStatus"] == "Succeeded"
    assert steps_by_name(sm, again)["Register"]["Metadata"]["RegisterModel"]["Arn"].endswith(
        f"/{group.lower()}/1"
    )


def test_model_package_groups_are_created_listed_tagged_and_refused_as_aws_does(
    server: ServerProcess, name: str
) -> None:
    sm = server.client()
    groups = [f"{name}-a", f"{name}-b", f"{name}-c"]
    for group in groups:
        created = sm.create_model_package_group(
            ModelPackageGroupName=group, ModelPackageGroupDescription=f"about {group}",
            Tags=[{"Key": "team", "Value": "ml"}],
        )  # fmt: skip
        assert created["ModelPackageGroupArn"].endswith(f"/{group.lower()}")
    code, message = error_of(sm.create_model_package_group, ModelPackageGroupName=groups[0])
    assert code == "ValidationException" and "already exists" in message

    # A RegisterModel step may name its group by ARN (the SDK accepts either).
    group_arn = sm.describe_model_package_group(ModelPackageGroupName=groups[0])[
        "ModelPackageGroupArn"
    ]
    create(sm, name, [training("Train", "s3://bucket/in"), register("Register", group_arn)])
    assert wait_done(sm, start(sm, name))["PipelineExecutionStatus"] == "Succeeded"
    (version,) = sm.list_model_packages(ModelPackageGroupName=group_arn)["ModelPackageSummaryList"]
    assert version["ModelPackageGroupName"] == groups[0] and version["ModelPackageVersion"] == 1
    assert version["ModelPackageArn"].endswith(f"/{groups[0].lower()}/1")

    arn = sm.describe_model_package_group(ModelPackageGroupName=groups[1].upper())[
        "ModelPackageGroupArn"
    ]  # names are looked up without regard to case, as on AWS
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}])
    assert len(sm.list_tags(ResourceArn=arn)["Tags"]) == 2

    first = sm.list_model_package_groups(NameContains=name, SortBy="Name", SortOrder="Descending",
                                         MaxResults=2)  # fmt: skip
    rest = sm.list_model_package_groups(NameContains=name, SortBy="Name", SortOrder="Descending",
                                        MaxResults=2, NextToken=first["NextToken"])  # fmt: skip
    names = [g["ModelPackageGroupName"] for g in first["ModelPackageGroupSummaryList"]
             + rest["ModelPackageGroupSummaryList"]]  # fmt: skip
    assert names == groups[::-1] and "NextToken" not in rest
    assert first["ModelPackageGroupSummaryList"][0]["ModelPackageGroupDescription"] == (
        f"about {groups[2]}"
    )
    code, _ = error_of(sm.list_model_package_groups, NameContains=name, MaxResults=2,
                       NextToken=first["NextToken"])  # fmt: skip
    assert code == "ValidationException"  # a token is bound to its query
    assert (
        sm.list_model_package_groups(CrossAccountFilterOption="CrossAccount")[
            "ModelPackageGroupSummaryList"
        ]
        == []
    )

    # Another account's ARN, an unknown name, a bad name: as AWS answers, nothing changed.
    code, message = error_of(
        sm.describe_model_package_group, ModelPackageGroupName=OTHER_ACCOUNT_GROUP.format(groups[0])
    )
    assert code == "ValidationException" and "does not exist" in message
    assert error_of(sm.describe_model_package, ModelPackageName=f"{groups[0]}/7")[0] == (
        "ValidationException"
    )
    assert error_of(sm.create_model_package_group, ModelPackageGroupName="bad_name")[0] == (
        "ValidationException"
    )
    assert error_of(sm.update_model_package, ModelPackageArn=(
        f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{groups[0]}/2"),
        ModelApprovalStatus="Approved")[0] == "ValidationException"  # fmt: skip
    assert len(sm.list_model_package_groups(NameContains=name)["ModelPackageGroupSummaryList"]) == 3
    sm.delete_model_package_group(ModelPackageGroupName=arn)
    assert error_of(sm.list_tags, ResourceArn=arn)[0] == "ResourceNotFound"


def test_an_unversioned_package_name_that_exists_fails_the_step_as_aws_does(
    server: ServerProcess, name: str
) -> None:
    sm = server.client()
    step = register("Register", "unused", ModelPackageName=f"{name}-pkg")
    del step["Arguments"]["ModelPackageGroupName"], step["Arguments"]["ModelApprovalStatus"]
    create(sm, name, [training("Train", "s3://bucket/in"), step])
    first = start(sm, name)
    assert wait_done(sm, first)["PipelineExecutionStatus"] == "Succeeded"
    package_arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{name}-pkg"
    (listed,) = sm.list_model_packages()["ModelPackageSummaryList"]  # Unversioned: the default
    assert listed["ModelPackageArn"] == package_arn and "ModelPackageVersion" not in listed
    code, _ = error_of(sm.update_model_package, ModelPackageArn=package_arn,
                       ModelApprovalStatus="Approved")  # fmt: skip
    assert code == "ValidationException"  # approval is for versions only

    second = start(sm, name)
    assert wait_done(sm, second)["PipelineExecutionStatus"] == "Failed"
    assert steps_by_name(sm, second)["Register"]["FailureReason"] == (
        f'ValidationException: Cannot create already existing model package "{package_arn}".'
    )
    # Once the package is deleted, a retry of the execution registers it again.
    sm.delete_model_package(ModelPackageName=f"{name}-pkg")
    sm.retry_pipeline_execution(
        PipelineExecutionArn=second, ClientRequestToken=f"{name}-retry".ljust(32, "0")
    )
    assert wait_done(sm, second)["PipelineExecutionStatus"] == "Succeeded"
    described = sm.describe_model_package(ModelPackageName=f"{name}-pkg")
    assert described["ModelPackageArn"] == package_arn
    assert described["ModelPackageName"] == f"{name}-pkg"


def test_the_aws_cli_lists_and_approves_model_packages(server: ServerProcess, name: str) -> None:
    sm = server.client()
    group = f"{name}-cli"
    create(sm, name, mlops_pipeline(group))
    assert wait_done(sm, start(sm, name))["PipelineExecutionStatus"] == "Succeeded"
    cli = aws_sagemaker(server.url)
    listed = cli("list-model-packages", "--model-package-group-name", group)
    (package,) = listed["ModelPackageSummaryList"]
    cli("update-model-package", "--model-package-arn", package["ModelPackageArn"],
        "--model-approval-status", "Rejected")  # fmt: skip
    described = cli("describe-model-package", "--model-package-name", f"{group}/1")
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["ModelPackageArn"] == package["ModelPackageArn"]
    groups = cli("list-model-package-groups", "--name-contains", group)
    assert [g["ModelPackageGroupName"] for g in groups["ModelPackageGroupSummaryList"]] == [group]
