"""The state machines of docs/behaviour.md §4, written down once. Every status change in the engine and
the providers is checked against these tables before it is stored."""

from __future__ import annotations

EXECUTION_TRANSITIONS: dict[str, frozenset[str]] = {
    "Executing": frozenset({"Succeeded", "Failed", "CompletedWithFailures", "Stopping"}),
    "Stopping": frozenset({"Stopped"}),
    # Only RetryPipelineExecution leaves these.
    "Failed": frozenset({"Executing"}),
    "Stopped": frozenset({"Executing"}),
    "CompletedWithFailures": frozenset({"Executing"}),
    "Succeeded": frozenset(),
}
RUNNING_EXECUTION = frozenset({"Executing", "Stopping"})
RETRYABLE_EXECUTION = ("Failed", "Stopped", "CompletedWithFailures")

STEP_TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"Starting"}),
    "Starting": frozenset({"Executing", "Failed", "Succeeded", "Stopping"}),
    # Executing -> Executing: an automatic retry starts the next attempt in place.
    "Executing": frozenset({"Executing", "Succeeded", "Failed", "Stopping"}),
    "Stopping": frozenset({"Stopped", "Succeeded", "Failed"}),
    # A manual retry starts failed and stopped steps again.
    "Failed": frozenset({"Starting"}),
    "Stopped": frozenset({"Starting"}),
    "Succeeded": frozenset(),
}
ACTIVE_STEP = frozenset({"Starting", "Executing", "Stopping"})


class IllegalTransition(Exception):
    pass


def check_execution(from_status: str, to_status: str) -> None:
    if to_status not in EXECUTION_TRANSITIONS.get(from_status, frozenset()):
        raise IllegalTransition(f"execution {from_status} -> {to_status}")


def check_step(from_status: str | None, to_status: str) -> None:
    if to_status not in STEP_TRANSITIONS.get(from_status, frozenset()):
        raise IllegalTransition(f"step {from_status} -> {to_status}")
