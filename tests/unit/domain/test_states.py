"""domain/states.py: the execution and step state machines (docs/behaviour.md §4) and their status enums."""

from __future__ import annotations

import json

import botocore.session
import pytest

from sagepipe.domain.states import (
    ACTIVE_STEP,
    ENDED_STEP,
    EXECUTION_TRANSITIONS,
    RETRYABLE_EXECUTION,
    RUNNING_EXECUTION,
    STEP_TRANSITIONS,
    ExecutionStatus,
    IllegalTransition,
    StepStatus,
    check_execution,
    check_step,
)

E, S = ExecutionStatus, StepStatus

EXECUTION_EDGES = [(a, b) for a, targets in EXECUTION_TRANSITIONS.items() for b in targets]
STEP_EDGES = [(a, b) for a, targets in STEP_TRANSITIONS.items() for b in targets]


def _model_enum(shape: str) -> list[str]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return list(model.shape_for(shape).enum)


# ------------------------------------------------------------------------------------ enums
def test_execution_status_is_the_api_enum() -> None:
    assert [s.value for s in ExecutionStatus] == _model_enum("PipelineExecutionStatus")


def test_step_status_is_part_of_the_api_enum() -> None:
    # The model may name step statuses sagepipe never reports (botocore 1.44.8 names none
    # beyond ours); every status sagepipe reports must be one the API knows.
    model = set(_model_enum("StepStatus"))
    ours = {s.value for s in StepStatus}
    assert ours <= model, f"not in the API: {sorted(ours - model)}"


@pytest.mark.parametrize("status", [*ExecutionStatus, *StepStatus])
def test_a_status_is_its_wire_string(status: ExecutionStatus | StepStatus) -> None:
    assert status == status.value and hash(status) == hash(status.value)
    assert f"{status}" == str(status) == status.value
    assert json.dumps(status) == json.dumps(status.value)
    assert json.dumps({status: [status]}) == json.dumps({status.value: [status.value]})


def test_the_sets_hold_enum_members() -> None:
    assert {"Executing", "Stopping"} == RUNNING_EXECUTION
    assert RETRYABLE_EXECUTION == (E.FAILED, E.STOPPED, E.COMPLETED_WITH_FAILURES)
    assert ", ".join(RETRYABLE_EXECUTION) == "Failed, Stopped, CompletedWithFailures"
    assert {"Starting", "Executing", "Stopping"} == ACTIVE_STEP
    assert {"Succeeded", "Failed", "Stopped"} == ENDED_STEP
    for status_set in (RUNNING_EXECUTION, RETRYABLE_EXECUTION):
        assert all(type(s) is ExecutionStatus for s in status_set)
    for status_set in (ACTIVE_STEP, ENDED_STEP):
        assert all(type(s) is StepStatus for s in status_set)


def test_every_status_has_a_row() -> None:
    assert set(EXECUTION_TRANSITIONS) == {None, *ExecutionStatus}
    assert set(STEP_TRANSITIONS) == {None, *StepStatus}


# ------------------------------------------------------------------------------ transitions
@pytest.mark.parametrize(("from_status", "to_status"), EXECUTION_EDGES)
def test_every_execution_edge_is_accepted(from_status: E | None, to_status: E) -> None:
    check_execution(from_status, to_status)
    # Rows read back hold plain strings.
    check_execution(None if from_status is None else from_status.value, to_status.value)


@pytest.mark.parametrize(("from_status", "to_status"), STEP_EDGES)
def test_every_step_edge_is_accepted(from_status: S | None, to_status: S) -> None:
    check_step(from_status, to_status)
    check_step(None if from_status is None else from_status.value, to_status.value)


def test_an_execution_is_created_executing() -> None:
    check_execution(None, E.EXECUTING)


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [
        (E.SUCCEEDED, E.EXECUTING),  # a succeeded execution cannot be retried
        (E.STOPPED, E.STOPPING),  # nor a stopped one stopped
        (E.FAILED, E.STOPPING),
        (E.STOPPING, E.EXECUTING),  # a retry waits for the stop to end
        (E.STOPPING, E.FAILED),
        (E.EXECUTING, E.EXECUTING),
        (E.EXECUTING, E.STOPPED),  # a stop goes through Stopping
        (None, E.SUCCEEDED),
        (None, E.STOPPING),
        (E.EXECUTING, None),
        ("Running", E.STOPPING),  # not a status
        (E.EXECUTING, "Stopped "),
    ],
)
def test_illegal_execution_transitions_are_refused(from_status: str | None, to_status: str) -> None:
    with pytest.raises(IllegalTransition, match=f"execution {from_status} -> {to_status}"):
        check_execution(from_status, to_status)


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [
        (None, S.SUCCEEDED),  # a step starts before it ends
        (None, S.EXECUTING),
        (S.SUCCEEDED, S.STARTING),  # succeeded steps are reused, never re-run
        (S.SUCCEEDED, S.FAILED),
        (S.STOPPED, S.STOPPING),
        (S.STOPPED, S.EXECUTING),  # a retry starts it again from Starting
        (S.FAILED, S.SUCCEEDED),
        (S.STOPPING, S.EXECUTING),
        (S.STARTING, S.STARTING),
        (S.STARTING, S.STOPPED),
        ("CompletedWithFailures", S.STARTING),  # an execution status, not a step's
    ],
)
def test_illegal_step_transitions_are_refused(from_status: str | None, to_status: str) -> None:
    with pytest.raises(IllegalTransition, match=f"step {from_status} -> {to_status}"):
        check_step(from_status, to_status)


def test_ended_executions_leave_only_by_a_retry() -> None:
    for status in ExecutionStatus:
        if status not in RUNNING_EXECUTION:
            assert EXECUTION_TRANSITIONS[status] == (
                {E.EXECUTING} if status in RETRYABLE_EXECUTION else set()
            )
