"""The engine in this process: drivers, the starter, batches, readiness, retry policies, stop,
restarts and lease takeover, on a temporary SQLite file with a runner the test controls."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sagepipe.engine.driver import StaleStatus
from sagepipe.runners.port import FAILED, JOB_INTERNAL_ERROR, STOPPED
from tests.support.inprocess import FakeRunner, InProcess, until
from tests.support.pipelines import processing

Scenario = Callable[[InProcess, FakeRunner], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, lease_seconds: float = 5.0) -> None:
    async def main() -> None:
        runner = FakeRunner()
        service = await InProcess(str(tmp_path), runner, lease_seconds).start()
        try:
            await asyncio.wait_for(scenario(service, runner), 30)
        finally:
            await service.stop()

    asyncio.run(main())


def retry_on(*types: str, attempts: int = 2) -> list[dict[str, Any]]:
    return [{"ExceptionType": list(types), "IntervalSeconds": 0, "MaxAttempts": attempts}]


def test_jobs_that_end_out_of_order_release_their_dependent_only_when_all_have_ended(
    tmp_path: Path,
) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        steps = [
            processing("A"),
            processing("B"),
            processing("C"),
            processing("D", ["A", "B", "C"]),
        ]
        arn = await sp.run("fan", steps)
        for step in "ABC":
            await runner.started(step)
        runner.end("C")
        await sp.wait_step(arn, "C", "Succeeded")
        runner.end("A")
        await sp.wait_step(arn, "A", "Succeeded")
        assert "D" not in await sp.steps(arn)  # B still runs
        runner.end("B")
        await runner.started("D")
        assert await sp.status(arn) == "Executing"
        runner.end("D")
        assert await sp.ended(arn) == "Succeeded"
        assert all(len(jobs) == 1 and jobs[0].starts == 1 for jobs in runner.by_step.values())

    run(tmp_path, scenario)


def test_a_job_holds_its_parallelism_slot_until_it_ends(tmp_path: Path) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        steps = [processing(name) for name in "ABCD"]
        arn = await sp.run(
            "slots", steps, ParallelismConfiguration={"MaxParallelExecutionSteps": 2}
        )
        await runner.started("A")
        await runner.started("B")
        await asyncio.sleep(0.2)  # ticks happen; nothing else may start
        assert set(runner.by_step) == {"A", "B"}
        runner.end("A")
        await runner.started("C")
        assert "D" not in runner.by_step
        runner.end("B")
        await runner.started("D")
        runner.end("C")
        runner.end("D")
        assert await sp.ended(arn) == "Succeeded"

    run(tmp_path, scenario)


def test_a_job_that_fails_to_start_fails_as_job_internal_error_which_policies_match(
    tmp_path: Path,
) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        runner.refuse_start.add("A")
        step = processing("A", RetryPolicies=retry_on(JOB_INTERNAL_ERROR, attempts=1))
        arn = await sp.run("nostart", [step])
        assert await sp.ended(arn) == "Failed"
        row = (await sp.steps(arn))["A"]
        assert row["StepStatus"] == "Failed"
        assert row["AttemptCount"] == 2  # the first attempt and the policy's one retry
        assert "could not run the job" in row["FailureReason"]
        assert "no capacity" in row["FailureReason"]

    run(tmp_path, scenario)


def test_a_failure_a_policy_matches_runs_again_and_one_it_does_not_ends_the_execution(
    tmp_path: Path,
) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        steps = [
            processing("A", RetryPolicies=retry_on("SageMaker.CAPACITY_ERROR")),
            processing("B", ["A"]),
        ]
        arn = await sp.run("policy", steps)
        await runner.started("A")
        runner.end(
            "A", FAILED, failure_reason="no capacity", failure_type="SageMaker.CAPACITY_ERROR"
        )
        await runner.started("A", attempt=2)
        assert await sp.step_status(arn, "A") == "Executing"  # in place, as on AWS
        runner.end("A", FAILED, failure_reason="AlgorithmError: exit code 1")  # no type: final
        assert await sp.ended(arn) == "Failed"
        steps_now = await sp.steps(arn)
        assert steps_now["A"]["AttemptCount"] == 2
        assert steps_now["A"]["FailureReason"] == "AlgorithmError: exit code 1"
        assert "B" not in steps_now

    run(tmp_path, scenario)


def test_after_a_restart_a_running_job_is_attached_to_not_started_again(tmp_path: Path) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        arn = await sp.run("restart", [processing("A"), processing("B", ["A"])])
        job = await runner.started("A")
        await sp.restart()  # the same runner: its jobs outlived the server
        await asyncio.sleep(0.1)
        assert job.starts == 1 and len(runner.by_step["A"]) == 1
        runner.end("A")
        await runner.started("B")
        runner.end("B")
        assert await sp.ended(arn) == "Succeeded"

    run(tmp_path, scenario)


def test_a_job_lost_in_a_restart_fails_as_job_internal_error_and_a_policy_runs_it_again(
    tmp_path: Path,
) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        step = processing("A", RetryPolicies=retry_on(JOB_INTERNAL_ERROR))
        arn = await sp.run("lost", [step])
        await runner.started("A")
        fresh = FakeRunner()  # knows nothing of the first job
        await sp.restart(fresh)
        await fresh.started("A")  # the policy's retry, on the new runner
        fresh.end("A")
        assert await sp.ended(arn) == "Succeeded"
        history = await sp.engine.db.run(
            lambda tx: tx.all("attempts_for_execution", execution_arn=arn), readonly=True
        )
        assert [(h["attempt"], h["status"]) for h in history] == [(1, "Failed"), (2, "Succeeded")]
        assert "no longer known" in history[0]["failure_reason"]

    run(tmp_path, scenario)


def test_a_stop_waits_for_the_runner_to_answer(tmp_path: Path) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        runner.stop_ends_job = False  # the job takes its time to stop
        arn = await sp.run("stop", [processing("A"), processing("B", ["A"])])
        job = await runner.started("A")
        await sp.call(
            "StopPipelineExecution", PipelineExecutionArn=arn, ClientRequestToken="s" * 32
        )
        await until(lambda: job.stops == 1)
        await sp.wait_step(arn, "A", "Stopping")
        assert await sp.status(arn) == "Stopping"
        runner.end("A", STOPPED)
        assert await sp.ended(arn) == "Stopped"
        assert (await sp.steps(arn))["A"]["StepStatus"] == "Stopped"

    run(tmp_path, scenario)


def test_a_job_that_ends_while_being_stopped_keeps_its_own_outcome(tmp_path: Path) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        runner.stop_ends_job = False
        arn = await sp.run("race", [processing("A"), processing("B", ["A"])])
        job = await runner.started("A")
        await sp.call(
            "StopPipelineExecution", PipelineExecutionArn=arn, ClientRequestToken="r" * 32
        )
        await until(lambda: job.stops == 1)
        runner.end("A")  # it finished before the stop reached it
        assert await sp.ended(arn) == "Stopped"
        steps = await sp.steps(arn)
        assert steps["A"]["StepStatus"] == "Succeeded"
        assert "B" not in steps

    run(tmp_path, scenario)


def test_a_stop_asked_before_a_restart_is_asked_again_after_it(tmp_path: Path) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        runner.stop_ends_job = False
        arn = await sp.run("stop-restart", [processing("A")])
        job = await runner.started("A")
        await sp.call(
            "StopPipelineExecution", PipelineExecutionArn=arn, ClientRequestToken="t" * 32
        )
        await until(lambda: job.stops == 1)
        await sp.restart()
        await until(lambda: job.stops == 2)
        runner.end("A", STOPPED)
        assert await sp.ended(arn) == "Stopped"

    run(tmp_path, scenario)


def test_retry_runs_only_what_failed_with_the_same_runner(tmp_path: Path) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        arn = await sp.run(
            "retry", [processing("A"), processing("B", ["A"]), processing("C", ["B"])]
        )
        await runner.started("A")
        runner.end("A")
        await runner.started("B")
        runner.end("B", FAILED, failure_reason="AlgorithmError: bug in train.py")
        assert await sp.ended(arn) == "Failed"
        await sp.call(
            "RetryPipelineExecution", PipelineExecutionArn=arn, ClientRequestToken="u" * 32
        )
        await runner.started("B", attempt=2)
        runner.end("B")
        await runner.started("C")
        runner.end("C")
        assert await sp.ended(arn) == "Succeeded"
        assert len(runner.by_step["A"]) == 1 and runner.by_step["A"][0].starts == 1
        steps = await sp.steps(arn)
        assert (steps["A"]["AttemptCount"], steps["B"]["AttemptCount"]) == (1, 2)

    run(tmp_path, scenario)


def test_a_long_chain_of_steps_that_end_at_once_commits_in_bounded_batches(tmp_path: Path) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        # Model steps record a resource and end in the tick that starts them (simulate runner).
        chain = [
            {"Name": f"M{i}", "Type": "Model", "Arguments": {"ExecutionRoleArn": "r"},
             **({"DependsOn": [f"M{i - 1}"]} if i else {})}
            for i in range(450)
        ]  # fmt: skip
        arn = await sp.run("chain", chain)
        assert await sp.ended(arn, timeout=20) == "Succeeded"
        assert len(await sp.engine.db.run(
            lambda tx: tx.all("steps_for_execution", execution_arn=arn), readonly=True
        )) == 450  # fmt: skip
        assert runner.by_step == {}  # no compute step: the fake runner ran nothing

    run(tmp_path, scenario)


def test_another_engine_takes_over_a_dead_ones_execution_and_attaches_to_its_job(
    tmp_path: Path,
) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        arn = await sp.run("takeover", [processing("A"), processing("B", ["A"])])
        job = await runner.started("A")
        first = sp.engine
        # The first engine dies: its tasks end, its lease is not handed over.
        for task in [first._lease_task, *first.tasks.values()]:
            if task is not None:
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*first.tasks.values(), return_exceptions=True)
        second = sp.second_engine()
        await second.start(sole_owner=False)
        try:
            began = time.monotonic()
            await until(lambda: arn in second.drivers, timeout=10)
            assert time.monotonic() - began >= 0.1  # it waited for the lease to expire
            runner.end("A")
            await runner.started("B")
            assert job.starts == 1  # attached, not started again
            runner.end("B")
            assert await sp.ended(arn) == "Succeeded"
        finally:
            await second.stop()

    run(tmp_path, scenario, lease_seconds=0.5)


def test_a_step_waits_in_starting_until_its_runner_has_capacity(tmp_path: Path) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        runner.capacity.clear()  # the runner's slots are all taken
        arn = await sp.run("queued", [processing("A"), processing("B", ["A"])])
        await until(lambda: "A" in runner.by_step)  # asked to start, waiting
        await asyncio.sleep(0.1)
        assert await sp.step_status(arn, "A") == "Starting"
        runner.capacity.set()
        await runner.started("A")
        await sp.wait_step(arn, "A", "Executing")
        runner.end("A")
        await runner.started("B")
        runner.end("B")
        assert await sp.ended(arn) == "Succeeded"
        history = await sp.engine.db.run(
            lambda tx: tx.all("attempts_for_execution", execution_arn=arn), readonly=True
        )
        assert [(h["name"], h["status"]) for h in history] == [
            ("A", "Succeeded"),
            ("B", "Succeeded"),
        ]

    run(tmp_path, scenario)


def test_a_step_stopped_while_it_waits_to_start_never_starts(tmp_path: Path) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        runner.capacity.clear()
        arn = await sp.run("queued-stop", [processing("A")])
        await until(lambda: "A" in runner.by_step)
        await sp.call(
            "StopPipelineExecution", PipelineExecutionArn=arn, ClientRequestToken="q" * 32
        )
        assert await sp.ended(arn) == "Stopped"
        assert (await sp.steps(arn))["A"]["StepStatus"] == "Stopped"
        assert runner.by_step["A"][0].starts == 0

    run(tmp_path, scenario)


def test_a_jobs_end_survives_a_tick_that_must_decide_again(tmp_path: Path) -> None:
    async def scenario(sp: InProcess, runner: FakeRunner) -> None:
        arn = await sp.run("stale", [processing("A")])
        await runner.started("A")
        driver = sp.engine.drivers[arn]
        commit = driver._commit
        refused: list[bool] = []

        async def stale_once(batch: Any, now: float) -> None:
            if not refused:  # the status changed under the tick (as a stop request does)
                refused.append(True)
                raise StaleStatus()
            await commit(batch, now)

        driver._commit = stale_once  # type: ignore[method-assign]
        runner.end("A")
        assert await sp.ended(arn) == "Succeeded"
        assert refused == [True]

    run(tmp_path, scenario)
