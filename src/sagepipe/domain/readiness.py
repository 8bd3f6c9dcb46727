"""Which steps may start, and how an execution ends: pure functions of the definition and the
step records (docs/behaviour.md §4, §5, §7).

A step's record from an earlier manual retry that Failed or was Stopped counts as not run:
that is what makes RetryPipelineExecution re-run exactly what failed or never ran."""

from __future__ import annotations

from collections.abc import Mapping

from sagepipe.domain.definition import Definition, StepSpec
from sagepipe.domain.records import StepRecord
from sagepipe.domain.states import ExecutionStatus, StepStatus

GENERIC_FAILURE = "Step failure: One or multiple steps failed."


def settled_status(record: StepRecord | None, current_retry: int) -> str | None:
    """The step's status as this run sees it; None while it has not run in this run."""
    if record is None:
        return None
    if (
        record.status in (StepStatus.FAILED, StepStatus.STOPPED)
        and record.manual_retry < current_retry
    ):
        return None
    return record.status


def _trigger_met(status: str | None, trigger: str) -> bool:
    # `trigger` is a DependsOn Trigger (definition.TRIGGERS), not a status.
    if trigger == "Failed":
        return status == StepStatus.FAILED
    if trigger == "Completed":
        return status in (StepStatus.SUCCEEDED, StepStatus.FAILED)
    return status == StepStatus.SUCCEEDED


def may_start(spec: StepSpec, steps: Mapping[str, StepRecord], current_retry: int) -> bool:
    if settled_status(steps.get(spec.name), current_retry) is not None:
        return False
    if spec.branch is not None:
        condition = steps.get(spec.branch[0])
        if condition is None or condition.status != StepStatus.SUCCEEDED:
            return False
        if condition.outcome != spec.branch[1]:
            return False
    triggers = dict(spec.run_conditions)
    for upstream in spec.upstream:
        status = settled_status(steps.get(upstream), current_retry)
        if not _trigger_met(status, triggers.get(upstream, "Succeeded")):
            return False
    return True


def handled_failures(definition: Definition) -> frozenset[str]:
    """Steps whose failure some other step waits for (a v3 Failed/Completed run condition)."""
    return frozenset(
        upstream
        for spec in definition.steps.values()
        for upstream, trigger in spec.run_conditions
        if trigger in ("Failed", "Completed")
    )


def blocking_failures(
    definition: Definition, steps: Mapping[str, StepRecord], current_retry: int
) -> list[str]:
    """Steps failed for good in this run whose failure nothing handles: they stop new starts."""
    handled = handled_failures(definition)
    return [
        name
        for name, record in steps.items()
        if settled_status(record, current_retry) == StepStatus.FAILED and name not in handled
    ]


def final_status(
    definition: Definition, steps: Mapping[str, StepRecord], current_retry: int
) -> tuple[ExecutionStatus, str | None]:
    """How an execution with nothing left to run ends: status and FailureReason."""
    blocking = blocking_failures(definition, steps, current_retry)
    if blocking:
        for name in blocking:
            if definition.steps[name].type == "Fail":
                return ExecutionStatus.FAILED, steps[name].failure_reason or ""
        return ExecutionStatus.FAILED, GENERIC_FAILURE
    if any(settled_status(r, current_retry) == StepStatus.FAILED for r in steps.values()):
        return ExecutionStatus.COMPLETED_WITH_FAILURES, None
    return ExecutionStatus.SUCCEEDED, None


def retry_plan(
    definition: Definition,
    steps: Mapping[str, StepRecord],
    selected: frozenset[str] | None = None,
) -> tuple[list[str], list[str]]:
    """(re-run, reuse) for a manual retry, in topological order.

    Succeeded steps are reused. Failed, stopped and never-started steps run again, except
    those that cannot run whatever happens: in a branch a Condition already decided against,
    outside a selective execution's `selected` steps, waiting (run condition) for a reused
    upstream to end in a way it has already not ended, or downstream of such a step. A step
    whose Condition or run-condition upstream runs again is listed: it runs if they decide so."""
    rerun: list[str] = []
    reuse: list[str] = []
    reused: set[str] = set()
    skipped: set[str] = set()
    for name in definition.topological_order():
        spec = definition.steps[name]
        record = steps.get(name)
        if record is not None and record.status == StepStatus.SUCCEEDED:
            reuse.append(name)
            reused.add(name)
            continue
        if selected is not None and name not in selected:
            skipped.add(name)
            continue
        if spec.branch is not None:
            condition = steps.get(spec.branch[0])
            decided = condition is not None and condition.status == StepStatus.SUCCEEDED
            if decided and condition.outcome != spec.branch[1]:  # type: ignore[union-attr]
                skipped.add(name)
                continue
        triggers = dict(spec.run_conditions)
        if any(
            upstream in skipped
            or (
                upstream in reused
                and not _trigger_met(StepStatus.SUCCEEDED, triggers.get(upstream, "Succeeded"))
            )
            for upstream in spec.upstream
        ):
            skipped.add(name)
            continue
        rerun.append(name)
    return rerun, reuse
