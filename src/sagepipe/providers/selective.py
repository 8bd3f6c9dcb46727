"""Selective execution (docs/behaviour.md §6): run only the selected steps, reusing the reference
execution's results for the steps they depend on."""

from __future__ import annotations

from typing import Any

from sagepipe.domain.definition import Definition
from sagepipe.domain.selection import selected_steps, upstream_closure
from sagepipe.domain.states import RUNNING_EXECUTION, StepStatus
from sagepipe.errors import ValidationError
from sagepipe.providers.context import RequestContext
from sagepipe.store.db import Tx


def selection(
    tx: Tx,
    ctx: RequestContext,
    pipeline_arn: str,
    definition: Definition,
    config: dict[str, Any] | None,
) -> frozenset[str] | None:
    """The selected step names, checked against the definition and the reference execution."""
    selected = selected_steps(config)
    if selected is None or config is None:
        return None
    unknown = sorted(selected - definition.steps.keys())
    if unknown:
        raise ValidationError(
            f"SelectedSteps names steps that are not in the pipeline definition: {', '.join(unknown)}."
        )
    needed = upstream_closure(definition, selected)
    source = config.get("SourcePipelineExecutionArn")
    if not needed:
        return selected
    if not source:
        raise ValidationError(
            "SourcePipelineExecutionArn is required: the selected steps depend on "
            f"{', '.join(sorted(needed))}, whose results must come from a reference execution."
        )
    row = tx.one("execution_get", arn=source)
    if (
        row is None
        or (row["account"], row["region"]) != (ctx.account, ctx.region)
        or row["pipeline_arn"] != pipeline_arn
    ):
        raise ValidationError(
            f"SourcePipelineExecutionArn '{source}' is not an execution of pipeline '{pipeline_arn}'."
        )
    if row["status"] in RUNNING_EXECUTION:
        raise ValidationError(
            f"The reference execution '{source}' is still running; select it once it has ended."
        )
    succeeded = {
        r["name"] for r in tx.all("steps_for_execution", execution_arn=source)
        if r["status"] == StepStatus.SUCCEEDED
    }  # fmt: skip
    missing = sorted(needed - succeeded)
    if missing:
        raise ValidationError(
            "The reference execution has no succeeded result for step(s) the selected steps "
            f"depend on: {', '.join(missing)}. Select those steps too, or pick another "
            "SourcePipelineExecutionArn."
        )
    return selected


def reuse_unselected(
    tx: Tx,
    execution_arn: str,
    definition: Definition,
    selected: frozenset[str],
    config: dict[str, Any],
) -> None:
    source = config.get("SourcePipelineExecutionArn")
    if not source:
        return
    for name in sorted(upstream_closure(definition, selected)):
        tx.exec("steps_insert_reused", execution_arn=execution_arn, source_arn=source, name=name)
