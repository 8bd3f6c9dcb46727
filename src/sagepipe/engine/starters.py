"""Starting steps: what each step kind does when its turn comes (docs/behaviour.md §7, §8).

Condition and Fail are evaluated here, in the tick that starts them. Every other type becomes
a job: the runner prepares its document, which is stored with the step before anything runs
(so a restart re-attaches to it instead of starting it again), and the driver starts it once
that is committed. A job whose end is already known ends in the tick that starts it."""

from __future__ import annotations

import json
from typing import Any

from sagepipe.domain import readiness
from sagepipe.domain.conditions import evaluate_conditions
from sagepipe.domain.definition import Definition, StepSpec
from sagepipe.domain.expressions import ExpressionError, resolve
from sagepipe.domain.records import ExecutionRecord, StepRecord
from sagepipe.domain.states import StepStatus
from sagepipe.engine import registry, step_cache
from sagepipe.engine.batch import Batch
from sagepipe.engine.documents import DocumentReader
from sagepipe.engine.ending import StepEnding
from sagepipe.engine.evaluation import StepContext
from sagepipe.engine.notifier import CallbackNotifier
from sagepipe.engine.step_kinds import STORED_KIND, Runners, StepKind, kind_of
from sagepipe.runners import jobs
from sagepipe.runners.port import JobRequest
from sagepipe.store.db import Database

# Steps one tick may start before it commits and lets the server answer requests.
STARTS_PER_TICK = 200


class StepStarter:
    def __init__(
        self,
        execution: ExecutionRecord,
        definition: Definition,
        ending: StepEnding,
        db: Database,
        runners: Runners,
        notifier: CallbackNotifier,
        documents: DocumentReader,
    ) -> None:
        self.execution = execution
        self.documents = documents
        self.definition = definition
        self.ending = ending
        self.db = db
        self.runners = runners
        self.notifier = notifier
        # Failures that a step downstream handles (a run condition on Failed): they do not
        # stop other steps from starting.
        self.handled = readiness.handled_failures(definition)
        self._order = {name: i for i, name in enumerate(definition.steps)}

    @property
    def _retry(self) -> int:
        return self.execution.retry_count

    def _limit(self) -> int | None:
        return self.execution.parallelism or self.execution.pipeline_parallelism

    # ------------------------------------------------------------------ choosing
    def _candidates(self, batch: Batch, now: float) -> list[StepSpec]:
        steps = self.definition.steps
        # A step waiting out a retry back-off is still running (Executing): it runs its next
        # attempt even after another step failed for good, or the execution never ends.
        due = []
        for name in sorted(batch.index.backoff - batch.ended_now):
            record = batch.get(name)
            assert record is not None and record.next_run_at is not None
            if record.next_run_at <= now and record.status == StepStatus.EXECUTING:
                due.append(steps[name])
        if batch.index.failed - self.handled:
            return due
        selected = self.execution.selected
        view = batch.view
        fresh = []
        # The frontier holds every step that might start; one that cannot start now leaves it
        # until one of its upstream steps ends (Batch.put puts it back).
        for name in sorted(batch.index.frontier, key=self._order.__getitem__):
            spec = steps[name]
            if (selected is None or name in selected) and readiness.may_start(
                spec, view, self._retry
            ):
                fresh.append(spec)
            else:
                batch.index.frontier.discard(name)
        return due + fresh

    def could_start_more(self, batch: Batch) -> bool:
        return bool(self._candidates(batch, float("inf")))

    async def start_ready(self, batch: Batch, now: float) -> bool:
        """Start what is ready; True if the per-tick bound left ready steps for the next tick."""
        # Condition, Fail and zero-duration steps end in the tick that starts them, which can
        # make more steps ready: loop until nothing new can start, but no further than
        # STARTS_PER_TICK, so a long chain commits and yields the event loop as it goes.
        started = 0
        while True:
            limit = self._limit()
            free = None if limit is None else limit - batch.running_count()
            candidates = self._candidates(batch, now)
            if free is not None:
                candidates = candidates[: max(free, 0)]
            if not candidates:
                return False
            if started >= STARTS_PER_TICK:
                return True
            ended_now = False
            for spec in candidates[: STARTS_PER_TICK - started]:
                ended_now |= await self._start(batch, spec, now)
                started += 1
            if not ended_now and started < STARTS_PER_TICK:
                return False

    # ------------------------------------------------------------------ starting
    def _begin(self, batch: Batch, spec: StepSpec, now: float) -> StepRecord:
        """The step's record for a new attempt, moved to Starting (or on from a back-off)."""
        previous = batch.get(spec.name)
        same_run = previous is not None and previous.next_run_at is not None
        record = StepRecord(
            name=spec.name,
            step_type=spec.type,
            status=StepStatus.STARTING,
            attempt_count=(previous.attempt_count if previous else 0) + 1,
            manual_retry=self._retry,
            run_attempts=(previous.run_attempts + 1) if same_run and previous else 1,
            first_start=previous.first_start if same_run and previous else now,
            started=now,
        )
        batch.index.frontier.discard(spec.name)
        if same_run:
            # An automatic retry: the step never left Executing.
            record.status = StepStatus.EXECUTING
            batch.keep(record)
            batch.events.append(
                [spec.name, record.attempt_count, StepStatus.EXECUTING, StepStatus.EXECUTING, now]
            )
        else:
            batch.put(record, previous.status if previous else None, now)
        return record

    def _to_executing(self, batch: Batch, record: StepRecord, now: float) -> None:
        if record.status == StepStatus.STARTING:
            record.status = StepStatus.EXECUTING
            batch.put(record, StepStatus.STARTING, now)
        self._record_attempt(batch, record, now, StepStatus.EXECUTING)

    def _record_attempt(self, batch: Batch, record: StepRecord, now: float, status: str) -> None:
        arn = record.job.get("arn") if record.job else None
        # A cache hit's job is the source execution's: listed once, under that attempt.
        scope = None if record.cache_source else jobs.listed_scope(arn)
        batch.attempts_new.append(
            {
                "execution_arn": self.execution.arn,
                "name": record.name,
                "attempt": record.attempt_count,
                "manual_retry": record.manual_retry,
                "status": status,
                "started": now,
                "ended": None,
                "failure_reason": None,
                "job": record.job_text() if record.job else None,
                "metadata": json.dumps(record.metadata) if record.metadata else None,
                # What DescribeTrainingJob & co. find the job by (providers/jobs.py).
                "job_scope": scope,
                "job_arn": arn if scope else None,
            }
        )

    def job_started(self, batch: Batch, name: str, attempt: int, now: float) -> None:
        """A job that waited for its runner's capacity has started: its step, which waited in
        Starting, is Executing now."""
        record = batch.get(name)
        if record is None or record.attempt_count != attempt:
            return
        if record.status != StepStatus.STARTING:
            return  # stopped meanwhile, or already ended
        edited = batch.edit(name)
        edited.status = StepStatus.EXECUTING
        batch.put(edited, StepStatus.STARTING, now)
        batch.attempts_end.append(
            {"execution_arn": self.execution.arn, "name": name, "attempt": attempt,
             "status": StepStatus.EXECUTING, "ended": None, "failure_reason": None,
             "metadata": None}
        )  # fmt: skip

    async def _start(self, batch: Batch, spec: StepSpec, now: float) -> bool:
        """Start one step; True if it also ended (so more steps may be ready)."""
        record = self._begin(batch, spec, now)
        context = StepContext(self.execution, self.definition, batch.view, now)
        if spec.name in self.definition.json_readers:
            await self.documents.fetch_for(spec.raw, context)
        kind = kind_of(spec.type)
        if kind is StepKind.EVALUATED:
            evaluate = self._condition if spec.type == "Condition" else self._fail_step
            return evaluate(batch, spec, record, context, now)
        execution = self.execution
        try:
            arguments = resolve(spec.arguments, context)
            top = resolve(
                {k: v for k, v in spec.raw.items() if k not in ("Arguments", "DependsOn")}, context
            )
        except ExpressionError as exc:
            self._to_executing(batch, record, now)
            self.ending.end_now(batch, record, StepStatus.FAILED, now, str(exc))
            return True
        if not isinstance(arguments, dict):
            arguments = {}
        if not isinstance(top, dict):
            top = {}
        version = await registry.reserve_version(self.db, execution, spec.type, arguments, now)
        name, arn = jobs.resource_for(
            spec.type, arguments, region=execution.region, account=execution.account,
            execution_id=execution.exec_id, step_name=spec.name, rand=jobs.new_rand(),
            model_package_version=version,
        )  # fmt: skip
        if arn and (refusal := await registry.name_taken(self.db, spec.type, arguments, arn)):
            self._to_executing(batch, record, now)
            self.ending.end_now(batch, record, StepStatus.FAILED, now, refusal)
            return True
        if spec.type == "Lambda":
            arn = top.get("FunctionArn")
        if spec.cache_enabled:
            hit = await step_cache.lookup(self.db, execution, spec, arguments, top, now)
            if hit is not None:
                step_cache.reuse(record, hit)
                self._to_executing(batch, record, now)
                self.ending.end_now(batch, record, StepStatus.SUCCEEDED, now)
                return True
        job: dict[str, Any] = {
            "kind": STORED_KIND.get(kind, "job"), "name": name, "arn": arn, "started": now,
            "arguments": arguments, "top": top,
        }  # fmt: skip
        if spec.type == "Transform":
            job["model"] = await registry.model_document(
                self.db, execution, batch, arguments.get("ModelName")
            )
        if kind is StepKind.CALLBACK:
            job["token"] = jobs.new_rand(10)  # the model's CallbackToken: 10 alphanumerics
            job["duration"], job["outcome"] = 0, None
            record.job = job
            record.metadata = self.ending.final_metadata(record, None)
            self._to_executing(batch, record, now)
            self._open_callback(batch, spec, record, now)
            return False
        runner = self.runners.for_kind(kind)
        job["runner"] = runner.name
        job.update(
            runner.prepare(
                JobRequest(execution.pipeline_name, spec.name, spec.type, record.attempt_count, job)
            )
        )
        record.job = job
        record.metadata = self.ending.final_metadata(record, None)
        if runner.starts_at_once:
            self._to_executing(batch, record, now)
        else:
            # It may wait for the runner's capacity: Starting until the runner has started it.
            self._record_attempt(batch, record, now, StepStatus.STARTING)
        outcome = runner.poll(job)
        if outcome is not None:
            # A job whose end is already known (a simulated job of no duration) ends in the
            # tick that starts it: its start and end are committed together, so a chain of
            # them needs no commit per step.
            self.ending.apply(batch, spec.name, outcome, now)
            return True
        batch.jobs_started.append(spec.name)
        return False

    def _condition(
        self, batch: Batch, spec: StepSpec, record: StepRecord, context: StepContext, now: float
    ) -> bool:
        self._to_executing(batch, record, now)
        arguments = spec.arguments if isinstance(spec.arguments, dict) else {}
        try:
            outcome = evaluate_conditions(arguments.get("Conditions") or [], context)
        except ExpressionError as exc:
            self.ending.end_now(batch, record, StepStatus.FAILED, now, str(exc))
            return True
        record.outcome = outcome
        record.properties = {"Outcome": outcome}
        record.metadata = {"Condition": {"Outcome": "True" if outcome else "False"}}
        self.ending.end_now(batch, record, StepStatus.SUCCEEDED, now)
        return True

    def _fail_step(
        self, batch: Batch, spec: StepSpec, record: StepRecord, context: StepContext, now: float
    ) -> bool:
        self._to_executing(batch, record, now)
        arguments = spec.arguments if isinstance(spec.arguments, dict) else {}
        try:
            message = resolve(arguments.get("ErrorMessage", ""), context)
        except ExpressionError as exc:
            message = str(exc)
        text = message if isinstance(message, str) else json.dumps(message)
        record.metadata = {"Fail": {"ErrorMessage": text}}
        self.ending.end_now(batch, record, StepStatus.FAILED, now, text)
        return True

    # ------------------------------------------------------------------ callbacks
    def _open_callback(self, batch: Batch, spec: StepSpec, record: StepRecord, now: float) -> None:
        job = record.job or {}
        execution = self.execution
        message = {
            "token": job["token"],
            "arguments": job["arguments"],
            "status": StepStatus.EXECUTING,
        }
        batch.statements.append(
            (
                "callback_insert",
                {"token": job["token"], "account": execution.account, "region": execution.region,
                 "step_name": spec.name, "attempt": record.attempt_count,
                 "message": json.dumps(message)},
            )
        )  # fmt: skip
        queue = job["top"].get("SqsQueueUrl")
        self.notifier.post(batch, queue, message, now)

    def post_callback_stop(self, batch: Batch, record: StepRecord, now: float) -> None:
        job = record.job or {}
        message = {"token": job.get("token"), "status": StepStatus.STOPPING}
        queue = job.get("top", {}).get("SqsQueueUrl")
        self.notifier.post(batch, queue, message, now)
