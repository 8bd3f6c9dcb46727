"""RetryPipelineExecution (docs/behaviour.md §5) and its preview, the retry plan (docs/behaviour.md §9).

The request path does a fixed amount of work whatever the execution's size: it checks and
flips the execution row, records the token and the retry, and hands the execution to the
engine. Which steps run again is decided by the driver from the step records."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from sagepipe.config import Config
from sagepipe.domain import readiness
from sagepipe.domain.definition import stored_definition
from sagepipe.domain.records import StepRecord, execution_event_row
from sagepipe.domain.selection import selected_steps
from sagepipe.domain.states import RETRYABLE_EXECUTION, ExecutionStatus, check_execution
from sagepipe.errors import ConflictError, ResourceLimitExceeded, ResourceNotFound, ServiceError
from sagepipe.providers import idempotency
from sagepipe.providers.context import RequestContext
from sagepipe.providers.executions import running_quota
from sagepipe.store.db import Database, Tx

if TYPE_CHECKING:
    from sagepipe.engine.engine import Engine

OPERATION = "RetryPipelineExecution"


def apply_retry(
    tx: Tx,
    ctx: RequestContext,
    row: dict[str, Any],
    *,
    token: str,
    parallelism: int | None,
    owner: str,
    lease_until: float,
) -> None:
    """Move the execution `row` (read under its row lock) back to Executing and record the
    retry, checked against the state machine before anything is written. Which steps start
    again is the driver's to decide: this changes none. The caller refuses a retry the client
    may not ask for (RetryProvider.check_retryable) first: an IllegalTransition here is a bug."""
    check_execution(row["status"], ExecutionStatus.EXECUTING)
    changed = tx.exec(
        "execution_retry", arn=row["arn"], expected_status=row["status"],
        parallelism=parallelism, now=ctx.now, user=ctx.user, owner=owner,
        lease_until=lease_until,
    )  # fmt: skip
    assert changed == 1  # the row is locked (or the writer is exclusive)
    tx.exec(
        "manual_retry_insert", execution_arn=row["arn"], retry_no=row["retry_count"] + 1,
        token=token, parallelism=parallelism, now=ctx.now,
    )  # fmt: skip
    event = execution_event_row(row["arn"], row["status"], ExecutionStatus.EXECUTING, ctx.now)
    tx.exec("event_insert", **event)


class RetryProvider:
    def __init__(self, db: Database, engine: Engine, config: Config) -> None:
        self.db = db
        self.engine = engine
        self.config = config
        self._background: set[asyncio.Task[None]] = set()

    def check_retryable(self, tx: Tx, ctx: RequestContext, row: dict[str, Any]) -> None:
        """Checks 4 and 5 of docs/behaviour.md §5, in that order."""
        status = row["status"]
        if status not in RETRYABLE_EXECUTION:
            raise ConflictError(
                f"Pipeline execution '{row['arn']}' is in status {status} and cannot be "
                f"retried: only executions in status {', '.join(RETRYABLE_EXECUTION)} can be "
                "retried."
            )
        if row["fail_step"]:
            raise ConflictError(
                f"Pipeline execution '{row['arn']}' is in status {status} because its Fail step "
                f"'{row['fail_step']}' ended it, and cannot be retried: only executions in "
                f"status {', '.join(RETRYABLE_EXECUTION)} that did not end at a Fail step can "
                "be retried. Start a new execution instead."
            )
        window = self.config.retry_window
        if window is not None and ctx.now - row["created"] > window:
            raise ConflictError(
                f"Pipeline execution '{row['arn']}' is outside the retry window: executions "
                f"can be retried within {window:g} seconds of their start (--retry-window)."
            )
        tx.lock_scope(ctx.scope)
        running_quota(tx, ctx, self.config.max_running_executions)
        cap = self.config.max_retries_per_execution
        if cap is not None and row["retry_count"] >= cap:
            raise ResourceLimitExceeded(
                f"Pipeline execution '{row['arn']}' has been retried {row['retry_count']} "
                f"time(s), the maximum allowed per execution (--max-retries-per-execution "
                f"{cap})."
            )

    async def retry_pipeline_execution(
        self,
        ctx: RequestContext,
        pipeline_execution_arn: str,
        client_request_token: str,
        parallelism_configuration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        retried: list[str] = []

        def transaction(tx: Tx) -> dict[str, Any]:
            # Lock the row first: concurrent retries of one execution then queue behind it.
            # A narrow read (never the definition): the request path does O(1) work.
            row = tx.one("execution_lock", arn=pipeline_execution_arn)
            if row is None or (row["account"], row["region"]) != (ctx.account, ctx.region):
                raise ResourceNotFound(
                    f"Pipeline execution '{pipeline_execution_arn}' does not exist."
                )
            previous = idempotency.recorded(tx, ctx, OPERATION, client_request_token, ctx.request)
            if previous is not None:
                return previous
            keys = {"account": ctx.account, "region": ctx.region, "operation": OPERATION,
                    "token": client_request_token}  # fmt: skip
            fingerprint = idempotency.fingerprint(ctx.request)
            if not tx.exec("token_put", **keys, fingerprint=fingerprint, response="", now=ctx.now):
                raise idempotency.TokenRace()
            self.check_retryable(tx, ctx, row)
            parallelism = row["parallelism"]
            if parallelism_configuration is not None:
                parallelism = parallelism_configuration.get("MaxParallelExecutionSteps")
            apply_retry(
                tx, ctx, row, token=client_request_token, parallelism=parallelism,
                owner=self.engine.owner, lease_until=self.engine.lease_until,
            )  # fmt: skip
            response = {"PipelineExecutionArn": row["arn"]}
            tx.exec("token_set_response", **keys, response=json.dumps(response))
            retried.append(row["arn"])
            return response

        while True:
            try:
                result = await self.db.run(transaction)
                break
            except idempotency.TokenRace:
                continue
        if retried:
            # Loading the execution's step records and definition is O(steps): the driver
            # does it after the response, never in the request path (docs/behaviour.md §5). The retry is
            # durable already; if this process dies first, the lease hands it to another.
            task = asyncio.get_running_loop().create_task(self.engine.drive(retried[-1]))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return result

    async def plan(self, execution_id: str) -> dict[str, Any] | None:
        """What a retry would do now, with the error it would get (docs/behaviour.md §9), or None if the
        execution does not exist."""

        def read(tx: Tx) -> dict[str, Any] | None:
            row = tx.one("execution_get_by_id", exec_id=execution_id)
            if row is None:
                return None
            ctx = RequestContext(account=row["account"], region=row["region"])
            error = None
            try:
                self.check_retryable(tx, ctx, row)
            except ServiceError as exc:
                error = {"code": exc.code, "message": exc.message}
            steps = {
                r["name"]: StepRecord.from_row(r)
                for r in tx.all("steps_for_execution", execution_arn=row["arn"])
            }
            selective = json.loads(row["selective"]) if row["selective"] else None
            rerun, reuse = readiness.retry_plan(
                stored_definition(row["definition"]), steps, selected_steps(selective)
            )
            return {
                "execution_arn": row["arn"],
                "status": row["status"],
                "retryable": error is None,
                "error": error,
                "rerun": rerun if error is None else [],
                "reuse": reuse,
                "parallelism": row["parallelism"],
            }

        return await self.db.run(read, readonly=True)
