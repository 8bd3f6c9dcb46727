"""How an attempt ends, written into the tick's batch: success, failure (with the step's
RetryPolicies) or stop. Used by the driver for jobs that end later and by the starter for
steps that end in the tick that starts them."""

from __future__ import annotations

import json
import time
from typing import Any

from sagepipe.domain.definition import Definition
from sagepipe.domain.records import ExecutionRecord, StepRecord
from sagepipe.domain.retry_policy import next_retry_delay
from sagepipe.domain.states import ExecutionStatus, StepStatus
from sagepipe.engine import registry, step_cache
from sagepipe.engine.batch import Batch
from sagepipe.engine.step_properties import properties_of
from sagepipe.runners.metadata import ARN_MEMBERS, step_metadata
from sagepipe.runners.port import FAILED, STOPPED, SUCCEEDED, Outcome


class StepEnding:
    def __init__(self, execution: ExecutionRecord, definition: Definition) -> None:
        self.execution = execution
        self.definition = definition

    def apply(self, batch: Batch, name: str, outcome: Outcome, now: float) -> None:
        """End the step's running job as the runner reports it."""
        if outcome.status == SUCCEEDED:
            self.succeed(batch, name, now, outcome.properties)
        elif outcome.status == STOPPED and batch.get(name).status == StepStatus.STOPPING:  # type: ignore[union-attr]
            self.stopped(batch, name, now)
        elif outcome.status == STOPPED:
            # Its job was stopped while the step was not (Stop*Job, docs/behaviour.md §13):
            # as on AWS the job is Stopped and its step fails.
            step_type = batch.get(name).step_type  # type: ignore[union-attr]
            reason = outcome.failure_reason or (
                f"The step's job was stopped before it completed (Stop{step_type}Job, or a "
                "signal to its process)."
            )
            self.fail(batch, name, now, reason, outcome.failure_type, attempt_status=STOPPED)
        else:
            # A job that stopped without being asked to (the runner stopped it: a time limit,
            # a lost node) failed.
            self.fail(batch, name, now, outcome.failure_reason, outcome.failure_type)

    def succeed(
        self,
        batch: Batch,
        name: str,
        now: float,
        properties: dict[str, Any] | None,
        outputs: list[dict[str, Any]] | None = None,
    ) -> None:
        record = batch.edit(name)
        previous = record.status
        record.status, record.ended, record.properties = StepStatus.SUCCEEDED, now, properties
        record.failure_reason = record.failure_type = None
        record.next_run_at = None
        record.metadata = self.final_metadata(record, outputs)
        batch.put(record, previous, now)
        batch.attempts_end.append(self.attempt_end(record, None))
        step_cache.remember(batch, self.execution, self.definition.steps[name], record)
        registry.remember(batch, self.execution, record, now)

    def fail(
        self,
        batch: Batch,
        name: str,
        now: float,
        reason: str | None,
        failure_type: str | None,
        attempt_status: str = FAILED,
    ) -> None:
        record = batch.edit(name)
        previous = record.status
        reason = reason or "Step failed."
        spec = self.definition.steps[name]
        delay = None
        running = self.execution.status == ExecutionStatus.EXECUTING
        if running and previous != StepStatus.STOPPING:
            delay = next_retry_delay(spec.retry_policies, failure_type, record, now)
        batch.attempts_end.append(self.attempt_end(record, reason, status=attempt_status))
        if delay is not None:
            # The step stays Executing while it waits to run its next attempt (one whose
            # job never started was still Starting).
            record.next_run_at = now + delay
            record.failure_type = failure_type
            if previous == StepStatus.STARTING:
                record.status = StepStatus.EXECUTING
                batch.put(record, previous, now)
            batch.keep(record)
            batch.ended_now.add(name)  # its next attempt starts in a later tick, never this one
            return
        record.status, record.ended = StepStatus.FAILED, now
        record.failure_reason, record.failure_type = reason, failure_type
        record.next_run_at = None
        batch.put(record, previous, now)

    def stopped(self, batch: Batch, name: str, now: float) -> None:
        record = batch.edit(name)
        previous = record.status
        # A step waiting out a retry back-off has no attempt running: its last one stays Failed.
        attempt_running = record.next_run_at is None
        if previous != StepStatus.STOPPING:
            record.status = StepStatus.STOPPING
            batch.put(record, previous, now)
            previous = StepStatus.STOPPING
        record.status, record.ended, record.next_run_at = StepStatus.STOPPED, now, None
        batch.put(record, previous, now)
        if attempt_running:
            batch.attempts_end.append(self.attempt_end(record, None, status=STOPPED))

    def end_now(
        self, batch: Batch, record: StepRecord, status: str, now: float, reason: str | None = None
    ) -> None:
        """End an attempt that has just started (Condition, Fail, a cache hit, a bad input)."""
        previous = record.status
        record.status, record.ended, record.failure_reason = status, now, reason
        batch.put(record, previous, now)
        batch.attempts_end.append(self.attempt_end(record, reason))

    def final_metadata(
        self, record: StepRecord, outputs: list[dict[str, Any]] | None
    ) -> dict[str, Any] | None:
        job = record.job or {}
        if record.step_type in ARN_MEMBERS:
            properties = {}  # their metadata is the job's ARN alone: no need to build them
        else:
            properties = properties_of(record, self.execution) or {}
        extra: dict[str, Any] = {}
        if job.get("token"):
            extra["callback_token"] = job["token"]
            extra["sqs_queue_url"] = job.get("top", {}).get("SqsQueueUrl")
        listed = outputs if outputs is not None else properties.get("OutputParameters")
        if listed:
            extra["output_parameters"] = listed
        return step_metadata(
            record.step_type, job_arn=job.get("arn"), properties=properties, extra=extra
        )

    def attempt_end(
        self, record: StepRecord, reason: str | None, status: str | None = None
    ) -> dict[str, Any]:
        return {
            "execution_arn": self.execution.arn,
            "name": record.name,
            "attempt": record.attempt_count,
            "status": status or record.status,
            "ended": record.ended or time.time(),
            "failure_reason": reason,
            "metadata": json.dumps(record.metadata) if record.metadata else None,
        }
