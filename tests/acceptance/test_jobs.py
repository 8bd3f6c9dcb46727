"""The jobs behind the steps (docs/behaviour.md §13): DescribeProcessingJob/TrainingJob/
TransformJob and their List* operations, through boto3 and the AWS CLI, on SQLite and
PostgreSQL, for the jobs a pipeline made (the simulate runner here; tests/local covers real
jobs)."""

from __future__ import annotations

import datetime

import pytest
from botocore.exceptions import ClientError

from tests.support.clients import aws_sagemaker
from tests.support.pipelines import create, processing, steps_by_name
from tests.support.server import ServerProcess
from tests.support.steps import (
    attempts_of,
    fail,
    get,
    join,
    retry_policy,
    start,
    training,
    wait_done,
    wait_step,
)

TRANSFORM = {
    "Name": "Score", "Type": "Transform",
    "Arguments": {
        "ModelName": "m", "TransformInput": {"DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/batch"}}},
        "TransformOutput": {"S3OutputPath": "s3://bucket/scored"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}},
}  # fmt: skip


def run(server: ServerProcess, name: str) -> str:
    """Prepare -> Train (fails once, retried by its policy) -> Score, then a Fail step whose
    message is Train's properties: what `Steps.Train...` reads, for comparison."""
    server.set_faults([{"pipeline": name, "step": "Train", "fail_attempts": 1,
                        "failure_reason": "boom", "exception_type": "SageMaker.JOB_INTERNAL_ERROR"}])  # fmt: skip
    steps = [
        processing("Prepare"),
        training("Train", "s3://bucket/in", depends_on=["Prepare"],
                 RetryPolicies=[retry_policy(IntervalSeconds=1, MaxAttempts=2)]),
        dict(TRANSFORM, DependsOn=["Train"]),
        fail("Report", join("|", get("Steps.Train.TrainingJobName"),
                            get("Steps.Train.TrainingJobStatus"),
                            get("Steps.Train.ModelArtifacts.S3ModelArtifacts"),
                            get("Steps.Train.SecondaryStatus")), depends_on=["Score"]),
    ]  # fmt: skip
    sm = server.client()
    create(sm, name, steps)
    arn = start(sm, name)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"  # the Fail step
    return arn


def job_name(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def test_describe_answers_for_every_job_a_pipeline_made(server: ServerProcess, name: str) -> None:
    arn = run(server, name)
    sm = server.client()
    steps = steps_by_name(sm, arn)
    train_arn = steps["Train"]["Metadata"]["TrainingJob"]["Arn"]
    described = sm.describe_training_job(TrainingJobName=job_name(train_arn))
    # The step's properties and the Describe answer are one document.
    reported = steps["Report"]["FailureReason"].split("|")
    assert reported == [
        described["TrainingJobName"], described["TrainingJobStatus"],
        described["ModelArtifacts"]["S3ModelArtifacts"], described["SecondaryStatus"],
    ]  # fmt: skip
    assert described["TrainingJobArn"] == train_arn
    assert described["TrainingJobStatus"] == "Completed"
    assert described["AlgorithmSpecification"]["TrainingImage"].endswith("img:1")
    assert described["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert described["CreationTime"] <= described["TrainingEndTime"]
    # The name as the ARN has it (lower case) finds the job too; the answer keeps its case.
    assert described["TrainingJobName"].lower() == job_name(train_arn)

    # The first, failed attempt of Train is a job of its own.
    first = attempts_of(server, arn, "Train")[0]
    failed_name = job_name(first["metadata"]["TrainingJob"]["Arn"])
    failed = sm.describe_training_job(TrainingJobName=failed_name)
    assert failed["TrainingJobStatus"] == "Failed" and failed["FailureReason"] == "boom"
    assert failed["SecondaryStatus"] == "Failed"
    assert "FinalMetricDataList" not in failed

    prepare = steps["Prepare"]["Metadata"]["ProcessingJob"]["Arn"]
    processed = sm.describe_processing_job(ProcessingJobName=job_name(prepare))
    assert processed["ProcessingJobStatus"] == "Completed"
    assert processed["ProcessingJobArn"] == prepare
    score = steps["Score"]["Metadata"]["TransformJob"]["Arn"]
    scored = sm.describe_transform_job(TransformJobName=job_name(score))
    assert scored["TransformJobStatus"] == "Completed" and scored["ModelName"] == "m"


def test_a_job_that_does_not_exist_is_the_models_validation_error(
    server: ServerProcess, name: str
) -> None:
    arn = run(server, name)
    sm = server.client()
    train = job_name(steps_by_name(sm, arn)["Train"]["Metadata"]["TrainingJob"]["Arn"])
    for call, member, value in [
        (sm.describe_training_job, "TrainingJobName", "no-such-job"),
        (sm.describe_processing_job, "ProcessingJobName", train),  # a training job's name
        (sm.describe_transform_job, "TransformJobName", "x"),
    ]:
        with pytest.raises(ClientError) as error:
            call(**{member: value})
        assert error.value.response["Error"]["Code"] == "ValidationException"
        assert error.value.response["Error"]["Message"] == "Requested resource not found."


def test_another_account_neither_describes_nor_lists_the_jobs(
    server_args: list[str], name: str
) -> None:
    server = ServerProcess(
        server_args, ["--accounts", "AKIDTEST=111111111111,AKIDOTHER=222222222222"]
    )
    server.start()
    try:
        arn = run(server, name)
        train = job_name(
            steps_by_name(server.client(), arn)["Train"]["Metadata"]["TrainingJob"]["Arn"]
        )
        assert server.client().describe_training_job(TrainingJobName=train)
        other = server.client(access_key="AKIDOTHER")
        with pytest.raises(ClientError) as error:
            other.describe_training_job(TrainingJobName=train)
        assert error.value.response["Error"]["Message"] == "Requested resource not found."
        assert other.list_training_jobs()["TrainingJobSummaries"] == []
    finally:
        server.stop()


def test_list_jobs_filters_sorts_and_pages(server: ServerProcess, name: str) -> None:
    arn = run(server, name)
    sm = server.client()
    train_names = [job_name(a["metadata"]["TrainingJob"]["Arn"])
                   for a in attempts_of(server, arn, "Train")]  # fmt: skip
    # Oldest first by default, as the model documents for training (and processing) jobs.
    oldest = sm.list_training_jobs()["TrainingJobSummaries"]
    assert [s["TrainingJobName"].lower() for s in oldest] == train_names
    listed = sm.list_training_jobs(SortOrder="Descending")["TrainingJobSummaries"]
    assert [s["TrainingJobName"].lower() for s in listed] == train_names[::-1]
    assert [s["TrainingJobStatus"] for s in listed] == ["Completed", "Failed"]
    assert "FailureReason" not in listed[1]  # not in TrainingJobSummary (it is in Processing's)
    assert [s["TrainingJobName"].lower() for s in sm.list_training_jobs(
        SortOrder="Ascending")["TrainingJobSummaries"]] == train_names  # fmt: skip
    only_failed = sm.list_training_jobs(StatusEquals="Failed")["TrainingJobSummaries"]
    assert [s["TrainingJobName"].lower() for s in only_failed] == train_names[:1]
    assert sm.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"] == []
    by_status = sm.list_training_jobs(SortBy="Status", SortOrder="Ascending")
    assert [s["TrainingJobStatus"] for s in by_status["TrainingJobSummaries"]] == [
        "Completed", "Failed"]  # fmt: skip
    fragment = train_names[0][-6:].upper()  # NameContains ignores case, as names do
    assert [s["TrainingJobName"].lower() for s in sm.list_training_jobs(
        NameContains=fragment)["TrainingJobSummaries"]] == train_names[:1]  # fmt: skip
    assert sm.list_training_jobs(NameContains="training-job")["TrainingJobSummaries"] == []
    assert sm.list_training_jobs(WarmPoolStatusEquals="Available")["TrainingJobSummaries"] == []

    first = sm.list_training_jobs(MaxResults=1, SortBy="Name")
    assert len(first["TrainingJobSummaries"]) == 1 and first["NextToken"]
    second = sm.list_training_jobs(MaxResults=1, SortBy="Name", NextToken=first["NextToken"])
    names = [first["TrainingJobSummaries"][0]["TrainingJobName"],
             second["TrainingJobSummaries"][0]["TrainingJobName"]]  # fmt: skip
    assert [n.lower() for n in names] == sorted(train_names)  # Ascending: the default
    assert "NextToken" not in second
    with pytest.raises(ClientError) as error:
        sm.list_training_jobs(MaxResults=1, SortBy="CreationTime", NextToken=first["NextToken"])
    assert error.value.response["Error"]["Code"] == "ValidationException"

    created = listed[0]["CreationTime"] + datetime.timedelta(milliseconds=1)  # shown to the ms
    assert [s["TrainingJobName"] for s in sm.list_training_jobs(
        CreationTimeAfter=created)["TrainingJobSummaries"]] == []  # fmt: skip
    assert len(sm.list_processing_jobs()["ProcessingJobSummaries"]) == 1
    assert len(sm.list_transform_jobs()["TransformJobSummaries"]) == 1


def test_the_aws_cli_describes_and_lists_jobs(server: ServerProcess, name: str) -> None:
    arn = run(server, name)
    train = steps_by_name(server.client(), arn)["Train"]["Metadata"]["TrainingJob"]["Arn"]
    cli = aws_sagemaker(server.url)
    described = cli("describe-training-job", "--training-job-name", job_name(train))
    assert described["TrainingJobArn"] == train
    listed = cli("list-training-jobs", "--status-equals", "Completed")
    assert [s["TrainingJobArn"] for s in listed["TrainingJobSummaries"]] == [train]


def test_stopping_a_running_job_fails_its_step_and_a_retry_runs_it_again(
    server: ServerProcess, name: str
) -> None:
    server.set_faults([{"pipeline": name, "step": "Train", "duration_seconds": 60}])
    sm = server.client()
    create(sm, name, [training("Train", "s3://bucket/in")])
    arn = start(sm, name)
    running = wait_step(sm, arn, "Train", ("Executing",))
    job = job_name(running["Metadata"]["TrainingJob"]["Arn"])
    assert sm.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] == "InProgress"

    sm.stop_training_job(TrainingJobName=job.upper())  # any case, as names are looked up
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
    step = steps_by_name(sm, arn)["Train"]
    assert step["StepStatus"] == "Failed"
    assert "StopTrainingJob" in step["FailureReason"]
    stopped = sm.describe_training_job(TrainingJobName=job)
    assert stopped["TrainingJobStatus"] == "Stopped" and stopped["SecondaryStatus"] == "Stopped"
    with pytest.raises(ClientError) as error:
        sm.stop_training_job(TrainingJobName=job)
    assert error.value.response["Error"]["Message"] == (
        "The request was rejected because the training job is in status Stopped."
    )

    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="r" * 32)
    again = wait_step(sm, arn, "Train", ("Executing",))
    assert again["AttemptCount"] == 2
    assert sm.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"][0][
        "TrainingJobArn"] == again["Metadata"]["TrainingJob"]["Arn"]  # fmt: skip
    sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Stopped"


def test_tags_on_a_job_arn(server: ServerProcess, name: str) -> None:
    arn = run(server, name)
    sm = server.client()
    job_arn = steps_by_name(sm, arn)["Train"]["Metadata"]["TrainingJob"]["Arn"]
    sm.add_tags(
        ResourceArn=job_arn, Tags=[{"Key": "team", "Value": "ml"}, {"Key": "x", "Value": "1"}]
    )
    sm.delete_tags(ResourceArn=job_arn, TagKeys=["x"])
    assert sm.list_tags(ResourceArn=job_arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    missing = job_arn.rsplit("/", 1)[0] + "/no-such-job"
    with pytest.raises(ClientError) as error:
        sm.list_tags(ResourceArn=missing)
    assert error.value.response["Error"]["Code"] == "ResourceNotFound"


def test_a_cache_hit_is_not_a_job_of_its_own(server: ServerProcess, name: str) -> None:
    sm = server.client()
    cached = training("Train", "s3://bucket/in",
                      CacheConfig={"Enabled": True, "ExpireAfter": "PT1H"})  # fmt: skip
    create(sm, name, [cached])
    first, second = start(sm, name), None
    assert wait_done(sm, first)["PipelineExecutionStatus"] == "Succeeded"
    second = start(sm, name)
    assert wait_done(sm, second)["PipelineExecutionStatus"] == "Succeeded"
    assert steps_by_name(sm, second)["Train"]["CacheHitResult"]
    listed = sm.list_training_jobs()["TrainingJobSummaries"]
    assert len(listed) == 1  # the source execution's job, once
