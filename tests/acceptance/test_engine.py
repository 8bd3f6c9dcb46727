"""Execution engine: pipeline definitions really run (docs/behaviour.md §4, §7, §8).

Everything goes through boto3 against a real `sagepipe serve` on both backends; outcomes of
simulated jobs are steered with fault rules (docs/behaviour.md §9) and resolved values are read back from
the attempt history (`GET /_sagepipe/executions/<id>/attempts`)."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest

from tests.support.pipelines import create, processing, steps_by_name
from tests.support.steps import (
    arguments_of,
    attempts_of,
    callback,
    condition,
    execution_id,
    fail,
    get,
    join,
    lambda_step,
    model,
    poll,
    retry_policy,
    start,
    statuses,
    training,
    wait_done,
    wait_step,
)

PARAMETERS = [
    {"Name": "Mode", "Type": "String", "DefaultValue": "go"},
    {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5},
]
REPORT = {"PropertyFileName": "Report", "OutputName": "out", "FilePath": "report.json"}
ACCURACY = {
    "Std:JsonGet": {
        "PropertyFile": get("Steps.Prep.PropertyFiles.Report"),
        "Path": "metrics.accuracy",
    }
}


def mixed_pipeline() -> list[dict]:
    """Nine steps of six types: Prep -> Train, Lam -> Check -> (Model -> Approve -> Deploy |
    Halt -> AfterHalt)."""
    prep = processing("Prep", PropertyFiles=[REPORT])
    train = training(
        "Train", get("Steps.Prep.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri")
    )
    lam = lambda_step(
        "Lam", ["x"], {"input": join("/", "s3://bucket", get("Execution.PipelineExecutionId"))}
    )
    model_step = model(
        "Model",
        get("Steps.Train.ModelArtifacts.S3ModelArtifacts"),
        {"LAMBDA_X": get("Steps.Lam.OutputParameters['x']")},
    )
    approve = callback("Approve", ["approved"], {"model": get("Steps.Model.ModelName")})
    deploy = processing("Deploy")
    deploy["Arguments"]["Environment"] = {
        "APPROVED": get("Steps.Approve.OutputParameters['approved']"),
        "JOINED": join("-", get("Steps.Lam.OutputParameters['x']"), get("Parameters.Mode")),
        "ACCURACY": join("", ACCURACY),
    }
    halt = fail("Halt", join(" ", "Mode was", get("Parameters.Mode")))
    after_halt = processing("AfterHalt", ["Halt"])
    check = condition(
        "Check",
        [
            {"Type": "Equals", "LeftValue": get("Parameters.Mode"), "RightValue": "go"},
            {
                "Type": "GreaterThanOrEqualTo",
                "LeftValue": ACCURACY,
                "RightValue": get("Parameters.Threshold"),
            },
        ],  # fmt: skip
        [model_step, approve, deploy],
        [halt, after_halt],
        DependsOn=["Train", "Lam"],
    )
    return [prep, train, lam, check]


def mixed_faults(name: str) -> list[dict]:
    return [
        {"pipeline": name, "step": "Prep", "property_files": {"Report": {"metrics": {"accuracy": 0.93}}}},
        {"pipeline": name, "step": "Lam", "outputs": {"x": "hello"}},
        {"pipeline": name, "step": "Train", "duration_seconds": 0.2},
    ]  # fmt: skip


def test_mixed_pipeline_takes_the_if_branch_and_properties_flow(server, sm, name):
    server.set_faults(mixed_faults(name))
    create(sm, name, mixed_pipeline(), parameters=PARAMETERS)
    arn = start(sm, name, Mode="go")

    # The Callback step waits for its answer; its token is in the step's Metadata.
    approve = wait_step(sm, arn, "Approve", ("Executing",))
    token = approve["Metadata"]["Callback"]["CallbackToken"]
    assert statuses(sm, arn).get("Deploy") is None
    sm.send_pipeline_execution_step_success(
        CallbackToken=token, OutputParameters=[{"Name": "approved", "Value": "yes"}]
    )
    described = wait_done(sm, arn)
    assert described["PipelineExecutionStatus"] == "Succeeded", described
    assert "FailureReason" not in described

    steps = steps_by_name(sm, arn)
    assert {s: r["StepStatus"] for s, r in steps.items()} == dict.fromkeys(
        ["Prep", "Train", "Lam", "Check", "Model", "Approve", "Deploy"], "Succeeded"
    )  # the Else branch (Halt, AfterHalt) never appears
    assert steps["Check"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert steps["Approve"]["Metadata"]["Callback"]["OutputParameters"] == [
        {"Name": "approved", "Value": "yes"}
    ]
    assert steps["Lam"]["Metadata"]["Lambda"]["OutputParameters"] == [
        {"Name": "x", "Value": "hello"}
    ]

    # Properties flowed through the references, as resolved in each attempt's Arguments.
    train_args = arguments_of(server, arn, "Train")
    uri = train_args["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert uri == "s3://bucket/Prep/out"
    train_job = steps["Train"]["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    model_args = arguments_of(server, arn, "Model")
    artifacts = model_args["PrimaryContainer"]["ModelDataUrl"]
    assert artifacts.lower() == f"s3://bucket/models/{train_job}/output/model.tar.gz"
    assert model_args["PrimaryContainer"]["Environment"] == {"LAMBDA_X": "hello"}
    assert arguments_of(server, arn, "Lam") == {"input": f"s3://bucket/{execution_id(arn)}"}
    model_name = steps["Model"]["Metadata"]["Model"]["Arn"].rsplit("/", 1)[1]
    assert arguments_of(server, arn, "Approve")["model"].lower() == model_name
    assert arguments_of(server, arn, "Deploy")["Environment"] == {
        "APPROVED": "yes", "JOINED": "hello-go", "ACCURACY": "0.93",
    }  # fmt: skip
    # Dependencies were honoured.
    assert steps["Train"]["StartTime"] >= steps["Prep"]["EndTime"]
    assert steps["Check"]["StartTime"] >= max(steps["Train"]["EndTime"], steps["Lam"]["EndTime"])
    assert steps["Deploy"]["StartTime"] >= steps["Approve"]["EndTime"]


def test_mixed_pipeline_takes_the_else_branch_into_a_fail_step(server, sm, name):
    server.set_faults(mixed_faults(name))
    create(sm, name, mixed_pipeline(), parameters=PARAMETERS)
    arn = start(sm, name, Mode="halt")
    described = wait_done(sm, arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "Mode was halt"
    [summary] = sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert summary["PipelineExecutionFailureReason"] == "Mode was halt"
    steps = steps_by_name(sm, arn)
    assert {s: r["StepStatus"] for s, r in steps.items()} == {
        "Prep": "Succeeded", "Train": "Succeeded", "Lam": "Succeeded", "Check": "Succeeded",
        "Halt": "Failed",
    }  # fmt: skip
    assert steps["Check"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    assert steps["Halt"]["Metadata"] == {"Fail": {"ErrorMessage": "Mode was halt"}}
    assert steps["Halt"]["FailureReason"] == "Mode was halt"
    assert all("FailureReason" not in r for s, r in steps.items() if s != "Halt")


def test_a_missing_property_file_fails_the_consuming_step(server, sm, name):
    # No fault rule supplies Prep's property file 'Report'.
    server.set_faults([{"pipeline": name, "step": "Lam", "outputs": {"x": "hello"}}])
    create(sm, name, mixed_pipeline(), parameters=PARAMETERS)
    arn = start(sm, name)
    described = wait_done(sm, arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "Step failure: One or multiple steps failed."
    steps = steps_by_name(sm, arn)
    assert steps["Check"]["StepStatus"] == "Failed"
    assert "'Report'" in steps["Check"]["FailureReason"]
    assert set(steps) == {"Prep", "Train", "Lam", "Check"}


# ------------------------------------------------------------------------------ parallelism


def fan_out(count: int = 6) -> list[dict]:
    return [processing(f"F{i}") for i in range(count)]


class ExecutingWatcher:
    """Polls ListPipelineExecutionSteps as fast as it can in a thread; records how many steps
    were Executing in each answer."""

    def __init__(self, sm, arn: str) -> None:
        self.sm, self.arn = sm, arn
        self.counts: list[int] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            rows = self.sm.list_pipeline_execution_steps(PipelineExecutionArn=self.arn)
            self.counts.append(
                sum(r["StepStatus"] == "Executing" for r in rows["PipelineExecutionSteps"])
            )

    def stop(self) -> list[int]:
        self.done.set()
        self.thread.join(10)
        return self.counts


def run_watched(server, sm, arn: str) -> list[int]:
    watcher = ExecutingWatcher(server.client(), arn)
    try:
        assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    finally:
        counts = watcher.stop()
    assert len(counts) > 10, counts  # the poller really looked often
    assert statuses(sm, arn) == {f"F{i}": "Succeeded" for i in range(6)}
    return counts


def test_the_pipeline_parallelism_limit_is_honoured(server, sm, name):
    server.set_faults([{"pipeline": name, "duration_seconds": 0.4}])
    create(sm, name, fan_out(), ParallelismConfiguration={"MaxParallelExecutionSteps": 2})
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    counts = run_watched(server, sm, arn)
    assert max(counts) == 2, counts


def test_the_execution_parallelism_beats_the_pipeline_one(server, sm, name):
    server.set_faults([{"pipeline": name, "duration_seconds": 0.4}])
    create(sm, name, fan_out(), ParallelismConfiguration={"MaxParallelExecutionSteps": 2})
    arn = sm.start_pipeline_execution(
        PipelineName=name, ParallelismConfiguration={"MaxParallelExecutionSteps": 3}
    )["PipelineExecutionArn"]
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 3}
    counts = run_watched(server, sm, arn)
    assert max(counts) == 3, counts


def test_update_pipeline_execution_changes_parallelism_for_steps_not_yet_started(server, sm, name):
    server.set_faults([{"pipeline": name, "duration_seconds": 0.5}])
    create(sm, name, fan_out())
    arn = sm.start_pipeline_execution(
        PipelineName=name, ParallelismConfiguration={"MaxParallelExecutionSteps": 1}
    )["PipelineExecutionArn"]
    watcher = ExecutingWatcher(server.client(), arn)
    try:
        wait_step(sm, arn, "F0", ("Executing",))
        time.sleep(0.1)  # let the poller see the limit of one at work
        seen_before = len(watcher.counts)
        sm.update_pipeline_execution(
            PipelineExecutionArn=arn, ParallelismConfiguration={"MaxParallelExecutionSteps": 3}
        )
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        assert described["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 3}
        assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    finally:
        counts = watcher.stop()
    assert max(counts) == 3, counts
    # Before the update only one step ran at a time.
    assert seen_before > 0 and max(counts[:seen_before]) == 1, counts[:seen_before]
    # The new limit applied at once: two more steps started while F0 still ran.
    steps = steps_by_name(sm, arn)
    started_early = [s for s in ("F1", "F2") if steps[s]["StartTime"] < steps["F0"]["EndTime"]]
    assert started_early == ["F1", "F2"]


# ------------------------------------------------------------------------------ RetryPolicies


def test_retry_policy_retries_with_backoff_until_the_step_succeeds(server, sm, name):
    policy = retry_policy(MaxAttempts=3, IntervalSeconds=1, BackoffRate=2)
    server.set_faults(
        [{"pipeline": name, "step": "B", "fail_attempts": 2,
          "exception_type": "SageMaker.JOB_INTERNAL_ERROR", "duration_seconds": 0.1}]
    )  # fmt: skip
    create(sm, name, [processing("A"), processing("B", ["A"], RetryPolicies=[policy])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    # While it waits out a back-off the step is still Executing, not Failed.
    poll(
        "a failed attempt of B",
        lambda: attempts_of(server, arn, "B"),
        lambda tried: any(a["status"] == "Failed" for a in tried),
    )
    assert statuses(sm, arn)["B"] == "Executing"
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    step = steps_by_name(sm, arn)["B"]
    assert step["StepStatus"] == "Succeeded" and step["AttemptCount"] == 3
    assert "FailureReason" not in step
    tried = attempts_of(server, arn, "B")
    assert [a["status"] for a in tried] == ["Failed", "Failed", "Succeeded"]
    assert [a["attempt"] for a in tried] == [1, 2, 3]
    # Each attempt is a new job.
    assert len({a["job_name"] for a in tried}) == 3
    gaps = [tried[i + 1]["start_time"] - tried[i]["end_time"] for i in range(2)]
    assert 0.9 <= gaps[0] <= 1.6, gaps
    assert 1.9 <= gaps[1] <= 2.6, gaps


def test_retry_policies_that_do_not_match_or_run_out_fail_the_step(server, sm, name):
    steps = [
        # Fails with an exception type no policy lists: no retry.
        processing("Other", RetryPolicies=[retry_policy("SageMaker.CAPACITY_ERROR")]),
        # MaxAttempts 1: one retry, then it has failed for good.
        processing("Exhaust", RetryPolicies=[retry_policy(MaxAttempts=1, IntervalSeconds=0.2)]),
        # ExpireAfterMin 0: no retry may start later than the first attempt's start.
        processing("Expired", RetryPolicies=[retry_policy(ExpireAfterMin=0)]),
        # ExpireAfterMin 1: a retry within the minute runs.
        processing("Within", RetryPolicies=[retry_policy(ExpireAfterMin=1, IntervalSeconds=0.2)]),
        processing("Later", ["Other", "Exhaust", "Expired", "Within"]),
    ]
    rule = {"pipeline": name, "exception_type": "SageMaker.JOB_INTERNAL_ERROR"}
    server.set_faults(
        [
            dict(rule, step="Other", fail_attempts=-1),
            dict(rule, step="Exhaust", fail_attempts=-1),
            dict(rule, step="Expired", fail_attempts=-1),
            dict(rule, step="Within", fail_attempts=1),
        ]
    )
    create(sm, name, steps)
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    described = wait_done(sm, arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "Step failure: One or multiple steps failed."
    rows = steps_by_name(sm, arn)
    assert "Later" not in rows
    got = {s: (r["StepStatus"], r["AttemptCount"]) for s, r in rows.items()}
    assert got == {
        "Other": ("Failed", 1), "Exhaust": ("Failed", 2), "Expired": ("Failed", 1),
        "Within": ("Succeeded", 2),
    }  # fmt: skip
    for failed in ("Other", "Exhaust", "Expired"):
        assert "simulated failure" in rows[failed]["FailureReason"]


# ------------------------------------------------------------------------------ stop


def test_stop_stops_running_steps_and_never_starts_the_rest(server, sm, name):
    server.set_faults([{"pipeline": name, "duration_seconds": 3}])
    create(sm, name, [processing("A1"), processing("A2"), processing("B", ["A1", "A2"])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    wait_step(sm, arn, "A2", ("Executing",))
    wait_step(sm, arn, "A1", ("Executing",))
    stopped_at = time.time()
    token = uuid.uuid4().hex
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=token)
    # A resent stop (same ClientRequestToken) is answered again, not refused.
    again = sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=token)
    assert again["PipelineExecutionArn"] == arn
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] in (
        "Stopping",
        "Stopped",
    )
    described = wait_done(sm, arn, timeout=10)
    assert described["PipelineExecutionStatus"] == "Stopped"
    assert time.time() - stopped_at < 2.5  # the 3 s jobs were not waited for
    steps = steps_by_name(sm, arn)
    assert {s: r["StepStatus"] for s, r in steps.items()} == {"A1": "Stopped", "A2": "Stopped"}
    assert all("EndTime" in r and "FailureReason" not in r for r in steps.values())
    with pytest.raises(sm.exceptions.ClientError) as error:
        sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "Only pipelines with 'Executing' status can be stopped" in str(error.value)


def test_stop_of_an_ended_execution_is_refused(server, sm, name):
    create(sm, name, [processing("A")])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    with pytest.raises(sm.exceptions.ClientError) as error:
        sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert error.value.response["Error"]["Message"] == (
        "Only pipelines with 'Executing' status can be stopped"
    )
    assert (
        sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        == "Succeeded"
    )


def test_stop_during_a_retry_back_off_keeps_the_failed_attempt(server, sm, name):
    server.set_faults(
        [{"pipeline": name, "step": "F", "fail_attempts": -1, "failure_reason": "boom",
          "exception_type": "SageMaker.JOB_INTERNAL_ERROR"}]
    )  # fmt: skip
    create(sm, name, [processing("F", RetryPolicies=[retry_policy(IntervalSeconds=5)]),
                      processing("G", ["F"])])  # fmt: skip
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    poll(
        "the first attempt of F to fail",
        lambda: attempts_of(server, arn, "F"),
        lambda tried: bool(tried) and tried[0]["status"] == "Failed",
    )
    assert statuses(sm, arn) == {"F": "Executing"}  # waiting out its back-off
    sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    assert wait_done(sm, arn, timeout=3)["PipelineExecutionStatus"] == "Stopped"
    step = steps_by_name(sm, arn)["F"]
    assert (step["StepStatus"], step["AttemptCount"]) == ("Stopped", 1)
    # The history still says how the attempt ended; no retry started.
    [attempt] = attempts_of(server, arn, "F")
    assert (attempt["status"], attempt["failure_reason"]) == ("Failed", "boom")


def test_a_failed_step_lets_running_steps_finish_and_starts_nothing_new(server, sm, name):
    server.set_faults(
        [{"pipeline": name, "step": "Bad", "fail_attempts": -1, "failure_reason": "bad input"},
         {"pipeline": name, "step": "Slow", "duration_seconds": 1.0}]
    )  # fmt: skip
    create(sm, name, [processing("Bad"), processing("Slow"), processing("AfterSlow", ["Slow"])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    wait_step(sm, arn, "Bad", ("Failed",))
    # The execution waits for the running step.
    assert (
        sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        == "Executing"
    )
    described = wait_done(sm, arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "Step failure: One or multiple steps failed."
    steps = steps_by_name(sm, arn)
    assert {s: r["StepStatus"] for s, r in steps.items()} == {"Bad": "Failed", "Slow": "Succeeded"}
    assert steps["Bad"]["FailureReason"] == "bad input"
    assert described["LastModifiedTime"] >= steps["Slow"]["EndTime"]


def test_stop_while_a_lambda_waits_out_a_retry_back_off(server, sm, name):
    # A running Lambda is waited for; one between attempts runs nothing and stops at once.
    server.set_faults(
        [
            {
                "pipeline": name,
                "step": "L",
                "fail_attempts": -1,
                "exception_type": "Step.SERVICE_FAULT",
            }
        ]
    )
    policy = retry_policy("Step.SERVICE_FAULT", IntervalSeconds=2)
    create(sm, name, [lambda_step("L", ["x"], RetryPolicies=[policy])])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    poll(
        "the first attempt of L to fail",
        lambda: attempts_of(server, arn, "L"),
        lambda tried: bool(tried) and tried[0]["status"] == "Failed",
    )
    sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    assert wait_done(sm, arn, timeout=1.5)["PipelineExecutionStatus"] == "Stopped"
    step = steps_by_name(sm, arn)["L"]
    assert (step["StepStatus"], step["AttemptCount"]) == ("Stopped", 1)


def cpu_seconds(server) -> float:
    with open(f"/proc/{server.proc.pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_a_due_retry_waits_for_a_parallelism_slot_without_spinning(server, sm, name):
    server.set_faults(
        [{"pipeline": name, "step": "B", "fail_attempts": 1,
          "exception_type": "SageMaker.JOB_INTERNAL_ERROR"},
         {"pipeline": name, "step": "A", "duration_seconds": 2}]
    )  # fmt: skip
    # B fails first; its back-off frees the only slot, which A takes.
    create(
        sm, name, [processing("B", RetryPolicies=[retry_policy(IntervalSeconds=0.1)]), processing("A")],
        ParallelismConfiguration={"MaxParallelExecutionSteps": 1},
    )  # fmt: skip
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    wait_step(sm, arn, "A", ("Executing",))
    before = cpu_seconds(server)
    time.sleep(1.2)  # B's retry is due, and waits for A's slot
    busy = cpu_seconds(server) - before
    assert statuses(sm, arn) == {"B": "Executing", "A": "Executing"}
    assert busy < 0.4, f"the server spun while the retry waited: {busy:.2f} s of CPU in 1.2 s"
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    steps = steps_by_name(sm, arn)
    assert steps["B"]["AttemptCount"] == 2
    retry = attempts_of(server, arn, "B")[1]
    assert 0 <= retry["start_time"] - steps["A"]["EndTime"].timestamp() < 0.3
