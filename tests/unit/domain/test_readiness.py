"""engine/readiness.py: which steps may start, how an execution ends, and what a manual retry
re-runs (docs/behaviour.md §4, §5, §7), from parsed definitions and hand-made step records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sagepipe.domain.definition import Definition, parse_definition
from sagepipe.domain.readiness import (
    GENERIC_FAILURE,
    blocking_failures,
    final_status,
    handled_failures,
    may_start,
    retry_plan,
    settled_status,
)
from sagepipe.domain.records import StepRecord
from sagepipe.engine.batch import Batch, Indexes


# ---------------------------------------------------------------------------------- builders
def step(name: str, *depends_on: Any, kind: str = "Processing", **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"Name": name, "Type": kind, "Arguments": {}}
    if depends_on:
        raw["DependsOn"] = list(depends_on)
    raw.update(extra)
    return raw


def on(upstream: str, trigger: str) -> dict[str, str]:
    """A v3 run condition: run when `upstream` ends `trigger`."""
    return {"Step": upstream, "Trigger": trigger}


def fail_step(name: str, *depends_on: str, message: str = "stop here") -> dict[str, Any]:
    return step(name, *depends_on, kind="Fail", Arguments={"ErrorMessage": message})


def condition(name: str, if_steps: list[Any], else_steps: list[Any], *depends_on: str) -> dict:
    arguments = {
        "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}],
        "IfSteps": if_steps,
        "ElseSteps": else_steps,
    }
    return step(name, *depends_on, kind="Condition", Arguments=arguments)


def pipeline(*steps: dict[str, Any]) -> Definition:
    return parse_definition(json.dumps({"Version": "2020-12-01", "Steps": list(steps)}))


def rec(
    name: str,
    status: str,
    retry: int = 0,
    attempt: int = 1,
    *,
    kind: str = "Processing",
    outcome: bool | None = None,
    reason: str | None = None,
    next_run_at: float | None = None,
) -> StepRecord:
    return StepRecord(
        name=name,
        step_type=kind,
        status=status,
        attempt_count=attempt,
        manual_retry=retry,
        run_attempts=1,
        first_start=0.0,
        started=0.0,
        ended=None if status in ("Starting", "Executing", "Stopping") else 1.0,
        next_run_at=next_run_at,
        failure_reason=reason,
        outcome=outcome,
    )


def records(*items: StepRecord) -> dict[str, StepRecord]:
    return {r.name: r for r in items}


def startable(definition: Definition, steps: dict[str, StepRecord], retry: int = 0) -> list[str]:
    return [n for n, spec in definition.steps.items() if may_start(spec, steps, retry)]


DIAMOND = pipeline(
    step("A"),
    step("B", "A"),
    step("C", "A"),
    step("D", "B", "C"),
    step("E", "D"),
    step("F", "D"),
)


# ---------------------------------------------------------------------------- settled_status
def test_settled_status_of_a_step_that_never_ran_is_none():
    assert settled_status(None, 0) is None
    assert settled_status(None, 3) is None


@pytest.mark.parametrize("status", ["Starting", "Executing", "Stopping", "Succeeded"])
def test_settled_status_keeps_running_and_succeeded_steps_of_any_run(status):
    assert settled_status(rec("A", status, retry=0), 0) == status
    assert settled_status(rec("A", status, retry=0), 2) == status


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_failed_and_stopped_steps_of_an_earlier_run_count_as_not_run(status):
    assert settled_status(rec("A", status, retry=0), 0) == status  # this run: settled
    assert settled_status(rec("A", status, retry=0), 1) is None  # a later retry: not run
    assert settled_status(rec("A", status, retry=1), 1) == status
    assert settled_status(rec("A", status, retry=1), 2) is None


# ---------------------------------------------------------------------------------- may_start
def test_roots_start_first_then_dependents_once_all_upstreams_succeeded():
    assert startable(DIAMOND, {}) == ["A"]
    assert startable(DIAMOND, records(rec("A", "Executing"))) == []
    assert startable(DIAMOND, records(rec("A", "Succeeded"))) == ["B", "C"]
    both = records(rec("A", "Succeeded"), rec("B", "Succeeded"), rec("C", "Executing"))
    assert startable(DIAMOND, both) == []
    both["C"] = rec("C", "Succeeded")
    assert startable(DIAMOND, both) == ["D"]


def test_a_step_that_started_in_this_run_never_starts_again():
    steps = records(rec("A", "Succeeded"), rec("B", "Failed"), rec("C", "Stopped"))
    assert startable(DIAMOND, steps, retry=0) == []


def test_after_a_manual_retry_failed_and_stopped_steps_start_again():
    steps = records(rec("A", "Succeeded"), rec("B", "Failed"), rec("C", "Stopped"))
    assert startable(DIAMOND, steps, retry=1) == ["B", "C"]
    # D waits for the new attempts, not for the old failures.
    steps["B"] = rec("B", "Succeeded", retry=1, attempt=2)
    assert startable(DIAMOND, steps, retry=1) == ["C"]
    steps["C"] = rec("C", "Succeeded", retry=1, attempt=2)
    assert startable(DIAMOND, steps, retry=1) == ["D"]


def test_a_failure_of_an_earlier_run_does_not_satisfy_a_downstream_step():
    chain = pipeline(step("A"), step("B", "A"))
    assert startable(chain, records(rec("A", "Failed")), retry=1) == ["A"]


def test_references_are_dependencies_too():
    ref = {"Get": "Steps.A.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"}
    definition = pipeline(step("A"), step("B", Arguments={"Input": ref}))
    assert definition.steps["B"].upstream == ("A",)
    assert startable(definition, {}) == ["A"]
    assert startable(definition, records(rec("A", "Succeeded"))) == ["B"]


BRANCHED = pipeline(
    step("Pre"),
    condition("Check", [step("Yes"), step("YesAfter", "Yes")], [step("No")], "Pre"),
)


def test_branch_steps_wait_for_their_condition_and_its_outcome():
    assert startable(BRANCHED, {}) == ["Pre"]
    assert startable(BRANCHED, records(rec("Pre", "Succeeded"))) == ["Check"]
    taken_true = records(
        rec("Pre", "Succeeded"), rec("Check", "Succeeded", kind="Condition", outcome=True)
    )
    assert startable(BRANCHED, taken_true) == ["Yes"]
    taken_false = records(
        rec("Pre", "Succeeded"), rec("Check", "Succeeded", kind="Condition", outcome=False)
    )
    assert startable(BRANCHED, taken_false) == ["No"]


def test_a_failed_condition_starts_neither_branch():
    steps = records(rec("Pre", "Succeeded"), rec("Check", "Failed", kind="Condition"))
    assert startable(BRANCHED, steps) == []
    # ... until a retry evaluates it again.
    assert startable(BRANCHED, steps, retry=1) == ["Check"]


def test_a_taken_branch_stays_taken_after_a_retry():
    steps = records(
        rec("Pre", "Succeeded"),
        rec("Check", "Succeeded", kind="Condition", outcome=True),
        rec("Yes", "Failed"),
    )
    assert startable(BRANCHED, steps, retry=1) == ["Yes"]


RUN_CONDITIONS = pipeline(
    step("A"),
    step("OnFail", on("A", "Failed")),
    step("OnDone", on("A", "Completed")),
    step("OnSuccess", on("A", "Succeeded")),
    step("Plain", "A"),
)


@pytest.mark.parametrize(
    ("a_status", "expected"),
    [
        ("Executing", []),
        ("Succeeded", ["OnDone", "OnSuccess", "Plain"]),
        ("Failed", ["OnFail", "OnDone"]),
        ("Stopped", []),
    ],
)
def test_run_condition_triggers(a_status, expected):
    assert startable(RUN_CONDITIONS, records(rec("A", a_status))) == expected


def test_run_conditions_look_at_this_runs_outcome_only():
    # A failed in the original run; after a retry it runs again, so nothing waiting for its
    # failure starts on the old one.
    assert startable(RUN_CONDITIONS, records(rec("A", "Failed")), retry=1) == ["A"]
    again = records(rec("A", "Failed", retry=1, attempt=2))
    assert startable(RUN_CONDITIONS, again, retry=1) == ["OnFail", "OnDone"]


# ------------------------------------------------------------- failures, slots, final status
def test_handled_failures_are_those_a_run_condition_waits_for():
    assert handled_failures(RUN_CONDITIONS) == frozenset({"A"})
    assert handled_failures(DIAMOND) == frozenset()


def test_blocking_failures_are_unhandled_failures_of_this_run():
    steps = records(rec("A", "Succeeded"), rec("B", "Failed"), rec("C", "Failed", retry=0))
    assert sorted(blocking_failures(DIAMOND, steps, 0)) == ["B", "C"]
    assert blocking_failures(DIAMOND, steps, 1) == []
    assert blocking_failures(RUN_CONDITIONS, records(rec("A", "Failed")), 0) == []


def test_a_step_waiting_out_a_retry_back_off_holds_no_parallelism_slot():
    steps = records(
        rec("A", "Executing"),
        rec("B", "Starting"),
        rec("C", "Executing", next_run_at=10.0),
        rec("D", "Succeeded"),
        rec("E", "Stopping"),
    )
    index = Indexes()
    for record in steps.values():
        index.track(record, 0)
    assert Batch(steps, index, 0, {}).running_count() == 3


def test_final_status_succeeded():
    steps = records(*(rec(n, "Succeeded") for n in "ABCDEF"))
    assert final_status(DIAMOND, steps, 0) == ("Succeeded", None)


def test_final_status_failed_with_the_generic_reason():
    steps = records(rec("A", "Succeeded"), rec("B", "Succeeded"), rec("C", "Failed"))
    assert final_status(DIAMOND, steps, 0) == ("Failed", GENERIC_FAILURE)
    assert GENERIC_FAILURE == "Step failure: One or multiple steps failed."


def test_final_status_of_a_fail_step_is_its_message():
    definition = pipeline(step("A"), fail_step("Stop", "A"))
    steps = records(
        rec("A", "Succeeded"), rec("Stop", "Failed", kind="Fail", reason="bad data: 0.2 < 0.5")
    )
    assert final_status(definition, steps, 0) == ("Failed", "bad data: 0.2 < 0.5")


def test_final_status_completed_with_failures_when_every_failure_was_handled():
    steps = records(rec("A", "Failed"), rec("OnFail", "Succeeded"), rec("OnDone", "Succeeded"))
    assert final_status(RUN_CONDITIONS, steps, 0) == ("CompletedWithFailures", None)


def test_final_status_after_a_retry_ignores_the_earlier_runs_failures():
    steps = records(
        rec("A", "Succeeded"),
        rec("B", "Succeeded"),
        rec("C", "Succeeded", retry=1, attempt=2),
        *(rec(n, "Succeeded", retry=1) for n in "DEF"),
    )
    assert final_status(DIAMOND, steps, 1) == ("Succeeded", None)
    # A failure of the earlier run that this run did not redo does not count either.
    steps["E"] = rec("E", "Stopped", retry=0)
    assert final_status(DIAMOND, steps, 1) == ("Succeeded", None)


# -------------------------------------------------------------------------------- retry_plan
def test_retry_plan_reruns_the_failed_step_and_what_never_started():
    steps = records(rec("A", "Succeeded"), rec("B", "Succeeded"), rec("C", "Failed"))
    assert retry_plan(DIAMOND, steps) == (["C", "D", "E", "F"], ["A", "B"])


def test_retry_plan_of_a_stopped_execution():
    steps = records(rec("A", "Succeeded"), rec("B", "Stopped"), rec("C", "Succeeded"))
    assert retry_plan(DIAMOND, steps) == (["B", "D", "E", "F"], ["A", "C"])


def test_retry_plan_lists_in_topological_order():
    definition = pipeline(step("Late", "Early"), step("Early"))
    assert retry_plan(definition, {}) == (["Early", "Late"], [])


def test_retry_plan_keeps_a_decided_condition_and_skips_the_branch_not_taken():
    steps = records(
        rec("Pre", "Succeeded"),
        rec("Check", "Succeeded", kind="Condition", outcome=True),
        rec("Yes", "Failed"),
    )
    assert retry_plan(BRANCHED, steps) == (["Yes", "YesAfter"], ["Pre", "Check"])
    steps["Check"] = rec("Check", "Succeeded", kind="Condition", outcome=False)
    steps.pop("Yes")
    steps["No"] = rec("No", "Stopped")
    assert retry_plan(BRANCHED, steps) == (["No"], ["Pre", "Check"])


def test_retry_plan_skips_what_depends_on_a_branch_not_taken():
    definition = pipeline(
        condition("Check", [step("Yes")], [step("No")]),
        step("AfterNo", "No"),
        step("AfterBoth", "Yes", "No"),
    )
    steps = records(rec("Check", "Succeeded", kind="Condition", outcome=True), rec("Yes", "Failed"))
    assert retry_plan(definition, steps) == (["Yes"], ["Check"])


def test_retry_plan_lists_both_branches_of_a_condition_that_runs_again():
    steps = records(rec("Pre", "Succeeded"), rec("Check", "Failed", kind="Condition"))
    rerun, reuse = retry_plan(BRANCHED, steps)
    assert rerun == ["Check", "Yes", "YesAfter", "No"]
    assert reuse == ["Pre"]


def test_retry_plan_skips_run_conditions_a_reused_upstream_cannot_meet():
    definition = pipeline(
        step("A"),
        step("OnFail", on("A", "Failed")),
        step("AfterOnFail", "OnFail"),
        step("OnDone", on("A", "Completed")),
        step("B"),
    )
    steps = records(rec("A", "Succeeded"), rec("OnDone", "Succeeded"), rec("B", "Failed"))
    assert retry_plan(definition, steps) == (["B"], ["A", "OnDone"])
    # Whatever the engine would start agrees: OnFail can never start.
    after = records(rec("A", "Succeeded"), rec("OnDone", "Succeeded"), rec("B", "Failed"))
    assert startable(definition, after, retry=1) == ["B"]


def test_retry_plan_lists_run_conditions_on_an_upstream_that_runs_again():
    steps = records(rec("A", "Failed"), rec("OnFail", "Succeeded"), rec("OnDone", "Succeeded"))
    assert retry_plan(RUN_CONDITIONS, steps) == (
        ["A", "OnSuccess", "Plain"],
        ["OnFail", "OnDone"],
    )


def test_retry_plan_of_a_selective_execution_stays_within_the_selection():
    # C and D selected; A and B reused from the reference execution; E and F never run.
    steps = records(rec("A", "Succeeded"), rec("B", "Succeeded"), rec("C", "Failed"))
    rerun, reuse = retry_plan(DIAMOND, steps, selected=frozenset({"C", "D"}))
    assert (rerun, reuse) == (["C", "D"], ["A", "B"])
    assert retry_plan(DIAMOND, steps) == (["C", "D", "E", "F"], ["A", "B"])


def test_retry_plan_matches_what_the_engine_then_starts_first():
    """Every step the engine can start right after the retry is in the plan's re-run list."""
    steps = records(rec("A", "Succeeded"), rec("B", "Succeeded"), rec("C", "Failed"))
    rerun, reuse = retry_plan(DIAMOND, steps)
    first = startable(DIAMOND, steps, retry=1)
    assert first == ["C"]
    assert set(first) <= set(rerun)
    assert not set(rerun) & set(reuse)
    assert set(rerun) | set(reuse) == set(DIAMOND.steps)
