"""In-memory copies of an execution's rows, owned by the one driver running it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# One status change: [step name (None: the execution itself), attempt, from, to, at].
Transition = list[Any]


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def event_row(execution_arn: str, transitions: list[Transition]) -> dict[str, Any]:
    """The `event_insert` row for the transitions one transaction commits, in order."""
    return {"execution_arn": execution_arn, "transitions": json.dumps(transitions)}


def execution_event_row(
    execution_arn: str, from_status: str | None, to_status: str, at: float
) -> dict[str, Any]:
    """The `event_insert` row of a request that changes only the execution's own status."""
    return event_row(execution_arn, [[None, None, from_status, to_status, at]])


@dataclass
class StepRecord:
    name: str
    step_type: str
    status: str
    attempt_count: int
    manual_retry: int  # which manual retry the latest attempt belongs to (0 = original run)
    run_attempts: int  # attempts within that manual retry (automatic retries count here)
    first_start: float  # start of the first attempt within that manual retry
    started: float
    ended: float | None = None
    next_run_at: float | None = None  # an automatic retry waits until then
    failure_reason: str | None = None
    failure_type: str | None = None
    metadata: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    outcome: bool | None = None
    cache_source: str | None = None
    selective_source: str | None = None
    job: dict[str, Any] | None = None
    stop_requested: bool = field(default=False, compare=False)
    _job_text: tuple[dict[str, Any], str] | None = field(
        default=None, init=False, compare=False, repr=False
    )
    # Properties built from the job (engine/step_properties.py), with the job and end they
    # were built from.
    built_properties: tuple[dict[str, Any], float, dict[str, Any]] | None = field(
        default=None, init=False, compare=False, repr=False
    )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StepRecord:
        return cls(
            name=row["name"],
            step_type=row["step_type"],
            status=row["status"],
            attempt_count=row["attempt_count"],
            manual_retry=row["manual_retry"],
            run_attempts=row["run_attempts"],
            first_start=row["first_start"],
            started=row["started"],
            ended=row["ended"],
            next_run_at=row["next_run_at"],
            failure_reason=row["failure_reason"],
            failure_type=row["failure_type"],
            metadata=_json(row["metadata"]),
            properties=_json(row["properties"]),
            outcome=None if row["outcome"] is None else bool(row["outcome"]),
            cache_source=row["cache_source"],
            selective_source=row["selective_source"],
            job=_json(row["job"]),
        )

    def job_text(self) -> str | None:
        """The job as JSON, encoded once: a job is never changed after its step starts, and
        both the step's row and the attempt's row store it."""
        if self.job is None:
            return None
        if self._job_text is None or self._job_text[0] is not self.job:
            self._job_text = (self.job, json.dumps(self.job))
        return self._job_text[1]

    def to_row(self, execution_arn: str) -> dict[str, Any]:
        return {
            "execution_arn": execution_arn,
            "name": self.name,
            "step_type": self.step_type,
            "status": self.status,
            "attempt_count": self.attempt_count,
            "manual_retry": self.manual_retry,
            "run_attempts": self.run_attempts,
            "first_start": self.first_start,
            "started": self.started,
            "ended": self.ended,
            "next_run_at": self.next_run_at,
            "failure_reason": self.failure_reason,
            "failure_type": self.failure_type,
            "metadata": json.dumps(self.metadata) if self.metadata is not None else None,
            "properties": json.dumps(self.properties) if self.properties is not None else None,
            "outcome": None if self.outcome is None else int(self.outcome),
            "cache_source": self.cache_source,
            "selective_source": self.selective_source,
            "job": self.job_text(),
        }


@dataclass
class ExecutionRecord:
    arn: str
    exec_id: str
    account: str
    region: str
    pipeline_arn: str
    status: str
    parallelism: int | None
    pipeline_parallelism: int | None
    retry_count: int
    epoch: int
    created: float
    definition_text: str
    parameters: dict[str, Any]
    failure_reason: str | None = None
    fail_step: str | None = None
    selected: frozenset[str] | None = None  # selective execution: only these steps run

    @property
    def pipeline_name(self) -> str:
        return self.pipeline_arn.rsplit("/", 1)[1]
