"""A succeeded step's properties: what `Steps.<name>.<Property>` expressions read (docs/behaviour.md §7).

A simulated job's properties are its Describe* response, and that follows from what the step's
row already holds: the job (resolved arguments, name, ARN, start, outputs) and the step's end.
So they are built when something first reads them (an expression, the step's metadata, the
step cache) and never stored: most steps' properties are never read, and building, encoding
and storing them was about a tenth of the work of running a one-step pipeline. Properties that
do not follow from the job (a Condition's outcome, a Callback's answer, a cache hit's copy, or
rows written before this) are set on the record and stored with it."""

from __future__ import annotations

from typing import Any

from sagepipe.domain.records import ExecutionRecord, StepRecord
from sagepipe.domain.states import StepStatus
from sagepipe.runners.properties import default_outputs, jsonable, simulated_properties, utc


def properties_of(record: StepRecord, execution: ExecutionRecord) -> dict[str, Any] | None:
    """The step's properties, or None while it has none (not succeeded, or no job)."""
    if record.properties is not None:
        return record.properties
    job, ended = record.job, record.ended
    if job is None or ended is None or not buildable(record.status, ended, job):
        return None  # (the None tests narrow the types; buildable decides)
    built = record.built_properties
    if built is not None and built[0] is job and built[1] == ended:
        return built[2]
    value = job_properties(record.step_type, job, ended, execution.region, execution.account)
    record.built_properties = (job, ended, value)
    return value


def buildable(status: str, ended: float | None, job: dict[str, Any] | None) -> bool:
    """Whether a step's properties follow from its job: a succeeded runner job (or Lambda)."""
    return (
        status == StepStatus.SUCCEEDED and ended is not None and job is not None
        and job.get("kind") in ("job", "lambda")
    )  # fmt: skip


def job_properties(
    step_type: str, job: dict[str, Any], ended: float, region: str, account: str
) -> dict[str, Any]:
    """The Describe* document of a job that ended at `ended`, from what its step's row holds:
    a succeeded step's properties, and the base of DescribeTrainingJob & co. (providers/jobs.py)."""
    outputs = job.get("outputs")
    if step_type == "Lambda" and outputs is None:
        outputs = default_outputs(job["top"].get("OutputParameters") or [])
    properties = simulated_properties(
        step_type, job["arguments"], job["name"], job["arn"], outputs=outputs,
        started=utc(job["started"]), ended=utc(ended), step=job["top"],
        region=region, account=account,
    )  # fmt: skip
    value: dict[str, Any] = jsonable(properties)
    return value
