"""Starting steps: what each step type does when its turn comes (SPEC §7, §8).

Condition and Fail are evaluated here, in the tick that starts them. Every other type becomes
a job whose fate the runner planned; its plan is stored with the step before anything runs,
so a restart re-attaches to it instead of starting it again."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sagepipe.domain import readiness
from sagepipe.domain.conditions import evaluate_conditions
from sagepipe.domain.definition import StepSpec, iso_duration_seconds
from sagepipe.domain.expressions import ExpressionError, resolve
from sagepipe.domain.records import StepRecord
from sagepipe.engine.batch import Batch
from sagepipe.engine.evaluation import StepContext
from sagepipe.engine.step_properties import properties_of
from sagepipe.runners import jobs
from sagepipe.runners.metadata import ARN_MEMBERS, step_metadata

# Steps one tick may start before it commits and lets the server answer requests.
STARTS_PER_TICK = 200

if TYPE_CHECKING:
    from sagepipe.engine.driver import Driver
    from sagepipe.engine.engine import Engine


class StepStarter:
    def __init__(self, engine: Engine, driver: Driver) -> None:
        self.engine = engine
        self.driver = driver
        self.started_jobs: set[str] = set()
        self._order = {name: i for i, name in enumerate(driver.definition.steps)}

    @property
    def _retry(self) -> int:
        return self.driver.execution.retry_count

    def _limit(self) -> int | None:
        execution = self.driver.execution
        return execution.parallelism or execution.pipeline_parallelism

    # ------------------------------------------------------------------ choosing
    def _candidates(self, batch: Batch, now: float) -> list[StepSpec]:
        steps = self.driver.definition.steps
        # A step waiting out a retry back-off is still running (Executing): it runs its next
        # attempt even after another step failed for good, or the execution never ends.
        due = []
        for name in sorted(batch.index.backoff - batch.ended_now):
            record = batch.get(name)
            assert record is not None and record.next_run_at is not None
            if record.next_run_at <= now and record.status == "Executing":
                due.append(steps[name])
        if batch.index.failed - self.driver.handled:
            return due
        selected = self.driver.execution.selected
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
            status="Starting",
            attempt_count=(previous.attempt_count if previous else 0) + 1,
            manual_retry=self._retry,
            run_attempts=(previous.run_attempts + 1) if same_run and previous else 1,
            first_start=previous.first_start if same_run and previous else now,
            started=now,
        )
        batch.index.frontier.discard(spec.name)
        if same_run:
            record.status = "Executing"  # an automatic retry: the step never left Executing
            batch.keep(record)
            batch.events.append([spec.name, record.attempt_count, "Executing", "Executing", now])
        else:
            batch.put(record, previous.status if previous else None, now)
        return record

    def _to_executing(self, batch: Batch, record: StepRecord, now: float) -> None:
        if record.status == "Starting":
            record.status = "Executing"
            batch.put(record, "Starting", now)
        batch.attempts_new.append(
            {
                "execution_arn": self.driver.execution.arn,
                "name": record.name,
                "attempt": record.attempt_count,
                "manual_retry": record.manual_retry,
                "status": "Executing",
                "started": now,
                "ended": None,
                "failure_reason": None,
                "job": record.job_text() if record.job else None,
                "metadata": json.dumps(record.metadata) if record.metadata else None,
            }
        )

    def _end_now(
        self, batch: Batch, record: StepRecord, status: str, now: float, reason: str | None = None
    ) -> None:
        previous = record.status
        record.status, record.ended, record.failure_reason = status, now, reason
        batch.put(record, previous, now)
        batch.attempts_end.append(self.driver._attempt_end(record, reason))

    async def _start(self, batch: Batch, spec: StepSpec, now: float) -> bool:
        """Start one step; True if it also ended (so more steps may be ready)."""
        record = self._begin(batch, spec, now)
        context = StepContext(self.driver.execution, self.driver.definition, batch.view, now)
        if spec.type == "Condition":
            return self._condition(batch, spec, record, context, now)
        if spec.type == "Fail":
            return self._fail_step(batch, spec, record, context, now)
        execution = self.driver.execution
        rand = jobs.new_rand()
        try:
            arguments = resolve(spec.arguments, context)
            top = resolve(
                {k: v for k, v in spec.raw.items() if k not in ("Arguments", "DependsOn")}, context
            )
        except ExpressionError as exc:
            self._to_executing(batch, record, now)
            self._end_now(batch, record, "Failed", now, str(exc))
            return True
        if not isinstance(arguments, dict):
            arguments = {}
        if not isinstance(top, dict):
            top = {}
        name, arn = jobs.resource_for(
            spec.type, arguments, region=execution.region, account=execution.account,
            execution_id=execution.exec_id, step_name=spec.name, rand=rand,
        )  # fmt: skip
        if spec.type == "Lambda":
            arn = top.get("FunctionArn")
        if spec.cache_enabled and await self._cache_hit(batch, spec, record, arguments, now):
            return True
        kind = {"Lambda": "lambda", "Callback": "callback"}.get(spec.type, "job")
        job: dict[str, Any] = {
            "kind": kind, "name": name, "arn": arn, "started": now,
            "arguments": arguments, "top": top,
        }  # fmt: skip
        if kind == "callback":
            job["token"] = jobs.new_rand(10)  # the model's CallbackToken: 10 alphanumerics
            job["duration"], job["outcome"] = 0, None
        else:
            job.update(
                self.engine.runner.plan(execution.pipeline_name, spec.name, record.attempt_count)
            )
            self.started_jobs.add(spec.name)
        record.job = job
        record.metadata = self.final_metadata(record, None)
        self._to_executing(batch, record, now)
        if kind == "callback":
            self._open_callback(batch, spec, record, now)
            return False
        if job["duration"] <= 0:
            # A job with nothing to wait for ends in the tick that starts it: its start and
            # its end are committed together, so a chain of them needs no commit per step.
            self.started_jobs.discard(spec.name)
            self.driver.finish_job(batch, spec.name, now)
            return True
        return False

    def _condition(
        self, batch: Batch, spec: StepSpec, record: StepRecord, context: StepContext, now: float
    ) -> bool:
        self._to_executing(batch, record, now)
        arguments = spec.arguments if isinstance(spec.arguments, dict) else {}
        try:
            outcome = evaluate_conditions(arguments.get("Conditions") or [], context)
        except ExpressionError as exc:
            self._end_now(batch, record, "Failed", now, str(exc))
            return True
        record.outcome = outcome
        record.properties = {"Outcome": outcome}
        record.metadata = {"Condition": {"Outcome": "True" if outcome else "False"}}
        self._end_now(batch, record, "Succeeded", now)
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
        self._end_now(batch, record, "Failed", now, text)
        return True

    # ------------------------------------------------------------------ callbacks
    def _open_callback(self, batch: Batch, spec: StepSpec, record: StepRecord, now: float) -> None:
        job = record.job or {}
        execution = self.driver.execution
        message = {"token": job["token"], "arguments": job["arguments"], "status": "Executing"}
        batch.statements.append(
            (
                "callback_insert",
                {"token": job["token"], "account": execution.account, "region": execution.region,
                 "step_name": spec.name, "attempt": record.attempt_count,
                 "message": json.dumps(message)},
            )
        )  # fmt: skip
        queue = job["top"].get("SqsQueueUrl")
        self.engine.notifier.post(batch, queue, message, now)

    def post_callback_stop(self, batch: Batch, record: StepRecord, now: float) -> None:
        job = record.job or {}
        message = {"token": job.get("token"), "status": "Stopping"}
        queue = job.get("top", {}).get("SqsQueueUrl")
        self.engine.notifier.post(batch, queue, message, now)

    # ------------------------------------------------------------------ results
    def final_metadata(
        self, record: StepRecord, outputs: list[dict[str, Any]] | None
    ) -> dict[str, Any] | None:
        job = record.job or {}
        if record.step_type in ARN_MEMBERS:
            properties = {}  # their metadata is the job's ARN alone: no need to build them
        else:
            properties = properties_of(record, self.driver.execution) or {}
        extra: dict[str, Any] = {}
        if job.get("token"):
            extra["callback_token"] = job["token"]
            extra["sqs_queue_url"] = job.get("top", {}).get("SqsQueueUrl")
        listed = outputs if outputs is not None else properties.get("OutputParameters")
        if listed:
            extra["output_parameters"] = listed
        return step_metadata(
            record.step_type, job_arn=job.get("arn"), properties=properties, extra=extra
        )

    # ------------------------------------------------------------------ caching
    def _cache_key(self, spec: StepSpec, arguments: Any) -> str:
        # Only the attributes AWS keys per step type (domain/cache_key.py): the SDK's default
        # output paths embed the execution id, so hashing every argument never hit. The check
        # steps' own members are hashed as written (only the Arguments reach this resolved).
        from sagepipe.domain.cache_key import cache_key

        return cache_key(
            spec.type, arguments, spec.property_files, step_name=spec.name, step=spec.raw
        )

    async def _cache_hit(
        self, batch: Batch, spec: StepSpec, record: StepRecord, arguments: Any, now: float
    ) -> bool:
        key = self._cache_key(spec, arguments)
        execution = self.driver.execution
        hit = await self.engine.db.run(
            lambda tx: tx.one("cache_get", pipeline_arn=execution.pipeline_arn, cache_key=key),
            readonly=True,
        )
        if hit is None or hit["execution_arn"] == execution.arn:
            return False
        expire = spec.cache_expire_after
        if expire and now - hit["created"] > iso_duration_seconds(expire):
            return False
        record.properties = json.loads(hit["properties"])
        record.metadata = json.loads(hit["metadata"]) if hit["metadata"] else None
        record.job = json.loads(hit["job"]) if hit.get("job") else None
        record.cache_source = hit["execution_arn"]
        self._to_executing(batch, record, now)
        self._end_now(batch, record, "Succeeded", now)
        return True

    def remember_in_cache(self, batch: Batch, record: StepRecord) -> None:
        spec = self.driver.definition.steps[record.name]
        if not spec.cache_enabled or record.job is None:
            return
        key = self._cache_key(spec, record.job.get("arguments"))
        batch.statements.append(
            (
                "cache_put",
                {"pipeline_arn": self.driver.execution.pipeline_arn, "cache_key": key,
                 "step_name": record.name,
                 "properties": json.dumps(properties_of(record, self.driver.execution)),
                 "metadata": json.dumps(record.metadata) if record.metadata else None,
                 "job": record.job_text()},
            )
        )  # fmt: skip
