"""One execution's driver: the only code that changes an execution's steps while it runs.

Each tick gathers what happened (finished jobs, callback answers, stop requests), decides what
follows (readiness, retries, the end), commits all of it in one transaction fenced by the
execution's lease epoch, and only then starts the work it decided on. No transaction is open
while a step runs."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from sagepipe.domain import readiness
from sagepipe.domain.definition import Definition
from sagepipe.domain.records import ExecutionRecord, StepRecord, event_row
from sagepipe.domain.states import ACTIVE_STEP, RUNNING_EXECUTION, ExecutionStatus, StepStatus
from sagepipe.engine.batch import Batch, Indexes
from sagepipe.engine.documents import DocumentReader
from sagepipe.engine.ending import StepEnding
from sagepipe.engine.notifier import CallbackNotifier
from sagepipe.engine.starters import StepStarter
from sagepipe.engine.step_kinds import RUNNER_JOB_KINDS, Runners
from sagepipe.runners.port import Job, Outcome, Runner
from sagepipe.store.db import Database, Tx

log = logging.getLogger("sagepipe.engine")
POLL_SECONDS = 1.0  # how often a driver looks for changes made by other processes


class LeaseLost(Exception):
    """Another process took this execution over; this driver must stop writing."""


class StaleStatus(Exception):
    """The execution's status changed under the tick (a stop request); decide again."""


@dataclass(frozen=True)
class Services:
    """What drivers use: the store, the runners, where callback messages go."""

    db: Database
    runners: Runners
    notifier: CallbackNotifier
    documents: DocumentReader  # Std:JsonGet documents from the object store


class Driver:
    def __init__(
        self,
        services: Services,
        execution: ExecutionRecord,
        definition: Definition,
        steps: dict[str, StepRecord],
        *,
        reload: bool = True,
    ) -> None:
        self.db = services.db
        self.runners = services.runners
        self.execution = execution
        self.definition = definition
        self.steps = steps
        self.wake = asyncio.Event()
        self.finished_jobs: list[tuple[str, int, Outcome]] = []
        self.started_jobs: list[tuple[str, int]] = []  # started after waiting in Starting
        self.jobs: dict[str, asyncio.Task[None]] = {}  # step name -> the task following its job
        self._stopping: set[asyncio.Task[None]] = set()  # stop requests under way
        self.reload = reload  # read the execution's status before deciding
        self.stop_jobs: str | None = None  # Stop*Job requests read with the execution
        self.stops_asked: set[tuple[str, int]] = set()  # (step, attempt) whose job was asked
        self.decided_at = 0.0  # when the last tick decided what to start
        self.index = self._build_index()
        self.ending = StepEnding(execution, definition)
        self.starter = StepStarter(
            execution, definition, self.ending, services.db, services.runners, services.notifier,
            services.documents,
        )  # fmt: skip

    def _build_index(self) -> Indexes:
        index = Indexes()
        retry = self.execution.retry_count
        for record in self.steps.values():
            index.track(record, retry)
        index.frontier = {
            name for name in self.definition.steps
            if readiness.settled_status(self.steps.get(name), retry) is None
        }  # fmt: skip
        return index

    # ------------------------------------------------------------------ loop
    async def run(self) -> None:
        try:
            await self._reattach()
            while not await self._tick():
                await self._sleep()
        except LeaseLost:
            log.info("lost the lease on %s; another process drives it now", self.execution.arn)
        finally:
            # Only the following stops: a job outlives its driver, and whoever drives the
            # execution next attaches to it again.
            for task in self.jobs.values():
                task.cancel()

    def notify(self) -> None:
        self.reload = True
        self.wake.set()

    async def _sleep(self) -> None:
        timeout = POLL_SECONDS
        # A retry that was already due at the last tick but did not start waits for a free
        # parallelism slot (a wake), not for its time: waiting for that would spin.
        backoff = (self.steps[name].next_run_at for name in self.index.backoff)
        waits = [at for at in backoff if at is not None and at > self.decided_at]
        if waits:
            timeout = max(0.0, min(timeout, min(waits) - time.time()))
        try:
            await asyncio.wait_for(self.wake.wait(), timeout)
        except TimeoutError:
            self.reload = True  # periodic look for changes made elsewhere
        self.wake.clear()

    async def _tick(self) -> bool:
        """One round of decisions; True when the execution has ended."""
        while True:
            if self.reload:
                await self._reload_execution()
            if self.execution.status not in RUNNING_EXECUTION:
                return True
            batch = Batch(
                self.steps,
                self.index.copy(),
                self.execution.retry_count,
                self.definition.dependents,
            )
            now = self.decided_at = time.time()
            await self._apply_callback_answers(batch, now)
            # What the runners reported is consumed only once the batch has committed: a
            # tick decided again (StaleStatus) must see it again.
            started, finished = len(self.started_jobs), len(self.finished_jobs)
            for name, attempt in self.started_jobs[:started]:
                self.starter.job_started(batch, name, attempt, now)
            self._apply_finished_jobs(batch, now, self.finished_jobs[:finished])
            self._stop_requested_jobs(batch)
            if self.execution.status == ExecutionStatus.STOPPING:
                self._stop_steps(batch, now)
            elif await self.starter.start_ready(batch, now):
                self.wake.set()  # more is ready: tick again once this batch is committed
            self._maybe_finish(batch)
            try:
                await self._commit(batch, now)
            except StaleStatus:
                self.reload = True
                continue
            del self.started_jobs[:started], self.finished_jobs[:finished]
            self.stop_jobs = None
            return batch.execution_status is not None

    # ------------------------------------------------------------------ decisions
    async def _reattach(self) -> None:
        """After a restart or take-over: follow again every job that had not ended (a job
        its runner no longer knows fails as lost), and ask again for the stops asked for."""
        for record in self.steps.values():
            job = record.job or {}
            waiting = record.status in ACTIVE_STEP
            if not waiting or record.next_run_at is not None:
                continue
            if job.get("kind") not in RUNNER_JOB_KINDS:
                continue
            runner = self.runners.named(job.get("runner"))
            if runner is None:
                self._finished(record, Outcome.lost(_NO_RUNNER.format(job.get("runner"))))
            elif not await _attached(runner, job):
                self._finished(record, Outcome.lost(_LOST.format(job["name"], runner.name)))
            else:
                # A job still Starting may not have been started: start is idempotent.
                self._follow(record, runner, fresh=record.status == StepStatus.STARTING)
                if record.status == StepStatus.STOPPING:
                    self._stop_job(record)

    def _follow(self, record: StepRecord, runner: Runner, *, fresh: bool) -> None:
        """Follow the step's job to its end (starting it first when `fresh`)."""
        job = record.job
        assert job is not None

        async def follow() -> None:
            try:
                if fresh:
                    await runner.start(job)
                    if not runner.starts_at_once:
                        self.started_jobs.append((record.name, record.attempt_count))
                        self.wake.set()
                outcome = await runner.wait(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("the %s runner failed on job %s", runner.name, job["name"])
                outcome = Outcome.lost(_FAILED_RUNNER.format(runner.name, exc))
            self._finished(record, outcome)

        self.jobs[record.name] = asyncio.get_running_loop().create_task(follow())

    def _finished(self, record: StepRecord, outcome: Outcome) -> None:
        self.finished_jobs.append((record.name, record.attempt_count, outcome))
        self.wake.set()

    def _stop_job(self, record: StepRecord) -> None:
        job = record.job
        assert job is not None
        self.stops_asked.add((record.name, record.attempt_count))
        runner = self.runners.named(job.get("runner"))
        if runner is None:
            return

        async def stop() -> None:
            try:
                await runner.stop(job)
            except Exception:  # the job runs on: its step stays Stopping until it ends
                log.exception("the %s runner could not stop job %s", runner.name, job["name"])

        task = asyncio.get_running_loop().create_task(stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def _apply_finished_jobs(
        self, batch: Batch, now: float, finished: list[tuple[str, int, Outcome]]
    ) -> None:
        for name, attempt, outcome in finished:
            record = batch.get(name)
            if record is None or record.attempt_count != attempt or record.job is None:
                continue
            if record.status not in ACTIVE_STEP:
                continue
            if record.next_run_at is not None:
                continue  # already failed, waiting out a back-off
            self.jobs.pop(name, None)
            self.ending.apply(batch, name, outcome, now)

    async def _apply_callback_answers(self, batch: Batch, now: float) -> None:
        waiting = [
            name for name in self.index.active
            if (self.steps[name].job or {}).get("kind") == "callback"
        ]  # fmt: skip
        if not waiting:
            return
        answers = await self.db.run_point_read(
            lambda tx: tx.all("callback_answers", execution_arn=self.execution.arn)
        )
        for answer in answers:
            record = batch.get(answer["step_name"])
            if record is None or record.attempt_count != answer["attempt"]:
                continue
            result = json.loads(answer["result"])
            batch.statements.append(("callback_applied", {"token": answer["token"]}))
            if answer["status"] == StepStatus.SUCCEEDED:
                outputs = result.get("OutputParameters") or []
                properties = {"OutputParameters": outputs}
                self.ending.succeed(batch, record.name, now, properties, outputs=outputs)
            elif record.status == StepStatus.STOPPING:
                self.ending.stopped(batch, record.name, now)
            else:
                self.ending.fail(batch, record.name, now, result.get("FailureReason"), None)

    def _stop_requested_jobs(self, batch: Batch) -> None:
        """Stop*Job requests (providers/jobs.py): ask the runner to stop each job that still
        runs; its step fails when the job ends Stopped (StepEnding.apply)."""
        if not self.stop_jobs:
            return
        asked = json.loads(self.stop_jobs)
        running = []
        for name, attempt in asked:
            record = batch.get(name)
            if record is None or record.attempt_count != attempt or record.next_run_at:
                continue
            if record.status in (StepStatus.STARTING, StepStatus.EXECUTING):
                # Kept until the job has ended: a driver that takes over asks again.
                running.append([name, attempt])
                if (name, attempt) not in self.stops_asked:
                    batch.jobs_to_stop.append(name)
        if running != asked:
            batch.statements.append(("execution_keep_stop_jobs", {
                "seen": self.stop_jobs, "stop_jobs": json.dumps(running) if running else None}))  # fmt: skip

    def _stop_steps(self, batch: Batch, now: float) -> None:
        """docs/behaviour.md §4: jobs are asked to stop and stay Stopping until their runner
        answers, a Callback waits for its answer, a Lambda finishes."""
        for name in list(batch.index.active):
            record = batch.get(name)
            assert record is not None
            if record.next_run_at is not None:
                # Waiting out a retry back-off, it runs nothing: stopped whatever its type.
                self.ending.stopped(batch, record.name, now)
                continue
            kind = (record.job or {}).get("kind")
            if record.status == StepStatus.STOPPING or kind == "lambda":
                continue
            edited = batch.edit(record.name)
            edited.status = StepStatus.STOPPING
            batch.put(edited, record.status, now)
            if kind == "callback":
                self.starter.post_callback_stop(batch, edited, now)
            elif edited.job is not None:
                batch.jobs_to_stop.append(record.name)
            else:
                self.ending.stopped(batch, record.name, now)  # nothing started yet

    def _maybe_finish(self, batch: Batch) -> None:
        if batch.index.active:
            return
        view = batch.view
        status = self.execution.status
        if status == ExecutionStatus.STOPPING:
            batch.set_execution_status(ExecutionStatus.STOPPING, ExecutionStatus.STOPPED)
            return
        if self.starter.could_start_more(batch):
            return
        final, reason = readiness.final_status(self.definition, view, self.execution.retry_count)
        batch.set_execution_status(ExecutionStatus.EXECUTING, final)
        batch.end_details = {"failure_reason": reason, "fail_step": self._fail_step(view)}

    def _fail_step(self, view: Any) -> str | None:
        for name in readiness.blocking_failures(self.definition, view, self.execution.retry_count):
            if self.definition.steps[name].type == "Fail":
                return name
        return None

    # ------------------------------------------------------------------ storage
    async def _reload_execution(self) -> None:
        row = await self.db.run_point_read(
            lambda tx: tx.one("execution_driver_state", arn=self.execution.arn)
        )
        if row is None or row["epoch"] != self.execution.epoch:
            raise LeaseLost()
        self.execution.status = row["status"]
        self.execution.parallelism = row["parallelism"]
        self.stop_jobs = row["stop_jobs"]
        self.reload = False

    async def _commit(self, batch: Batch, now: float) -> None:
        if batch.empty:
            for name in batch.jobs_to_stop:  # nothing to write first (a stop asked again)
                self._stop_job(self.steps[name])
            return
        execution = self.execution

        to_status = batch.execution_status[1] if batch.execution_status else execution.status
        steps = [r.to_row(execution.arn) for r in batch.pending.values()]
        attempts_new, attempts_end = _fold_attempt_ends(batch.attempts_new, batch.attempts_end)
        events = list(batch.events)
        if batch.execution_status:
            events.append([None, None, batch.execution_status[0], to_status, now])
        fence = {
            "arn": execution.arn, "epoch": execution.epoch, "status": execution.status,
            "new_status": to_status, "now": now,
        }  # fmt: skip

        def write(tx: Tx) -> None:
            if batch.end_details is None:
                fenced = tx.exec("execution_fence", **fence)
            else:
                fenced = tx.exec("execution_fence_end", **fence, **batch.end_details)
            if not fenced:
                current = tx.one("execution_driver_state", arn=execution.arn)
                if current is None or current["epoch"] != execution.epoch:
                    raise LeaseLost()
                raise StaleStatus()
            tx.many("step_upsert", steps)
            tx.many("attempt_insert", attempts_new)
            tx.many("attempt_end", attempts_end)
            if events:
                tx.exec("event_insert", **event_row(execution.arn, events))
            for query, params in batch.statements:
                tx.exec(query, **params, execution_arn=execution.arn, now=now)

        await self.db.run(write)
        self.steps.update(batch.pending)
        self.index = batch.index
        if batch.execution_status:
            self.execution.status = batch.execution_status[1]
        for action in batch.after_commit:
            action()
        for name in batch.jobs_started:
            record = self.steps[name]
            runner = self.runners.named((record.job or {}).get("runner"))
            assert runner is not None
            self._follow(record, runner, fresh=True)
        for name in batch.jobs_to_stop:
            self._stop_job(self.steps[name])


def _fold_attempt_ends(
    started: list[dict[str, Any]], ended: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An attempt that starts and ends in the same tick is inserted already ended: one
    statement instead of an insert and an update."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for start in started:  # a second insert of an attempt did nothing: the first one stands
        rows.setdefault((start["name"], start["attempt"]), dict(start))
    updates: list[dict[str, Any]] = []
    for end in ended:
        row = rows.get((end["name"], end["attempt"]))
        if row is None:
            updates.append(end)
            continue
        row.update(status=end["status"], ended=end["ended"], failure_reason=end["failure_reason"])
        if end["metadata"] is not None:
            row["metadata"] = end["metadata"]
    return list(rows.values()), updates


_NO_RUNNER = (
    "InternalServerError: the job was started by the '{}' runner, which this server does not "
    "run (see --runner, and --lambda-endpoint-url for the lambda runner); the job is lost."
)
_LOST = "InternalServerError: job {} is no longer known to the {} runner; the job is lost."
_FAILED_RUNNER = "InternalServerError: the {} runner could not run the job: {}"


async def _attached(runner: Runner, job: Job) -> bool:
    try:
        return await runner.attach(job)
    except Exception:
        log.exception("the %s runner could not attach to job %s", runner.name, job["name"])
        return False
