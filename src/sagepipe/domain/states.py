"""The state machines of docs/behaviour.md §4, written down once. Every status change in the engine and
the providers is checked against these tables before it is stored.

The statuses are StrEnums whose values are the wire strings: a member equals its string, hashes
like it and serializes (json.dumps, SQL parameters) as it, so stored rows, JSON and code that
still compares plain strings keep working."""

from __future__ import annotations

import enum
from typing import TypeVar


class ExecutionStatus(enum.StrEnum):
    """PipelineExecutionStatus."""

    EXECUTING = "Executing"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"
    COMPLETED_WITH_FAILURES = "CompletedWithFailures"


class StepStatus(enum.StrEnum):
    """StepStatus (the subset of the API's values that sagepipe uses)."""

    STARTING = "Starting"
    EXECUTING = "Executing"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"


_E = ExecutionStatus
_S = StepStatus

EXECUTION_TRANSITIONS: dict[ExecutionStatus | None, frozenset[ExecutionStatus]] = {
    # StartPipelineExecution creates an execution Executing.
    None: frozenset({_E.EXECUTING}),
    _E.EXECUTING: frozenset({_E.SUCCEEDED, _E.FAILED, _E.COMPLETED_WITH_FAILURES, _E.STOPPING}),
    _E.STOPPING: frozenset({_E.STOPPED}),
    # Only RetryPipelineExecution leaves these.
    _E.FAILED: frozenset({_E.EXECUTING}),
    _E.STOPPED: frozenset({_E.EXECUTING}),
    _E.COMPLETED_WITH_FAILURES: frozenset({_E.EXECUTING}),
    _E.SUCCEEDED: frozenset(),
}
RUNNING_EXECUTION = frozenset({_E.EXECUTING, _E.STOPPING})
# A tuple: its order is the order error messages name them in.
RETRYABLE_EXECUTION = (_E.FAILED, _E.STOPPED, _E.COMPLETED_WITH_FAILURES)

STEP_TRANSITIONS: dict[StepStatus | None, frozenset[StepStatus]] = {
    None: frozenset({_S.STARTING}),
    _S.STARTING: frozenset({_S.EXECUTING, _S.FAILED, _S.SUCCEEDED, _S.STOPPING}),
    # Executing -> Executing: an automatic retry starts the next attempt in place.
    _S.EXECUTING: frozenset({_S.EXECUTING, _S.SUCCEEDED, _S.FAILED, _S.STOPPING}),
    _S.STOPPING: frozenset({_S.STOPPED, _S.SUCCEEDED, _S.FAILED}),
    # A manual retry starts failed and stopped steps again.
    _S.FAILED: frozenset({_S.STARTING}),
    _S.STOPPED: frozenset({_S.STARTING}),
    _S.SUCCEEDED: frozenset(),
}
ACTIVE_STEP = frozenset({_S.STARTING, _S.EXECUTING, _S.STOPPING})
# Ended, for now: only a manual retry starts a Failed or Stopped step again.
ENDED_STEP = frozenset({_S.SUCCEEDED, _S.FAILED, _S.STOPPED})


class IllegalTransition(Exception):
    pass


def check_execution(from_status: str | None, to_status: str) -> None:
    """Raise IllegalTransition unless an execution may go from `from_status` (None: it does not
    exist yet) to `to_status`. Plain strings are accepted: rows read back hold them."""
    if to_status not in _allowed(EXECUTION_TRANSITIONS, ExecutionStatus, from_status):
        raise IllegalTransition(f"execution {from_status} -> {to_status}")


def check_step(from_status: str | None, to_status: str) -> None:
    """As check_execution, for a step (None: it has not started in this execution)."""
    if to_status not in _allowed(STEP_TRANSITIONS, StepStatus, from_status):
        raise IllegalTransition(f"step {from_status} -> {to_status}")


_Status = TypeVar("_Status", ExecutionStatus, StepStatus)


def _allowed(
    table: dict[_Status | None, frozenset[_Status]], kind: type[_Status], from_status: str | None
) -> frozenset[_Status]:
    try:
        key = None if from_status is None else kind(from_status)
    except ValueError:  # not a status at all: nothing may follow it
        return frozenset()
    return table.get(key, frozenset())
