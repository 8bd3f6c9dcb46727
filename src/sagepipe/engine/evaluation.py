"""What a step's expressions can see (SPEC §7): parameters, execution variables, and the
recorded results of upstream steps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sagepipe.domain.definition import Definition
from sagepipe.engine.records import ExecutionRecord, StepRecord


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class StepContext:
    def __init__(
        self,
        execution: ExecutionRecord,
        definition: Definition,
        steps: Mapping[str, StepRecord],
        now: float,
        job_name: str | None = None,
    ) -> None:
        self.parameters: Mapping[str, object] = execution.parameters
        self._steps = steps
        self.property_file_owner = definition.property_file_owner
        self.execution_vars: Mapping[str, object] = {
            "StartDateTime": _iso(execution.created),
            "CurrentDateTime": _iso(now),
            "PipelineName": execution.pipeline_name,
            "PipelineArn": execution.pipeline_arn,
            "PipelineExecutionId": execution.exec_id,
            "PipelineExecutionArn": execution.arn,
            "TrainingJobName": job_name or "",
            "ProcessingJobName": job_name or "",
        }

    def _succeeded(self, step: str) -> StepRecord | None:
        record = self._steps.get(step)
        return record if record is not None and record.status == "Succeeded" else None

    def step_properties(self, step: str) -> Mapping[str, Any] | None:
        record = self._succeeded(step)
        return record.properties if record else None

    def step_outcome(self, step: str) -> bool | None:
        record = self._succeeded(step)
        return record.outcome if record else None

    def property_file(self, step: str, file_name: str) -> object | None:
        record = self._succeeded(step)
        files = (record.job or {}).get("property_files") if record else None
        return files.get(file_name) if isinstance(files, dict) else None
