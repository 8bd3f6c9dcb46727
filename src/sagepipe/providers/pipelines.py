"""Pipelines and their versions: CreatePipeline ... UpdatePipelineVersion (docs/behaviour.md §6)."""

from __future__ import annotations

from typing import Any

from sagepipe.domain import arns
from sagepipe.domain.pagination import decode_token, page, page_size, query_fingerprint
from sagepipe.errors import ConflictError, ResourceLimitExceeded, ResourceNotFound, ValidationError
from sagepipe.providers.context import RequestContext
from sagepipe.providers.definitions import DefinitionSource
from sagepipe.providers.idempotency import run_once
from sagepipe.providers.tags import put_tags
from sagepipe.store.db import Database, Tx


def find_pipeline(
    tx: Tx, ctx: RequestContext, name_or_arn: str, query: str = "pipeline_get", **params: Any
) -> dict[str, Any]:
    """The pipeline row for a name or ARN in the caller's account and region (`query`: one
    that reads more with it, such as `pipeline_with_version`)."""
    name, parts = arns.pipeline_name_from(name_or_arn)
    row = None
    if parts is None or (parts["account"], parts["region"]) == (ctx.account, ctx.region):
        row = tx.one(query, account=ctx.account, region=ctx.region, name=name, **params)
    if row is None:
        raise ResourceNotFound(
            f"Pipeline '{arns.pipeline_arn(ctx.region, ctx.account, name)}' does not exist."
        )
    return row


def _parallelism(config: dict[str, Any] | None) -> int | None:
    return None if not config else config.get("MaxParallelExecutionSteps")


def parallelism_config(value: int | None) -> dict[str, Any] | None:
    return None if value is None else {"MaxParallelExecutionSteps": value}


class PipelinesProvider:
    def __init__(self, db: Database, definitions: DefinitionSource, max_pipelines: int) -> None:
        self.db = db
        self.definitions = definitions
        self.max_pipelines = max_pipelines

    async def create_pipeline(
        self,
        ctx: RequestContext,
        pipeline_name: str,
        client_request_token: str | None = None,
        pipeline_definition: str | None = None,
        pipeline_definition_s3_location: dict[str, Any] | None = None,
        pipeline_display_name: str | None = None,
        pipeline_description: str | None = None,
        role_arn: str | None = None,
        tags: list[dict[str, str]] | None = None,
        parallelism_configuration: dict[str, Any] | None = None,
        pipeline_version_aliases: Any = None,
    ) -> dict[str, Any]:
        text, _ = await self.definitions.load(
            ctx.region, pipeline_definition, pipeline_definition_s3_location
        )
        arn = arns.pipeline_arn(ctx.region, ctx.account, pipeline_name)

        def effect(tx: Tx) -> dict[str, Any]:
            tx.lock_scope(ctx.scope)
            count = tx.one("pipeline_count", account=ctx.account, region=ctx.region)
            if count and count["n"] >= self.max_pipelines:
                raise ResourceLimitExceeded(
                    f"The account-level service limit 'Maximum number of pipelines allowed per "
                    f"account' is {self.max_pipelines} Pipelines. Delete unused pipelines or "
                    f"raise --max-pipelines."
                )
            inserted = tx.exec(
                "pipeline_insert", arn=arn, account=ctx.account, region=ctx.region,
                name=pipeline_name, display_name=pipeline_display_name or pipeline_name,
                description=pipeline_description, role_arn=role_arn,
                parallelism=_parallelism(parallelism_configuration), now=ctx.now, user=ctx.user,
            )  # fmt: skip
            if not inserted:
                raise ValidationError(
                    "Pipeline names must be unique within an AWS account and region. "
                    f"Pipeline with name ({pipeline_name}) already exists."
                )
            tx.exec(
                "version_insert", pipeline_arn=arn, version_id=1, definition=text,
                display_name=None, description=None, pipeline_display_name=pipeline_display_name,
                pipeline_description=pipeline_description, role_arn=role_arn, now=ctx.now,
                user=ctx.user,
            )  # fmt: skip
            put_tags(tx, arn, tags or [])
            return {"PipelineArn": arn}

        return await run_once(self.db, ctx, "CreatePipeline", client_request_token, effect)

    async def update_pipeline(
        self,
        ctx: RequestContext,
        pipeline_name: str,
        pipeline_display_name: str | None = None,
        pipeline_definition: str | None = None,
        pipeline_definition_s3_location: dict[str, Any] | None = None,
        pipeline_description: str | None = None,
        role_arn: str | None = None,
        parallelism_configuration: dict[str, Any] | None = None,
        pipeline_version_aliases: Any = None,
    ) -> dict[str, Any]:
        text = None
        if pipeline_definition is not None or pipeline_definition_s3_location is not None:
            text, _ = await self.definitions.load(
                ctx.region, pipeline_definition, pipeline_definition_s3_location
            )

        def update(tx: Tx) -> dict[str, Any]:
            row = find_pipeline(tx, ctx, pipeline_name)
            version = row["latest_version"]
            current = tx.one("version_get", pipeline_arn=row["arn"], version_id=version)
            assert current is not None
            display = (
                pipeline_display_name if pipeline_display_name is not None else row["display_name"]
            )
            description = (
                pipeline_description if pipeline_description is not None else row["description"]
            )
            role = role_arn if role_arn is not None else row["role_arn"]
            if text is not None and text != current["definition"]:
                version += 1
                tx.exec(
                    "version_insert", pipeline_arn=row["arn"], version_id=version,
                    definition=text, display_name=None, description=None,
                    pipeline_display_name=display, pipeline_description=description,
                    role_arn=role, now=ctx.now, user=ctx.user,
                )  # fmt: skip
            parallelism = row["parallelism"]
            if parallelism_configuration is not None:
                parallelism = _parallelism(parallelism_configuration)
            tx.exec(
                "pipeline_update", arn=row["arn"], display_name=display, description=description,
                role_arn=role, parallelism=parallelism, latest_version=version, now=ctx.now,
                user=ctx.user,
            )  # fmt: skip
            return {"PipelineArn": row["arn"], "PipelineVersionId": version}

        return await self.db.run(update)

    async def describe_pipeline(
        self,
        ctx: RequestContext,
        pipeline_name: str,
        pipeline_version_id: int | None = None,
        pipeline_version_alias: str | None = None,
    ) -> dict[str, Any]:
        def read(tx: Tx) -> dict[str, Any]:
            row = find_pipeline(tx, ctx, pipeline_name)
            version_id = pipeline_version_id or row["latest_version"]
            version = tx.one("version_get", pipeline_arn=row["arn"], version_id=version_id)
            if version is None:
                raise ResourceNotFound(
                    f"Pipeline version '{version_id}' of pipeline '{row['arn']}' does not exist."
                )
            return {
                "PipelineArn": row["arn"],
                "PipelineName": row["name"],
                "PipelineDisplayName": row["display_name"],
                "PipelineDefinition": version["definition"],
                "PipelineDescription": row["description"],
                "RoleArn": row["role_arn"],
                "PipelineStatus": row["status"],
                "CreationTime": row["created"],
                "LastModifiedTime": row["modified"],
                "LastRunTime": row["last_run"],
                "ParallelismConfiguration": parallelism_config(row["parallelism"]),
                "PipelineVersionDisplayName": version["display_name"],
                "PipelineVersionDescription": version["description"],
            }

        return await self.db.run_point_read(read)

    async def delete_pipeline(
        self, ctx: RequestContext, pipeline_name: str, client_request_token: str | None = None
    ) -> dict[str, Any]:
        def effect(tx: Tx) -> dict[str, Any]:
            name, _ = arns.pipeline_name_from(pipeline_name)
            row = tx.one(
                "pipeline_get_for_update", account=ctx.account, region=ctx.region, name=name
            )
            if row is None:
                find_pipeline(tx, ctx, pipeline_name)  # raises ResourceNotFound
                raise AssertionError("unreachable")
            if tx.one("pipeline_running_count", pipeline_arn=row["arn"])["n"]:  # type: ignore[index]
                raise ConflictError(
                    f"Pipeline '{row['arn']}' has executions in progress. Stop them "
                    "(StopPipelineExecution) and wait until they end, then delete the pipeline."
                )
            delete_pipeline_rows(tx, row["arn"])
            return {"PipelineArn": row["arn"]}

        # Slow: the pipeline's executions, steps and events all go with it.
        return await run_once(
            self.db, ctx, "DeletePipeline", client_request_token, effect, slow=True
        )

    async def list_pipelines(
        self,
        ctx: RequestContext,
        pipeline_name_prefix: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        next_token: str | None = None,
        max_results: int | None = None,
        managed_by: str | None = None,
    ) -> dict[str, Any]:
        by_name = sort_by == "Name"
        descending = (sort_order or "Descending") == "Descending"
        filters = [pipeline_name_prefix, created_after, created_before, sort_by, sort_order]
        fp = query_fingerprint("ListPipelines", ctx.scope, {"f": filters})
        cursor = decode_token(next_token, fp)
        limit = page_size(max_results)

        def read(tx: Tx) -> list[dict[str, Any]]:
            return tx.all(
                "pipeline_list_by_name" if by_name else "pipeline_list",
                account=ctx.account, region=ctx.region, prefix=pipeline_name_prefix,
                prefix_len=len(pipeline_name_prefix or ""), after=created_after,
                before=created_before, descending=int(descending),
                cursor_seq=None if by_name else cursor, cursor_name=cursor if by_name else None,
                limit=limit + 1,
            )  # fmt: skip

        rows = await self.db.run(read, readonly=True)
        return page(
            "PipelineSummaries", rows, limit, fp,
            lambda r: {
                "PipelineArn": r["arn"],
                "PipelineName": r["name"],
                "PipelineDisplayName": r["display_name"],
                "PipelineDescription": r["description"],
                "RoleArn": r["role_arn"],
                "CreationTime": r["created"],
                "LastModifiedTime": r["modified"],
                "LastExecutionTime": r["last_run"],
            },
            lambda r: r["name"] if by_name else r["seq"],
        )  # fmt: skip

    async def list_pipeline_versions(
        self,
        ctx: RequestContext,
        pipeline_name: str,
        created_after: float | None = None,
        created_before: float | None = None,
        sort_order: str | None = None,
        next_token: str | None = None,
        max_results: int | None = None,
    ) -> dict[str, Any]:
        descending = (sort_order or "Descending") == "Descending"
        filters = [pipeline_name, created_after, created_before, sort_order]
        fp = query_fingerprint("ListPipelineVersions", ctx.scope, {"f": filters})
        cursor = decode_token(next_token, fp)
        limit = page_size(max_results)

        def read(tx: Tx) -> tuple[str, list[dict[str, Any]]]:
            row = find_pipeline(tx, ctx, pipeline_name)
            return row["arn"], tx.all(
                "version_list", pipeline_arn=row["arn"], after=created_after,
                before=created_before, descending=int(descending), cursor=cursor,
                limit=limit + 1,
            )  # fmt: skip

        arn, rows = await self.db.run(read, readonly=True)
        return page(
            "PipelineVersionSummaries", rows, limit, fp,
            lambda r: {
                "PipelineArn": arn,
                "PipelineVersionId": r["version_id"],
                "CreationTime": r["created"],
                "PipelineVersionDescription": r["description"],
                "PipelineVersionDisplayName": r["display_name"],
                "LastExecutionPipelineExecutionArn": r["last_execution_arn"],
            },
            lambda r: r["version_id"],
        )  # fmt: skip

    async def update_pipeline_version(
        self,
        ctx: RequestContext,
        pipeline_arn: str,
        pipeline_version_id: int,
        pipeline_version_display_name: str | None = None,
        pipeline_version_description: str | None = None,
        pipeline_version_alias_operations: Any = None,
    ) -> dict[str, Any]:
        def update(tx: Tx) -> dict[str, Any]:
            row = find_pipeline(tx, ctx, pipeline_arn)
            version = tx.one("version_get", pipeline_arn=row["arn"], version_id=pipeline_version_id)
            if version is None:
                raise ResourceNotFound(
                    f"Pipeline version '{pipeline_version_id}' of pipeline '{row['arn']}' "
                    "does not exist."
                )
            tx.exec(
                "version_update", pipeline_arn=row["arn"], version_id=pipeline_version_id,
                display_name=pipeline_version_display_name
                if pipeline_version_display_name is not None else version["display_name"],
                description=pipeline_version_description
                if pipeline_version_description is not None else version["description"],
            )  # fmt: skip
            return {"PipelineArn": row["arn"], "PipelineVersionId": pipeline_version_id}

        return await self.db.run(update)


def delete_pipeline_rows(tx: Tx, pipeline_arn: str) -> None:
    for query in ("steps", "attempts", "manual_retries", "outbox", "callbacks", "events"):
        tx.exec(f"pipeline_delete_{query}", pipeline_arn=pipeline_arn)
    tx.exec("executions_delete_for_pipeline", pipeline_arn=pipeline_arn)
    tx.exec("versions_delete", pipeline_arn=pipeline_arn)
    tx.exec("step_cache_delete", pipeline_arn=pipeline_arn)
    tx.exec("tags_delete_all", arn=pipeline_arn)
    tx.exec("pipeline_delete", arn=pipeline_arn)
