"""ListPipelineExecutionSteps: one row per step that has started (docs/behaviour.md §4, §5)."""

from __future__ import annotations

import json
from typing import Any

from sagepipe.domain.definition import stored_definition
from sagepipe.domain.pagination import decode_token, page, page_size, query_fingerprint
from sagepipe.domain.states import ENDED_STEP, StepStatus
from sagepipe.errors import ValidationError
from sagepipe.providers.context import RequestContext
from sagepipe.providers.executions import find_execution
from sagepipe.store.db import Database, Tx


def step_summary(row: dict[str, Any], spec_raw: dict[str, Any]) -> dict[str, Any]:
    # A step waiting out a retry back-off has a failed attempt behind it but has not failed.
    failed = row["status"] == StepStatus.FAILED
    return {
        "StepName": row["name"],
        "StepDisplayName": spec_raw.get("DisplayName"),
        "StepDescription": spec_raw.get("Description"),
        "StartTime": row["started"],
        "EndTime": row["ended"] if row["status"] in ENDED_STEP else None,
        "StepStatus": row["status"],
        "CacheHitResult": {"SourcePipelineExecutionArn": row["cache_source"]}
        if row["cache_source"] else None,
        "FailureReason": row["failure_reason"] if failed else None,
        "Metadata": json.loads(row["metadata"]) if row["metadata"] else None,
        "AttemptCount": row["attempt_count"],
        "SelectiveExecutionResult": {"SourcePipelineExecutionArn": row["selective_source"]}
        if row["selective_source"] else None,
    }  # fmt: skip


class StepsProvider:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list_pipeline_execution_steps(
        self,
        ctx: RequestContext,
        pipeline_execution_arn: str | None = None,
        next_token: str | None = None,
        max_results: int | None = None,
        sort_order: str | None = None,
    ) -> dict[str, Any]:
        if pipeline_execution_arn is None:
            raise ValidationError(
                "1 validation error detected: Value null at 'pipelineExecutionArn' failed to "
                "satisfy constraint: Member must not be null"
            )
        descending = (sort_order or "Descending") == "Descending"
        fp = query_fingerprint(
            "ListPipelineExecutionSteps", ctx.scope, {"a": pipeline_execution_arn, "o": sort_order}
        )
        cursor = decode_token(next_token, fp) or [None, None]
        limit = page_size(max_results)

        def read(tx: Tx) -> tuple[str, list[dict[str, Any]]]:
            execution = find_execution(tx, ctx, pipeline_execution_arn)
            rows = tx.all(
                "steps_page_desc" if descending else "steps_page_asc",
                execution_arn=execution["arn"], cursor_started=cursor[0],
                cursor_name=cursor[1], limit=limit + 1,
            )  # fmt: skip
            return execution["definition"], rows

        definition_text, rows = await self.db.run(read, readonly=True)
        specs = stored_definition(definition_text).steps
        return page(
            "PipelineExecutionSteps", rows, limit, fp,
            lambda r: step_summary(r, specs[r["name"]].raw if r["name"] in specs else {}),
            lambda r: [r["started"], r["name"]],
        )  # fmt: skip
