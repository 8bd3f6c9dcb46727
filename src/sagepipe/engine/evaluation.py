"""What a step's expressions can see (docs/behaviour.md §7): parameters, execution variables, and the
recorded results of upstream steps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from sagepipe.domain.definition import Definition
from sagepipe.domain.expressions import ExpressionError
from sagepipe.domain.records import ExecutionRecord, StepRecord
from sagepipe.domain.states import StepStatus
from sagepipe.engine.step_properties import properties_of


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _ExecutionVariables(Mapping[str, object]):
    """Execution.* values; the two timestamps are formatted only when an expression reads
    them (most steps never do, and formatting them is a fair part of starting a step)."""

    def __init__(self, values: dict[str, object], times: dict[str, float]) -> None:
        self._values, self._times = values, times

    def __getitem__(self, name: str) -> object:
        if name in self._times:
            return _iso(self._times[name])
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values or name in self._times

    def __iter__(self) -> Iterator[str]:
        yield from self._values
        yield from self._times

    def __len__(self) -> int:
        return len(self._values) + len(self._times)


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
        self._execution = execution
        self._steps = steps
        self._definition = definition
        self.property_file_owner = definition.property_file_owner
        # JSON documents read from the object store for Std:JsonGet (engine/documents.py).
        self.documents: dict[str, object] = {}
        self.problems: dict[str, str] = {}  # URI -> why it could not be read
        self.execution_vars: Mapping[str, object] = _ExecutionVariables(
            {
                "PipelineName": execution.pipeline_name,
                "PipelineArn": execution.pipeline_arn,
                "PipelineExecutionId": execution.exec_id,
                "PipelineExecutionArn": execution.arn,
                "TrainingJobName": job_name or "",
                "ProcessingJobName": job_name or "",
            },
            {"StartDateTime": execution.created, "CurrentDateTime": now},
        )

    def _succeeded(self, step: str) -> StepRecord | None:
        record = self._steps.get(step)
        return record if record is not None and record.status == StepStatus.SUCCEEDED else None

    def step_properties(self, step: str) -> Mapping[str, Any] | None:
        record = self._succeeded(step)
        return properties_of(record, self._execution) if record else None

    def step_outcome(self, step: str) -> bool | None:
        record = self._succeeded(step)
        return record.outcome if record else None

    def property_file(self, step: str, file_name: str) -> object | None:
        """A simulated job's document (from fault rules), else the one its output holds."""
        record = self._succeeded(step)
        files = (record.job or {}).get("property_files") if record else None
        if isinstance(files, dict) and file_name in files:
            return files[file_name]
        uri = self.property_file_uri(step, file_name)
        if uri in self.problems:
            raise ExpressionError(
                f"Property file '{file_name}' of step '{step}': {self.problems[uri]}"
            )
        return self.documents.get(uri) if uri else None

    def property_file_uri(self, step: str, file_name: str) -> str | None:
        """Where a succeeded step's PropertyFile is: `<its output's S3Uri>/<FilePath>`."""
        declared = self._definition.steps[step].property_files.get(file_name) if (
            step in self._definition.steps
        ) else None  # fmt: skip
        properties = self.step_properties(step)
        if not declared or not properties:
            return None
        outputs = (properties.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        for output in outputs:
            if isinstance(output, dict) and output.get("OutputName") == declared["OutputName"]:
                base = str((output.get("S3Output") or {}).get("S3Uri") or "").rstrip("/")
                return f"{base}/{str(declared.get('FilePath') or '').lstrip('/')}"
        return None

    def read_s3_json(self, uri: str) -> object:
        if uri not in self.documents:
            raise ExpressionError(
                self.problems.get(uri, f"The JSON document {uri} could not be read.")
            )
        return self.documents[uri]
