"""Execution engine across server restarts (docs/behaviour.md §4, §8): every transition is durable, and a
restarted server re-attaches to the jobs that were running instead of starting them again.

Both a clean shutdown (SIGTERM) and a crash (SIGKILL) are covered on both backends. With
PostgreSQL a crashed server's executions are taken over when its lease expires, so the crash
variant runs with a short lease."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.pipelines import create, processing, steps_by_name
from tests.support.server import ServerProcess
from tests.support.steps import attempts_of, callback, poll, statuses, wait_done, wait_step

LONG = 3.0  # seconds the long-running job takes


@pytest.fixture
def restartable(request: pytest.FixtureRequest, server_args: list[str]) -> Iterator[ServerProcess]:
    """A server for the test's `crash` variant. A clean shutdown hands its executions over
    at once, so only the crash variant needs a short lease."""
    crash = request.node.callspec.params["crash"]
    process = ServerProcess(server_args, ["--lease-seconds", "1"] if crash else [])
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
def test_restart_mid_execution_reattaches_to_running_jobs(restartable, name, crash):
    server = restartable
    sm = server.client()
    server.set_faults(
        [
            {"pipeline": name + "-run", "step": "Long", "duration_seconds": LONG},
            {"pipeline": name + "-run", "step": "Short", "duration_seconds": 0.3},
            {"pipeline": name + "-stop", "step": "Job", "duration_seconds": 30},
        ]
    )
    # One execution runs a long job; a step waits for it.
    create(
        sm, name + "-run", [processing("Long"), processing("Short"), processing("After", ["Long"])]
    )
    running = sm.start_pipeline_execution(PipelineName=name + "-run")["PipelineExecutionArn"]
    # Another is Stopping: its Callback step waits for an answer to its stop notice.
    create(
        sm,
        name + "-stop",
        [callback("Wait", ["x"]), processing("Job"), processing("Never", ["Job"])],
    )
    stopping = sm.start_pipeline_execution(PipelineName=name + "-stop")["PipelineExecutionArn"]
    token = wait_step(sm, stopping, "Wait", ("Executing",))["Metadata"]["Callback"]["CallbackToken"]
    wait_step(sm, stopping, "Job", ("Executing",))
    sm.stop_pipeline_execution(PipelineExecutionArn=stopping)
    wait_step(sm, stopping, "Job", ("Stopped",))
    assert wait_step(sm, stopping, "Wait", ("Stopping",))["StepStatus"] == "Stopping"

    before = wait_step(sm, running, "Long", ("Executing",))
    wait_step(sm, running, "Short", ("Succeeded",))
    planned_end = before["StartTime"].timestamp() + LONG
    server.restart(crash=crash)
    restarted_at = time.time()
    assert restarted_at < planned_end - 0.5, (
        "the restart took too long for this test to mean anything"
    )
    sm = server.client()

    # The Stopping execution is still waiting for its Callback step's answer.
    assert (
        sm.describe_pipeline_execution(PipelineExecutionArn=stopping)["PipelineExecutionStatus"]
        == "Stopping"
    )
    # The running job is the same job: same attempt, same job ARN; it was not started again.
    during = steps_by_name(sm, running)["Long"]
    assert during["StepStatus"] == "Executing"
    assert during["AttemptCount"] == 1
    assert during["Metadata"] == before["Metadata"]
    assert during["StartTime"] == before["StartTime"]

    described = wait_done(sm, running, timeout=15)
    assert described["PipelineExecutionStatus"] == "Succeeded"
    steps = steps_by_name(sm, running)
    long_step = steps["Long"]
    assert long_step["AttemptCount"] == 1 and long_step["Metadata"] == before["Metadata"]
    # It ended when it was planned to end, not a full duration after the restart.
    ended = long_step["EndTime"].timestamp()
    assert planned_end - 0.05 <= ended < planned_end + 1.0, ended - planned_end
    assert ended < restarted_at + LONG - 0.5
    assert len(attempts_of(server, running, "Long")) == 1
    assert steps["After"]["StepStatus"] == "Succeeded"
    assert steps["After"]["StartTime"] >= long_step["EndTime"]

    # Answering the stop notice ends the stopped execution.
    sm.send_pipeline_execution_step_failure(CallbackToken=token, FailureReason="stopped by test")
    assert wait_done(sm, stopping)["PipelineExecutionStatus"] == "Stopped"
    assert statuses(sm, stopping) == {"Wait": "Stopped", "Job": "Stopped"}


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
def test_restart_keeps_a_retry_back_off_and_a_stopped_execution(restartable, name, crash):
    server = restartable
    sm = server.client()
    policy = {"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 2,
              "MaxAttempts": 2}  # fmt: skip
    server.set_faults(
        [{"pipeline": name, "step": "Flaky", "fail_attempts": 1,
          "exception_type": "SageMaker.JOB_INTERNAL_ERROR"},
         {"pipeline": name, "step": "Slow", "duration_seconds": 20}]
    )  # fmt: skip
    create(sm, name, [processing("Flaky", RetryPolicies=[policy]), processing("Slow")])
    stopped = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    wait_step(sm, stopped, "Slow", ("Executing",))
    sm.stop_pipeline_execution(PipelineExecutionArn=stopped)
    assert wait_done(sm, stopped)["PipelineExecutionStatus"] == "Stopped"

    server.set_faults(
        [{"pipeline": name, "step": "Flaky", "fail_attempts": 1,
          "exception_type": "SageMaker.JOB_INTERNAL_ERROR"}]
    )  # fmt: skip
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    first = poll(
        "the first attempt of Flaky to fail",
        lambda: attempts_of(server, arn, "Flaky"),
        lambda tried: tried and tried[0]["status"] == "Failed",
    )[0]
    server.restart(crash=crash)
    sm = server.client()
    assert wait_done(sm, arn, timeout=15)["PipelineExecutionStatus"] == "Succeeded"
    tried = attempts_of(server, arn, "Flaky")
    assert [a["status"] for a in tried] == ["Failed", "Succeeded"]
    # The back-off survived the restart: the retry started IntervalSeconds after the failure.
    gap = tried[1]["start_time"] - first["end_time"]
    assert 1.9 <= gap <= 3.2, gap
    assert steps_by_name(sm, arn)["Flaky"]["AttemptCount"] == 2
    # The stopped execution stayed stopped.
    assert (
        sm.describe_pipeline_execution(PipelineExecutionArn=stopped)["PipelineExecutionStatus"]
        == "Stopped"
    )
    assert statuses(sm, stopped)["Slow"] == "Stopped"
