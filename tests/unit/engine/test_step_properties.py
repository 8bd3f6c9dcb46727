"""Properties of a simulated job's step are built from its stored job when read: the same
values before and after the row's round trip through the store, and given ones win."""

from __future__ import annotations

from typing import Any

from sagepipe.domain.records import ExecutionRecord, StepRecord
from sagepipe.engine.step_properties import properties_of

EXECUTION = ExecutionRecord(
    arn="arn:aws:sagemaker:eu-west-1:111122223333:pipeline/p/execution/abc",
    exec_id="abc",
    account="111122223333",
    region="eu-west-1",
    pipeline_arn="arn:aws:sagemaker:eu-west-1:111122223333:pipeline/p",
    status="Executing",
    parallelism=None,
    pipeline_parallelism=None,
    retry_count=0,
    epoch=1,
    created=1000.0,
    definition_text="",
    parameters={},
)
JOB_ARN = "arn:aws:sagemaker:eu-west-1:111122223333:processing-job/pipelines-abc-prep-x"


def processing_record(status: str = "Succeeded", **changes: Any) -> StepRecord:
    job = {
        "kind": "job", "name": "pipelines-abc-Prep-x", "arn": JOB_ARN, "started": 1001.5,
        "arguments": {
            "AppSpecification": {"ImageUri": "img:1"},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1}},
        },
        "top": {"Name": "Prep", "Type": "Processing"},
        "duration": 0, "outcome": "Succeeded",
    }  # fmt: skip
    fields: dict[str, Any] = {
        "name": "Prep", "step_type": "Processing", "status": status, "attempt_count": 1,
        "manual_retry": 0, "run_attempts": 1, "first_start": 1001.5, "started": 1001.5,
        "ended": 1003.25 if status == "Succeeded" else None, "job": job,
    }  # fmt: skip
    fields.update(changes)
    return StepRecord(**fields)


def test_built_from_the_job_and_the_steps_end() -> None:
    properties = properties_of(processing_record(), EXECUTION)
    assert properties is not None
    assert properties["ProcessingJobName"] == "pipelines-abc-Prep-x"
    assert properties["ProcessingJobArn"] == JOB_ARN
    assert properties["ProcessingJobStatus"] == "Completed"
    assert properties["AppSpecification"] == {"ImageUri": "img:1"}
    # Timestamps as epoch seconds, as JSON would give them back.
    assert properties["ProcessingStartTime"] == 1001.5
    assert properties["ProcessingEndTime"] == 1003.25


def test_not_stored_and_the_same_after_the_store() -> None:
    record = processing_record()
    row = record.to_row(EXECUTION.arn)
    assert row["properties"] is None
    reloaded = StepRecord.from_row(row)
    assert properties_of(reloaded, EXECUTION) == properties_of(record, EXECUTION)


def test_built_once_per_job_and_end() -> None:
    record = processing_record()
    first = properties_of(record, EXECUTION)
    assert properties_of(record, EXECUTION) is first
    record.ended = 1010.0
    assert properties_of(record, EXECUTION)["ProcessingEndTime"] == 1010.0  # type: ignore[index]


def test_given_properties_win_and_are_stored() -> None:
    given = {"ProcessingJobName": "from-the-cache"}
    record = processing_record(properties=given)
    assert properties_of(record, EXECUTION) is given
    assert StepRecord.from_row(record.to_row(EXECUTION.arn)).properties == given


def test_none_until_the_step_succeeds() -> None:
    assert properties_of(processing_record(status="Executing"), EXECUTION) is None
    assert properties_of(processing_record(status="Failed"), EXECUTION) is None
    assert properties_of(processing_record(job=None), EXECUTION) is None
    condition = processing_record(step_type="Condition", job={"kind": "condition"})
    assert properties_of(condition, EXECUTION) is None
