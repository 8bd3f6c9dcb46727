"""RetryPipelineExecution end to end (docs/behaviour.md §5, §9): a real server on each backend, real boto3.

Every test builds its own pipeline; failures come from simulate-runner fault rules."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.pipelines import ROLE, create, definition, processing, steps_by_name
from tests.support.server import ServerProcess

T = TypeVar("T")
DIAMOND = ["A", "B", "C", "D", "E", "F"]
RUNNING = ("Executing", "Stopping")


# ------------------------------------------------------------------------------------ helpers
def diamond() -> list[dict[str, Any]]:
    """A -> (B, C) -> D -> (E, F)."""
    return [
        processing("A"),
        processing("B", ["A"]),
        processing("C", ["A"]),
        processing("D", ["B", "C"]),
        processing("E", ["D"]),
        processing("F", ["D"]),
    ]


def token() -> str:
    return str(uuid.uuid4())


def poll(what: str, probe: Callable[[], T], ok: Callable[[T], bool], timeout: float = 20) -> T:
    deadline = time.time() + timeout
    while True:
        value = probe()
        if ok(value):
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last seen: {value!r}")
        time.sleep(0.03)


def describe(sm: Any, arn: str) -> dict[str, Any]:
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    described.pop("ResponseMetadata", None)
    return dict(described)


def wait_done(sm: Any, arn: str, timeout: float = 30) -> dict[str, Any]:
    return poll(
        f"{arn} to end",
        lambda: describe(sm, arn),
        lambda d: d["PipelineExecutionStatus"] not in RUNNING,
        timeout,
    )


def wait_step(sm: Any, arn: str, step: str, status: str, timeout: float = 20) -> dict[str, Any]:
    rows = poll(
        f"step {step} {status}",
        lambda: steps_by_name(sm, arn),
        lambda r: step in r and r[step]["StepStatus"] == status,
        timeout,
    )
    return rows[step]


def start(sm: Any, name: str, **parameters: str) -> str:
    given = [{"Name": k, "Value": v} for k, v in parameters.items()]
    return str(
        sm.start_pipeline_execution(PipelineName=name, PipelineParameters=given)[
            "PipelineExecutionArn"
        ]
    )


def run_failed(sm: Any, name: str) -> str:
    """Start an execution and wait for it to end Failed."""
    arn = start(sm, name)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
    return arn


def retry(sm: Any, arn: str, client_token: str | None = None, parallel: int | None = None) -> Any:
    extra: dict[str, Any] = {}
    if parallel is not None:
        extra["ParallelismConfiguration"] = {"MaxParallelExecutionSteps": parallel}
    return sm.retry_pipeline_execution(
        PipelineExecutionArn=arn, ClientRequestToken=client_token or token(), **extra
    )


def refused(call: Callable[[], Any]) -> tuple[str, str]:
    """The (code, message) of a call that must fail."""
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def fail_once(server: ServerProcess, name: str, step: str, times: int = 1, **rule: Any) -> None:
    server.set_faults([{"pipeline": name, "step": step, "fail_attempts": times, **rule}])


def exec_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def history(server: ServerProcess, arn: str) -> dict[str, Any]:
    status, body = server.extension("GET", f"/_sagepipe/executions/{exec_id(arn)}/attempts")
    assert status == 200, body
    return dict(body)


def plan(server: ServerProcess, arn: str) -> dict[str, Any]:
    status, body = server.extension("GET", f"/_sagepipe/executions/{exec_id(arn)}/retry-plan")
    assert status == 200, body
    return dict(body)


def snapshot(sm: Any, arn: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Everything a refused retry must leave alone: the execution and its step rows."""
    return describe(sm, arn), steps_by_name(sm, arn)


def assert_plan_matches_error(server: ServerProcess, arn: str, error: tuple[str, str]) -> None:
    preview = plan(server, arn)
    assert preview["retryable"] is False
    assert preview["rerun"] == []
    assert (preview["error"]["code"], preview["error"]["message"]) == error


@contextlib.contextmanager
def extra_server(server_args: list[str], *extra: str) -> Iterator[ServerProcess]:
    process = ServerProcess(server_args, list(extra))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def failed_diamond(server: ServerProcess, sm: Any, name: str) -> str:
    """A diamond whose middle step C failed once; the execution is Failed."""
    create(sm, name, diamond())
    fail_once(server, name, "C")
    arn = run_failed(sm, name)
    assert {s: r["StepStatus"] for s, r in steps_by_name(sm, arn).items()} == {
        "A": "Succeeded",
        "B": "Succeeded",
        "C": "Failed",
    }
    return arn


# ------------------------------------------------------------------------------ the happy path
def test_retry_reruns_only_the_failed_step_and_its_downstream(server, sm, name, failed_diamond):
    arn = failed_diamond
    before = steps_by_name(sm, arn)
    failed = describe(sm, arn)
    assert failed["FailureReason"] == "Step failure: One or multiple steps failed."
    preview = plan(server, arn)
    assert preview == {
        "execution_arn": arn,
        "status": "Failed",
        "retryable": True,
        "error": None,
        "rerun": ["C", "D", "E", "F"],
        "reuse": ["A", "B"],
        "parallelism": None,
    }

    client_token = token()
    response = retry(sm, arn, client_token)
    assert response["PipelineExecutionArn"] == arn
    done = wait_done(sm, arn)
    assert done["PipelineExecutionStatus"] == "Succeeded"
    assert "FailureReason" not in done
    assert done["LastModifiedTime"] > failed["LastModifiedTime"]
    assert done["CreationTime"] == failed["CreationTime"]

    after = steps_by_name(sm, arn)
    assert sorted(after) == DIAMOND
    assert all(r["StepStatus"] == "Succeeded" for r in after.values())
    for step in ("A", "B"):  # reused: the very same rows
        assert after[step] == before[step]
    assert after["C"]["AttemptCount"] == 2
    assert after["C"]["StartTime"] > before["C"]["EndTime"]
    assert "FailureReason" not in after["C"]
    assert after["C"]["Metadata"] != before["C"]["Metadata"]  # a new job
    for step in ("D", "E", "F"):
        assert after[step]["AttemptCount"] == 1
        assert after[step]["StartTime"] >= after["C"]["EndTime"]

    # Same ARN, no new execution.
    listed = sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in listed] == [arn]
    assert listed[0]["PipelineExecutionStatus"] == "Succeeded"

    record = history(server, arn)
    tried_c = [a for a in record["attempts"] if a["step"] == "C"]
    assert [(a["attempt"], a["manual_retry"], a["status"]) for a in tried_c] == [
        (1, 0, "Failed"),
        (2, 1, "Succeeded"),
    ]
    assert "simulated failure" in tried_c[0]["failure_reason"]
    assert tried_c[0]["job_name"] != tried_c[1]["job_name"]
    assert tried_c[0]["metadata"] == before["C"]["Metadata"]
    assert tried_c[1]["start_time"] >= tried_c[0]["end_time"]
    per_step = {s: [a for a in record["attempts"] if a["step"] == s] for s in DIAMOND}
    assert {s: len(a) for s, a in per_step.items()} == {s: 2 if s == "C" else 1 for s in DIAMOND}
    assert all(per_step[s][0]["manual_retry"] == 0 for s in "AB")
    assert all(per_step[s][0]["manual_retry"] == 1 for s in "DEF")
    [manual] = record["manual_retries"]
    assert manual["retry"] == 1
    assert manual["token"] == client_token
    assert manual["parallelism"] is None
    assert manual["rerun"] == preview["rerun"]
    assert (
        failed["LastModifiedTime"].timestamp() - 0.001
        <= manual["time"]
        <= done["LastModifiedTime"].timestamp() + 0.001
    )
    assert record["status"] == "Succeeded"

    # Succeeded is final: the plan and the call agree on refusing it.
    error = refused(lambda: retry(sm, arn))
    assert error[0] == "ConflictException"
    assert_plan_matches_error(server, arn, error)


def test_stopped_execution_resumes_and_runs_what_never_started(server, sm, name):
    create(sm, name, [processing("A"), processing("B", ["A"]), processing("C", ["B"])])
    server.set_faults([{"pipeline": name, "step": "B", "duration_seconds": 30}])
    arn = start(sm, name)
    wait_step(sm, arn, "B", "Executing")
    sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Stopped"
    before = steps_by_name(sm, arn)
    assert {s: r["StepStatus"] for s, r in before.items()} == {"A": "Succeeded", "B": "Stopped"}
    preview = plan(server, arn)
    assert (preview["retryable"], preview["rerun"], preview["reuse"]) == (True, ["B", "C"], ["A"])

    server.set_faults([])
    assert retry(sm, arn)["PipelineExecutionArn"] == arn
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    after = steps_by_name(sm, arn)
    assert after["A"] == before["A"]
    assert (after["B"]["StepStatus"], after["B"]["AttemptCount"]) == ("Succeeded", 2)
    assert (after["C"]["StepStatus"], after["C"]["AttemptCount"]) == ("Succeeded", 1)
    record = history(server, arn)
    assert [(a["step"], a["status"]) for a in record["attempts"] if a["step"] == "B"] == [
        ("B", "Stopped"),
        ("B", "Succeeded"),
    ]
    assert record["manual_retries"][0]["rerun"] == ["B", "C"]


def test_completed_with_failures_is_retried(server, sm, name):
    steps = [
        processing("A"),
        processing("OnFail", [{"Step": "A", "Trigger": "Failed"}]),
        processing("B", ["A"]),
    ]
    create(sm, name, steps)
    fail_once(server, name, "A")
    arn = start(sm, name)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "CompletedWithFailures"
    before = steps_by_name(sm, arn)
    assert {s: r["StepStatus"] for s, r in before.items()} == {
        "A": "Failed",
        "OnFail": "Succeeded",
    }
    preview = plan(server, arn)
    assert (preview["retryable"], preview["rerun"], preview["reuse"]) == (
        True,
        ["A", "B"],
        ["OnFail"],
    )
    retry(sm, arn)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    after = steps_by_name(sm, arn)
    assert after["OnFail"] == before["OnFail"]
    assert (after["A"]["AttemptCount"], after["B"]["AttemptCount"]) == (2, 1)
    assert history(server, arn)["manual_retries"][0]["rerun"] == preview["rerun"]


def test_plan_leaves_out_a_run_condition_a_reused_step_cannot_meet(server, sm, name):
    steps = [
        processing("A"),
        processing("OnFail", [{"Step": "A", "Trigger": "Failed"}]),
        processing("B"),
    ]
    create(sm, name, steps)
    fail_once(server, name, "B")
    arn = run_failed(sm, name)
    assert sorted(steps_by_name(sm, arn)) == ["A", "B"]
    preview = plan(server, arn)
    assert (preview["rerun"], preview["reuse"]) == (["B"], ["A"])
    retry(sm, arn)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    assert sorted(steps_by_name(sm, arn)) == ["A", "B"]
    assert history(server, arn)["manual_retries"][0]["rerun"] == preview["rerun"]


def test_selective_execution_retry_stays_within_its_selection(server, sm, name):
    create(sm, name, diamond())
    source = start(sm, name)
    assert wait_done(sm, source)["PipelineExecutionStatus"] == "Succeeded"
    fail_once(server, name, "C")
    selective = {
        "SourcePipelineExecutionArn": source,
        "SelectedSteps": [{"StepName": "C"}, {"StepName": "D"}],
    }
    arn = sm.start_pipeline_execution(PipelineName=name, SelectiveExecutionConfig=selective)[
        "PipelineExecutionArn"
    ]
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
    before = steps_by_name(sm, arn)
    assert {s: r["StepStatus"] for s, r in before.items()} == {
        "A": "Succeeded",
        "B": "Succeeded",
        "C": "Failed",
    }
    preview = plan(server, arn)
    assert (preview["rerun"], preview["reuse"]) == (["C", "D"], ["A", "B"])
    retry(sm, arn)
    done = wait_done(sm, arn)
    assert done["PipelineExecutionStatus"] == "Succeeded"
    assert done["SelectiveExecutionConfig"]["SourcePipelineExecutionArn"] == source
    after = steps_by_name(sm, arn)
    assert sorted(after) == ["A", "B", "C", "D"]
    assert after["A"] == before["A"] and after["B"] == before["B"]
    assert history(server, arn)["manual_retries"][0]["rerun"] == preview["rerun"]


def test_a_rerun_steps_row_is_updated_in_place(server, sm, name, failed_diamond):
    arn = failed_diamond
    old = steps_by_name(sm, arn)["C"]
    assert old["FailureReason"] and old["AttemptCount"] == 1
    fail_once(server, name, "C", duration_seconds=1.0)  # attempt 2 succeeds after 1 s
    retry(sm, arn)
    rows = poll(
        "C running again",
        lambda: steps_by_name(sm, arn),
        lambda r: r["C"]["StepStatus"] in ("Starting", "Executing"),
    )
    running = rows["C"]
    assert running["AttemptCount"] == 2
    assert running["StartTime"] > old["EndTime"]
    assert "EndTime" not in running and "FailureReason" not in running
    assert describe(sm, arn)["PipelineExecutionStatus"] == "Executing"
    assert "FailureReason" not in describe(sm, arn)
    assert sorted(rows) == ["A", "B", "C"]  # one row per step, no second row for C
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"


def test_retry_policy_budgets_start_afresh_and_attempts_keep_counting(server, sm, name):
    policy = {"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "IntervalSeconds": 0,
              "MaxAttempts": 1}  # fmt: skip
    create(sm, name, [processing("A"), processing("C", ["A"], RetryPolicies=[policy])])
    # Attempts 1-3 fail with a retryable error; 4 succeeds.
    fail_once(server, name, "C", times=3, exception_type="SageMaker.JOB_INTERNAL_ERROR")
    arn = run_failed(sm, name)
    assert steps_by_name(sm, arn)["C"]["AttemptCount"] == 2  # first run + one automatic retry
    retry(sm, arn)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    assert steps_by_name(sm, arn)["C"]["AttemptCount"] == 4  # a fresh budget of one retry
    tried = [a for a in history(server, arn)["attempts"] if a["step"] == "C"]
    assert [(a["attempt"], a["manual_retry"], a["status"]) for a in tried] == [
        (1, 0, "Failed"),
        (2, 0, "Failed"),
        (3, 1, "Failed"),
        (4, 1, "Succeeded"),
    ]
    assert len({a["job_name"] for a in tried}) == 4


def test_a_retried_callback_step_gets_a_new_token(server, sm, name):
    callback = {
        "Name": "Ask", "Type": "Callback", "DependsOn": ["A"],
        "SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/queue",
        "OutputParameters": [{"OutputName": "answer", "OutputType": "String"}],
        "Arguments": {"question": "ok?"},
    }  # fmt: skip
    create(sm, name, [processing("A"), callback, processing("After", ["Ask"])])
    arn = start(sm, name)

    def token_of_attempt(attempt: int) -> str:
        row = poll(
            f"Ask attempt {attempt} waiting",
            lambda: steps_by_name(sm, arn).get("Ask"),
            lambda r: (
                r is not None and r["StepStatus"] == "Executing" and r["AttemptCount"] == attempt
            ),
        )
        return str(row["Metadata"]["Callback"]["CallbackToken"])

    first = token_of_attempt(1)
    sm.send_pipeline_execution_step_failure(CallbackToken=first, FailureReason="said no")
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
    assert steps_by_name(sm, arn)["Ask"]["FailureReason"] == "said no"
    retry(sm, arn)
    second = token_of_attempt(2)
    assert second != first
    code, _ = refused(lambda: sm.send_pipeline_execution_step_success(CallbackToken=first))
    assert code == "ResourceNotFound"  # the first attempt's token answered once already
    sm.send_pipeline_execution_step_success(
        CallbackToken=second, OutputParameters=[{"Name": "answer", "Value": "yes"}]
    )
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    rows = steps_by_name(sm, arn)
    assert (rows["Ask"]["AttemptCount"], rows["After"]["StepStatus"]) == (2, "Succeeded")


def test_reused_steps_properties_feed_the_rerun(server, sm, name):
    upstream_job = {"Get": "Steps.A.ProcessingJobName"}
    c = processing("C", ["A"])
    c["Arguments"]["Environment"] = {"UPSTREAM_JOB": upstream_job}
    create(sm, name, [processing("A"), c])
    fail_once(server, name, "C")
    arn = run_failed(sm, name)
    retry(sm, arn)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    record = history(server, arn)["attempts"]
    [a] = [x for x in record if x["step"] == "A"]
    tried_c = [x for x in record if x["step"] == "C"]
    assert len(tried_c) == 2
    for attempt in tried_c:  # both attempts saw the one run of A
        assert attempt["arguments"]["Environment"] == {"UPSTREAM_JOB": a["job_name"]}


def test_stop_right_after_a_retry_then_retry_again(server, sm, name, failed_diamond):
    arn = failed_diamond
    fail_once(server, name, "C", duration_seconds=30)
    retry(sm, arn)
    sm.stop_pipeline_execution(PipelineExecutionArn=arn)  # may race the driver's start
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Stopped"
    rows = steps_by_name(sm, arn)
    assert rows["C"]["StepStatus"] in ("Stopped", "Failed")
    server.set_faults([])
    retry(sm, arn)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    assert [r["retry"] for r in history(server, arn)["manual_retries"]] == [1, 2]


def test_an_acknowledged_retry_survives_a_crash(server_args, name):
    # A short lease: on PostgreSQL the restarted server takes the execution over when the
    # dead one's lease expires.
    with extra_server(server_args, "--lease-seconds", "1") as server:
        sm = server.client()
        create(sm, name, diamond())
        fail_once(server, name, "C", duration_seconds=0.5)
        arn = run_failed(sm, name)
        retry(sm, arn)
        server.kill()  # SIGKILL right after the 200
        server.start()
        sm = server.client()
        assert wait_done(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Succeeded"
        assert len(history(server, arn)["manual_retries"]) == 1
        rows = steps_by_name(sm, arn)
        assert sorted(rows) == DIAMOND
        assert all(r["StepStatus"] == "Succeeded" for r in rows.values())
        assert rows["C"]["AttemptCount"] == 2  # attempt 2 ran (or was re-attached) once


# ------------------------------------------------------------------------ refused: status
def test_fail_step_execution_is_refused_and_unchanged(server, sm, name):
    fail = {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "bad data"}}
    create(sm, name, [processing("A"), dict(fail, DependsOn=["A"])])
    arn = run_failed(sm, name)
    before = snapshot(sm, arn)
    assert before[0]["FailureReason"] == "bad data"
    error = refused(lambda: retry(sm, arn))
    assert error[0] == "ConflictException"
    assert "Fail step 'Stop'" in error[1]
    for status in ("status Failed", "Stopped", "CompletedWithFailures"):
        assert status in error[1]
    assert snapshot(sm, arn) == before
    assert history(server, arn)["manual_retries"] == []
    assert_plan_matches_error(server, arn, error)


def test_executing_execution_is_refused_and_unchanged(server, sm, name):
    create(sm, name, [processing("A"), processing("B", ["A"])])
    server.set_faults([{"pipeline": name, "step": "B", "duration_seconds": 30}])
    arn = start(sm, name)
    wait_step(sm, arn, "B", "Executing")
    before = snapshot(sm, arn)
    error = refused(lambda: retry(sm, arn))
    assert error[0] == "ConflictException"
    assert "Executing" in error[1]
    for retryable in ("Failed", "Stopped", "CompletedWithFailures"):
        assert retryable in error[1]
    assert snapshot(sm, arn) == before
    assert_plan_matches_error(server, arn, error)
    sm.stop_pipeline_execution(PipelineExecutionArn=arn)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Stopped"


def test_succeeded_execution_is_refused_and_unchanged(server, sm, name):
    create(sm, name, [processing("A"), processing("B", ["A"])])
    arn = start(sm, name)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    before = snapshot(sm, arn)
    error = refused(lambda: retry(sm, arn))
    assert error[0] == "ConflictException"
    assert "Succeeded" in error[1]
    time.sleep(0.05)
    assert snapshot(sm, arn) == before
    assert_plan_matches_error(server, arn, error)


# -------------------------------------------------------------------------- idempotency
def test_same_token_replays_the_response_even_after_failing_again(server, sm, name):
    create(sm, name, diamond())
    fail_once(server, name, "C", times=2)
    arn = run_failed(sm, name)
    client_token = token()
    first = retry(sm, arn, client_token)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"  # attempt 2 failed too
    failed_again = snapshot(sm, arn)
    assert failed_again[1]["C"]["AttemptCount"] == 2

    second = retry(sm, arn, client_token)
    assert second["PipelineExecutionArn"] == first["PipelineExecutionArn"] == arn
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 200
    time.sleep(0.2)
    assert snapshot(sm, arn) == failed_again  # nothing happened
    assert len(history(server, arn)["manual_retries"]) == 1

    # A new token is a new retry: attempt 3 succeeds.
    retry(sm, arn)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    assert steps_by_name(sm, arn)["C"]["AttemptCount"] == 3
    assert [r["retry"] for r in history(server, arn)["manual_retries"]] == [1, 2]


def test_same_token_with_other_parallelism_conflicts(server, sm, name, failed_diamond):
    arn = failed_diamond
    client_token = token()
    fail_once(server, name, "C", times=-1)
    retry(sm, arn, client_token)
    wait_done(sm, arn)
    before = snapshot(sm, arn)
    code, message = refused(lambda: retry(sm, arn, client_token, parallel=2))
    assert code == "ConflictException"
    assert client_token in message
    assert snapshot(sm, arn) == before
    assert len(history(server, arn)["manual_retries"]) == 1


def test_a_refused_request_does_not_record_its_token(server, sm, name):
    create(sm, name, [processing("A"), processing("B", ["A"])])
    fail_once(server, name, "B", duration_seconds=2.5)
    arn = start(sm, name)
    wait_step(sm, arn, "B", "Executing")
    client_token = token()
    code, _ = refused(lambda: retry(sm, arn, client_token))
    assert code == "ConflictException"
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
    server.set_faults([])
    assert retry(sm, arn, client_token)["PipelineExecutionArn"] == arn
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    [manual] = history(server, arn)["manual_retries"]
    assert manual["token"] == client_token


# ------------------------------------------------------------------------- not found
def test_unknown_execution_is_not_found(server, sm, name):
    create(sm, name, diamond())
    pipeline_arn = sm.describe_pipeline(PipelineName=name)["PipelineArn"]
    unknown = f"{pipeline_arn}/execution/zzzzzzzzzzzz"
    code, message = refused(lambda: retry(sm, unknown))
    assert (code, message) == (
        "ResourceNotFound",
        f"Pipeline execution '{unknown}' does not exist.",
    )
    status, body = server.extension("GET", "/_sagepipe/executions/zzzzzzzzzzzz/retry-plan")
    assert status == 400 and body["__type"] == "ResourceNotFound"


def test_another_accounts_or_regions_execution_is_not_found(server_args, name):
    with extra_server(server_args, "--accounts", "AKIDOTHER=210987654321") as server:
        sm = server.client()
        create(sm, name, diamond())
        fail_once(server, name, "C")
        arn = run_failed(sm, name)
        before = snapshot(sm, arn)
        for other in (server.client("AKIDOTHER"), server.client(region="eu-west-1")):
            code, message = refused(lambda other=other: retry(other, arn))
            assert (code, message) == (
                "ResourceNotFound",
                f"Pipeline execution '{arn}' does not exist.",
            )
        # The same ARN rewritten into the other account is unknown there too.
        foreign = arn.replace(":123456789012:", ":210987654321:")
        code, _ = refused(lambda: retry(server.client("AKIDOTHER"), foreign))
        assert code == "ResourceNotFound"
        assert snapshot(sm, arn) == before


def test_deleted_pipelines_execution_is_not_found(server, sm, name, failed_diamond):
    arn = failed_diamond
    sm.delete_pipeline(PipelineName=name, ClientRequestToken=token())
    code, message = refused(lambda: retry(sm, arn))
    assert (code, message) == ("ResourceNotFound", f"Pipeline execution '{arn}' does not exist.")


def test_validation_comes_first(server, name, failed_diamond):
    """botocore checks only some constraints; the server checks them all, before anything."""
    raw = boto3.client(
        "sagemaker", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret",
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )  # fmt: skip
    code, message = refused(
        lambda: raw.retry_pipeline_execution(
            PipelineExecutionArn=failed_diamond, ClientRequestToken="short"
        )
    )
    assert code == "ValidationException"
    assert "clientRequestToken" in message
    code, message = refused(lambda: retry(raw, failed_diamond, parallel=0))
    assert code == "ValidationException"
    assert "maxParallelExecutionSteps" in message
    # Validation comes before the lookup: a malformed ARN is invalid, not unknown.
    code, _ = refused(lambda: retry(raw, "arn:aws:sagemaker:us-east-1:123:pipeline/x"))
    assert code == "ValidationException"
    assert history(server, failed_diamond)["manual_retries"] == []


# ------------------------------------------------------------------- what the retry keeps
def test_parallelism_override_is_persisted(server, sm, name, failed_diamond):
    arn = failed_diamond
    assert "ParallelismConfiguration" not in describe(sm, arn)
    retry(server.client("AKIDRETRIER"), arn, parallel=1)  # another user of the same account
    done = wait_done(sm, arn)
    assert done["PipelineExecutionStatus"] == "Succeeded"
    assert done["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 1}
    assert done["LastModifiedBy"]["IamIdentity"]["Arn"].endswith(":user/AKIDRETRIER")
    assert done["CreatedBy"]["IamIdentity"]["Arn"].endswith(":user/AKIDTEST")
    assert history(server, arn)["manual_retries"][0]["parallelism"] == 1
    rows = steps_by_name(sm, arn)
    # One step at a time: E and F, both waiting for D, ran one after the other.
    first, second = sorted((rows["E"], rows["F"]), key=lambda r: r["StartTime"])
    assert second["StartTime"] >= first["EndTime"]


def test_definition_and_parameters_are_those_of_the_original_start(server, sm, name):
    parameters = [{"Name": "Bucket", "Type": "String", "DefaultValue": "first"}]
    steps = diamond()
    create(sm, name, steps, parameters=parameters)
    fail_once(server, name, "C")
    arn = start(sm, name, Bucket="given")
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
    snapshot_definition = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)
    snapshot_parameters = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    assert snapshot_parameters["PipelineParameters"] == [{"Name": "Bucket", "Value": "given"}]

    updated = [*steps, processing("G", ["F"])]
    new_parameters = [{"Name": "Other", "Type": "String", "DefaultValue": "x"}]
    sm.update_pipeline(
        PipelineName=name, PipelineDefinition=definition(updated, new_parameters), RoleArn=ROLE
    )
    retry(sm, arn)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    again = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)
    assert again["PipelineDefinition"] == snapshot_definition["PipelineDefinition"]
    assert again["CreationTime"] == snapshot_definition["CreationTime"]
    assert [s["Name"] for s in json.loads(again["PipelineDefinition"])["Steps"]] == DIAMOND
    assert (
        sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
        == snapshot_parameters["PipelineParameters"]
    )
    assert sorted(steps_by_name(sm, arn)) == DIAMOND  # the new step G is not part of it
    assert describe(sm, arn)["PipelineVersionId"] == 1


def test_condition_outcome_and_cached_steps_are_kept(server, sm, name):
    parameters = [{"Name": "Mode", "Type": "String", "DefaultValue": "train"}]
    condition = {
        "Name": "Check",
        "Type": "Condition",
        "DependsOn": ["Cached"],
        "Arguments": {
            "Conditions": [
                {"Type": "Equals", "LeftValue": {"Get": "Parameters.Mode"}, "RightValue": "train"}
            ],
            "IfSteps": [processing("Yes"), processing("After", ["Yes"])],
            "ElseSteps": [processing("No")],
        },
    }
    cached = processing("Cached", CacheConfig={"Enabled": True, "ExpireAfter": "P30D"})
    create(sm, name, [cached, condition], parameters=parameters)
    # A first execution fills the cache.
    first = start(sm, name)
    assert wait_done(sm, first)["PipelineExecutionStatus"] == "Succeeded"

    fail_once(server, name, "Yes")
    arn = start(sm, name)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
    before = steps_by_name(sm, arn)
    assert before["Cached"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first}
    assert before["Check"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert sorted(before) == ["Cached", "Check", "Yes"]
    preview = plan(server, arn)
    assert (preview["rerun"], preview["reuse"]) == (["Yes", "After"], ["Cached", "Check"])

    retry(sm, arn)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    after = steps_by_name(sm, arn)
    assert sorted(after) == ["After", "Cached", "Check", "Yes"]  # "No" never runs
    assert after["Cached"] == before["Cached"]
    assert after["Check"] == before["Check"]
    assert after["Yes"]["AttemptCount"] == 2
    record = history(server, arn)
    assert record["manual_retries"][0]["rerun"] == ["After", "Yes"]
    assert sorted(a["step"] for a in record["attempts"] if a["manual_retry"] == 1) == [
        "After",
        "Yes",
    ]


# ------------------------------------------------------------------------ governance
def test_max_retries_per_execution(server_args, name):
    with extra_server(server_args, "--max-retries-per-execution", "1") as server:
        sm = server.client()
        create(sm, name, diamond())
        fail_once(server, name, "C", times=-1)
        arn = run_failed(sm, name)
        retry(sm, arn)
        assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
        before = snapshot(sm, arn)
        error = refused(lambda: retry(sm, arn))
        assert error[0] == "ResourceLimitExceeded"
        assert "--max-retries-per-execution 1" in error[1]
        assert snapshot(sm, arn) == before
        assert_plan_matches_error(server, arn, error)


def test_retry_window(server_args, name):
    with extra_server(server_args, "--retry-window", "1") as server:
        sm = server.client()
        create(sm, name, diamond())
        fail_once(server, name, "C")
        arn = run_failed(sm, name)
        created = describe(sm, arn)["CreationTime"].timestamp()
        time.sleep(max(0.0, created + 1.2 - time.time()))
        before = snapshot(sm, arn)
        error = refused(lambda: retry(sm, arn))
        assert error[0] == "ConflictException"
        assert "retry window" in error[1] and "--retry-window" in error[1]
        assert snapshot(sm, arn) == before
        assert_plan_matches_error(server, arn, error)


def test_running_executions_quota(server_args, name):
    with extra_server(server_args, "--max-running-executions", "1") as server:
        sm = server.client()
        create(sm, name, diamond())
        fail_once(server, name, "C")
        arn = run_failed(sm, name)
        slow = name + "-slow"
        create(sm, slow, [processing("Long")])
        server.set_faults([{"pipeline": slow, "step": "Long", "duration_seconds": 30}])
        busy = start(sm, slow)
        before = snapshot(sm, arn)
        error = refused(lambda: retry(sm, arn))
        assert error[0] == "ResourceLimitExceeded"
        assert "Maximum number of running pipeline executions" in error[1]
        assert snapshot(sm, arn) == before
        assert_plan_matches_error(server, arn, error)
        sm.stop_pipeline_execution(PipelineExecutionArn=busy)
        assert wait_done(sm, busy)["PipelineExecutionStatus"] == "Stopped"
        retry(sm, arn)
        assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
