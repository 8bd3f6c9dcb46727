"""RetryPipelineExecution under concurrency (docs/behaviour.md §5): the parallelism override really limits
the resumed run, and concurrent retries of one execution take effect exactly once."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from tests.support.pipelines import create, processing, steps_by_name

RUNNING_STEP = ("Starting", "Executing", "Stopping")
WIDE = [f"P{i}" for i in range(1, 7)]


def wait_done(sm: Any, arn: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if described["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return dict(described)
        assert time.time() < deadline, f"{arn} still {described['PipelineExecutionStatus']}"
        time.sleep(0.03)


def history(server: Any, arn: str) -> dict[str, Any]:
    status, body = server.extension(
        "GET", f"/_sagepipe/executions/{arn.rsplit('/', 1)[1]}/attempts"
    )
    assert status == 200, body
    return dict(body)


def test_max_parallel_one_runs_one_step_at_a_time(server, sm, name):
    create(sm, name, [processing(step) for step in WIDE])
    # Every step: the first attempt fails, every attempt takes 0.3 s.
    server.set_faults([{"pipeline": name, "fail_attempts": 1, "duration_seconds": 0.3}])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
    first_run = steps_by_name(sm, arn)
    assert {s: r["StepStatus"] for s, r in first_run.items()} == {s: "Failed" for s in WIDE}
    # Unlimited, the original run ran them side by side.
    assert max(r["StartTime"] for r in first_run.values()) < min(
        r["EndTime"] for r in first_run.values()
    )

    sm.retry_pipeline_execution(
        PipelineExecutionArn=arn,
        ClientRequestToken=str(uuid.uuid4()),
        ParallelismConfiguration={"MaxParallelExecutionSteps": 1},
    )
    most, polls = 0, 0
    while True:
        rows = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
        running = [r["StepName"] for r in rows if r["StepStatus"] in RUNNING_STEP]
        most, polls = max(most, len(running)), polls + 1
        assert len(running) <= 1, f"steps running at once: {running}"
        status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if status["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            break
        assert polls < 2000
    assert status["PipelineExecutionStatus"] == "Succeeded"
    assert status["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 1}
    assert most == 1 and polls > 6  # the polls did see the steps run

    # The attempt history agrees: the retry's attempts never overlap.
    retried = sorted(
        (a for a in history(server, arn)["attempts"] if a["manual_retry"] == 1),
        key=lambda a: a["start_time"],
    )
    assert sorted(a["step"] for a in retried) == WIDE
    assert all(a["status"] == "Succeeded" for a in retried)
    for earlier, later in zip(retried, retried[1:], strict=False):
        assert later["start_time"] >= earlier["end_time"]
    assert all(r["AttemptCount"] == 2 for r in steps_by_name(sm, arn).values())


def _failed_with_slow_rerun(server: Any, sm: Any, name: str) -> str:
    """A Failed execution whose failed step, when retried, runs for 2 s: the execution stays
    Executing while the concurrent retries arrive."""
    create(sm, name, [processing("A"), processing("B", ["A"])])
    server.set_faults([{"pipeline": name, "step": "B", "fail_attempts": 1}])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
    server.set_faults([{"pipeline": name, "step": "B", "fail_attempts": 1, "duration_seconds": 2}])
    return str(arn)


def _burst(server: Any, arn: str, tokens: list[str]) -> list[tuple[str, Any]]:
    """One RetryPipelineExecution per token, all released at once, each from its own client;
    ("ok", response) or ("error", (code, message))."""
    clients = [server.client() for _ in tokens]
    barrier = threading.Barrier(len(tokens))
    results: list[tuple[str, Any]] = [("missing", None)] * len(tokens)

    def call(i: int) -> None:
        barrier.wait()
        try:
            response = clients[i].retry_pipeline_execution(
                PipelineExecutionArn=arn, ClientRequestToken=tokens[i]
            )
            results[i] = ("ok", response)
        except ClientError as error:
            err = error.response["Error"]
            results[i] = ("error", (err["Code"], err["Message"]))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_concurrent_retries_with_distinct_tokens_take_effect_once(server, sm, name):
    arn = _failed_with_slow_rerun(server, sm, name)
    tokens = [str(uuid.uuid4()) for _ in range(20)]
    results = _burst(server, arn, tokens)
    kinds = Counter(kind for kind, _ in results)
    assert kinds == {"ok": 1, "error": 19}, results
    [winner] = [i for i, (kind, _) in enumerate(results) if kind == "ok"]
    assert results[winner][1]["PipelineExecutionArn"] == arn
    assert {value[0] for kind, value in results if kind == "error"} == {"ConflictException"}
    assert all("Executing" in value[1] for kind, value in results if kind == "error")

    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    [manual] = history(server, arn)["manual_retries"]
    assert manual["token"] == tokens[winner]
    assert steps_by_name(sm, arn)["B"]["AttemptCount"] == 2
    # The losers' tokens were not recorded: one of them is now a fresh request (refused only
    # because the execution has Succeeded since).
    loser = tokens[(winner + 1) % len(tokens)]
    try:
        sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=loser)
        raise AssertionError("a retry of a Succeeded execution must be refused")
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ConflictException"
        assert "Succeeded" in error.response["Error"]["Message"]


def test_concurrent_retries_with_one_token_all_get_the_same_answer(server, sm, name):
    arn = _failed_with_slow_rerun(server, sm, name)
    token = str(uuid.uuid4())
    results = _burst(server, arn, [token] * 20)
    assert [kind for kind, _ in results] == ["ok"] * 20, results
    assert {r["ResponseMetadata"]["HTTPStatusCode"] for _, r in results} == {200}
    bodies = [{k: v for k, v in r.items() if k != "ResponseMetadata"} for _, r in results]
    assert bodies == [{"PipelineExecutionArn": arn}] * 20

    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    [manual] = history(server, arn)["manual_retries"]
    assert manual["token"] == token
    attempts_b = [a for a in history(server, arn)["attempts"] if a["step"] == "B"]
    assert [a["attempt"] for a in attempts_b] == [1, 2]
