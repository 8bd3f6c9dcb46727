"""Executions: start, describe, list, stop, update, and what they were started with (docs/behaviour.md §6)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sagepipe.domain import arns
from sagepipe.domain.definition import (
    Definition,
    coerce_parameter,
    parameter_value_to_string,
    stored_definition,
)
from sagepipe.domain.pagination import (
    decode_token,
    encode_token,
    page,
    page_size,
    query_fingerprint,
)
from sagepipe.domain.records import ExecutionRecord, execution_event_row
from sagepipe.domain.states import ExecutionStatus, check_execution
from sagepipe.errors import ResourceLimitExceeded, ResourceNotFound, ValidationError
from sagepipe.providers.context import RequestContext
from sagepipe.providers.idempotency import run_once
from sagepipe.providers.pipelines import find_pipeline, parallelism_config
from sagepipe.providers.selective import reuse_unselected, selection
from sagepipe.store.db import Database, Tx

if TYPE_CHECKING:
    from sagepipe.engine.engine import Engine


def find_execution(
    tx: Tx, ctx: RequestContext, arn: str, query: str = "execution_get"
) -> dict[str, Any]:
    """The execution row, if it exists in the caller's account and region. The default query
    includes the definition and parameters; `execution_summary` leaves them out."""
    row = tx.one(query, arn=arn)
    if row is None or (row["account"], row["region"]) != (ctx.account, ctx.region):
        raise ResourceNotFound(f"Pipeline execution '{arn}' does not exist.")
    return row


STOP_REFUSED = "Only pipelines with 'Executing' status can be stopped"


def request_stop(tx: Tx, ctx: RequestContext, row: dict[str, Any]) -> None:
    """Move the execution `row` (read under its row lock) to Stopping, checked against the state
    machine before anything is written. Its steps are the driver's to stop: this changes none.
    The caller refuses a stop the client may not ask for (STOP_REFUSED) first: an
    IllegalTransition here is a bug."""
    check_execution(row["status"], ExecutionStatus.STOPPING)
    changed = tx.exec("execution_request_stop", arn=row["arn"], now=ctx.now, user=ctx.user)
    assert changed == 1  # the row is locked (or the writer is exclusive)
    event = execution_event_row(row["arn"], row["status"], ExecutionStatus.STOPPING, ctx.now)
    tx.exec("event_insert", **event)


def user_context(arn: str | None) -> dict[str, Any] | None:
    return {"IamIdentity": {"Arn": arn}} if arn else None


def resolve_parameters(
    definition: Definition, given: list[dict[str, str]] | None
) -> dict[str, Any]:
    """Typed values of every declared parameter (docs/behaviour.md §6 messages)."""
    values: dict[str, Any] = {}
    for item in given or []:
        name, value = item["Name"], item["Value"]
        param = definition.parameters.get(name)
        if param is None:
            raise ValidationError(f"Unknown parameter '{name}'")
        values[name] = coerce_parameter(param, value)
    for name, param in definition.parameters.items():
        if name not in values:
            if param.default is None:
                raise ValidationError(f"Parameter '{name}' is undefined.")
            values[name] = param.default
    return values


def running_quota(tx: Tx, ctx: RequestContext, limit: int) -> None:
    running = tx.one("running_count", account=ctx.account, region=ctx.region)
    assert running is not None
    if running["n"] >= limit:
        raise ResourceLimitExceeded(
            f"The account-level service limit 'Maximum number of running pipeline executions' "
            f"is {limit} executions, and {running['n']} are running. Wait for one to end or "
            f"stop one, then try again (or raise --max-running-executions)."
        )


class ExecutionsProvider:
    def __init__(self, db: Database, engine: Engine, max_running: int) -> None:
        self.db = db
        self.engine = engine
        self.max_running = max_running

    async def start_pipeline_execution(
        self,
        ctx: RequestContext,
        pipeline_name: str,
        client_request_token: str | None = None,
        pipeline_execution_display_name: str | None = None,
        pipeline_parameters: list[dict[str, str]] | None = None,
        pipeline_execution_description: str | None = None,
        parallelism_configuration: dict[str, Any] | None = None,
        selective_execution_config: dict[str, Any] | None = None,
        pipeline_version_id: int | None = None,
        mlflow_experiment_name: str | None = None,
        pipeline_version_alias: str | None = None,
        role_arn: str | None = None,
    ) -> dict[str, Any]:
        started: list[tuple[ExecutionRecord, Definition] | str] = []

        def effect(tx: Tx) -> dict[str, Any]:
            # The pipeline and the version to run, in one statement.
            pipeline = find_pipeline(
                tx, ctx, pipeline_name, "pipeline_with_version", version_id=pipeline_version_id
            )
            version_id = pipeline_version_id or pipeline["latest_version"]
            if pipeline["definition"] is None:
                raise ResourceNotFound(
                    f"Pipeline version '{version_id}' of pipeline '{pipeline['arn']}' does not exist."
                )
            definition = stored_definition(pipeline["definition"])
            parameters = resolve_parameters(definition, pipeline_parameters)
            selected = selection(tx, ctx, pipeline["arn"], definition, selective_execution_config)
            tx.lock_scope(ctx.scope)
            running_quota(tx, ctx, self.max_running)
            # `execution_insert` creates the execution Executing.
            check_execution(None, ExecutionStatus.EXECUTING)
            while True:
                exec_id = arns.new_execution_id(ctx.now)
                arn = arns.execution_arn(pipeline["arn"], exec_id)
                inserted = tx.exec(
                    "execution_insert", arn=arn, account=ctx.account, region=ctx.region,
                    pipeline_arn=pipeline["arn"], exec_id=exec_id, version_id=version_id,
                    display_name=pipeline_execution_display_name
                    or f"execution-{int(ctx.now * 1000)}",
                    description=pipeline_execution_description, parameters=json.dumps(parameters),
                    parallelism=(parallelism_configuration or {}).get("MaxParallelExecutionSteps"),
                    selective=json.dumps(selective_execution_config) if selected else None,
                    now=ctx.now, user=ctx.user, owner=self.engine.owner,
                    lease_until=self.engine.lease_until,
                )  # fmt: skip
                if inserted:
                    break
            event = execution_event_row(arn, None, ExecutionStatus.EXECUTING, ctx.now)
            tx.exec("event_insert", **event)
            if selected is not None and selective_execution_config:
                reuse_unselected(tx, arn, definition, selected, selective_execution_config)
            tx.exec("pipeline_touch_run", arn=pipeline["arn"], now=ctx.now)
            tx.exec(
                "version_set_last_execution", pipeline_arn=pipeline["arn"],
                version_id=version_id, execution_arn=arn,
            )  # fmt: skip
            if selected is not None:
                started.append(arn)  # the driver must load the reused steps
            else:
                record = ExecutionRecord(
                    arn=arn, exec_id=exec_id, account=ctx.account, region=ctx.region,
                    pipeline_arn=pipeline["arn"], status=ExecutionStatus.EXECUTING,
                    parallelism=(parallelism_configuration or {}).get("MaxParallelExecutionSteps"),
                    pipeline_parallelism=pipeline["parallelism"], retry_count=0, epoch=1,
                    created=ctx.now, definition_text=pipeline["definition"], parameters=parameters,
                )  # fmt: skip
                started.append((record, definition))
            return {"PipelineExecutionArn": arn}

        result = await run_once(
            self.db, ctx, "StartPipelineExecution", client_request_token, effect
        )
        if started:
            new = started[-1]
            # A new execution has no steps yet: the engine can drive it from what we know.
            await (self.engine.drive(new) if isinstance(new, str) else self.engine.adopt(*new))
        return result

    async def describe_pipeline_execution(
        self, ctx: RequestContext, pipeline_execution_arn: str
    ) -> dict[str, Any]:
        row = await self.db.run_point_read(
            lambda tx: find_execution(tx, ctx, pipeline_execution_arn, "execution_summary")
        )
        return {
            "PipelineArn": row["pipeline_arn"],
            "PipelineExecutionArn": row["arn"],
            "PipelineExecutionDisplayName": row["display_name"],
            "PipelineExecutionStatus": row["status"],
            "PipelineExecutionDescription": row["description"],
            "FailureReason": row["failure_reason"],
            "CreationTime": row["created"],
            "LastModifiedTime": row["modified"],
            "CreatedBy": user_context(row["created_by"]),
            "LastModifiedBy": user_context(row["modified_by"]),
            "ParallelismConfiguration": parallelism_config(row["parallelism"]),
            "SelectiveExecutionConfig": json.loads(row["selective"]) if row["selective"] else None,
            "PipelineVersionId": row["version_id"],
        }

    async def list_pipeline_executions(
        self,
        ctx: RequestContext,
        pipeline_name: str,
        created_after: float | None = None,
        created_before: float | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        next_token: str | None = None,
        max_results: int | None = None,
        pipeline_version_alias: str | None = None,
    ) -> dict[str, Any]:
        descending = (sort_order or "Descending") == "Descending"
        filters = [pipeline_name, created_after, created_before, sort_by, sort_order]
        fp = query_fingerprint("ListPipelineExecutions", ctx.scope, {"f": filters})
        cursor = decode_token(next_token, fp)
        limit = page_size(max_results)

        def read(tx: Tx) -> list[dict[str, Any]]:
            pipeline = find_pipeline(tx, ctx, pipeline_name)
            # Execution ARNs share the pipeline prefix and ids are random, so ARN order is
            # creation order's stable sibling; both sort on the insertion sequence.
            return tx.all(
                "execution_list_desc" if descending else "execution_list_asc",
                pipeline_arn=pipeline["arn"], after=created_after, before=created_before,
                cursor=cursor, limit=limit + 1,
            )  # fmt: skip

        rows = await self.db.run(read, readonly=True)
        return page(
            "PipelineExecutionSummaries", rows, limit, fp,
            lambda r: {
                "PipelineExecutionArn": r["arn"],
                "StartTime": r["created"],
                "PipelineExecutionStatus": r["status"],
                "PipelineExecutionDescription": r["description"],
                "PipelineExecutionDisplayName": r["display_name"],
                "PipelineExecutionFailureReason": r["failure_reason"],
            },
            lambda r: r["seq"],
        )  # fmt: skip

    async def stop_pipeline_execution(
        self,
        ctx: RequestContext,
        pipeline_execution_arn: str,
        client_request_token: str | None = None,
    ) -> dict[str, Any]:
        def effect(tx: Tx) -> dict[str, Any]:
            # Locked: the status checked is the one the stop changes.
            row = find_execution(tx, ctx, pipeline_execution_arn, "execution_lock")
            if row["status"] != ExecutionStatus.EXECUTING:
                raise ValidationError(STOP_REFUSED)
            request_stop(tx, ctx, row)
            return {"PipelineExecutionArn": row["arn"]}

        result = await run_once(self.db, ctx, "StopPipelineExecution", client_request_token, effect)
        self.engine.notify(result["PipelineExecutionArn"])
        return result

    async def update_pipeline_execution(
        self,
        ctx: RequestContext,
        pipeline_execution_arn: str,
        pipeline_execution_description: str | None = None,
        pipeline_execution_display_name: str | None = None,
        parallelism_configuration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        def update(tx: Tx) -> dict[str, Any]:
            row = find_execution(tx, ctx, pipeline_execution_arn, "execution_summary")
            parallelism = row["parallelism"]
            if parallelism_configuration is not None:
                parallelism = parallelism_configuration.get("MaxParallelExecutionSteps")
            tx.exec(
                "execution_update_info", arn=row["arn"],
                display_name=pipeline_execution_display_name
                if pipeline_execution_display_name is not None else row["display_name"],
                description=pipeline_execution_description
                if pipeline_execution_description is not None else row["description"],
                parallelism=parallelism, now=ctx.now, user=ctx.user,
            )  # fmt: skip
            return {"PipelineExecutionArn": row["arn"]}

        result = await self.db.run(update)
        self.engine.notify(result["PipelineExecutionArn"])
        return result

    async def describe_pipeline_definition_for_execution(
        self, ctx: RequestContext, pipeline_execution_arn: str
    ) -> dict[str, Any]:
        row = await self.db.run_point_read(
            lambda tx: find_execution(tx, ctx, pipeline_execution_arn)
        )
        return {"PipelineDefinition": row["definition"], "CreationTime": row["created"]}

    async def list_pipeline_parameters_for_execution(
        self,
        ctx: RequestContext,
        pipeline_execution_arn: str,
        next_token: str | None = None,
        max_results: int | None = None,
    ) -> dict[str, Any]:
        fp = query_fingerprint(
            "ListPipelineParametersForExecution", ctx.scope, {"a": pipeline_execution_arn}
        )
        offset = decode_token(next_token, fp) or 0
        limit = page_size(max_results)
        row = await self.db.run_point_read(
            lambda tx: find_execution(tx, ctx, pipeline_execution_arn)
        )
        # The parameter list is fixed when the execution starts, so an offset is stable.
        values = json.loads(row["parameters"])
        items = [{"Name": k, "Value": parameter_value_to_string(v)} for k, v in values.items()]
        result: dict[str, Any] = {"PipelineParameters": items[offset : offset + limit]}
        if offset + limit < len(items):
            result["NextToken"] = encode_token(fp, offset + limit)
        return result
