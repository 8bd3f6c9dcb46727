"""Step caching (docs/behaviour.md §7): a succeeded step of the same pipeline with the same
cache key, within its ExpireAfter, is reused instead of run."""

from __future__ import annotations

import json
from typing import Any

from sagepipe.domain.cache_key import cache_key
from sagepipe.domain.definition import StepSpec, iso_duration_seconds
from sagepipe.domain.records import ExecutionRecord, StepRecord
from sagepipe.engine.batch import Batch
from sagepipe.engine.step_properties import properties_of
from sagepipe.store.db import Database


def step_key(spec: StepSpec, arguments: Any, top: dict[str, Any]) -> str:
    """The key of a run of `spec` with these resolved Arguments and top-level step members
    (the check steps' SkipCheck, RegisterNewBaseline... are step members): only the
    attributes AWS keys for the step type (domain/cache_key.py)."""
    return cache_key(spec.type, arguments, spec.property_files, step_name=spec.name, step=top)


async def lookup(
    db: Database,
    execution: ExecutionRecord,
    spec: StepSpec,
    arguments: Any,
    top: dict[str, Any],
    now: float,
) -> dict[str, Any] | None:
    """The cached result to reuse for this step, if there is one."""
    key = step_key(spec, arguments, top)
    hit = await db.run(
        lambda tx: tx.one("cache_get", pipeline_arn=execution.pipeline_arn, cache_key=key),
        readonly=True,
    )
    if hit is None or hit["execution_arn"] == execution.arn:
        return None
    expire = spec.cache_expire_after
    if expire and now - hit["created"] > iso_duration_seconds(expire):
        return None
    return hit


def reuse(record: StepRecord, hit: dict[str, Any]) -> None:
    record.properties = json.loads(hit["properties"])
    record.metadata = json.loads(hit["metadata"]) if hit["metadata"] else None
    record.job = json.loads(hit["job"]) if hit.get("job") else None
    record.cache_source = hit["execution_arn"]


def remember(batch: Batch, execution: ExecutionRecord, spec: StepSpec, record: StepRecord) -> None:
    """Keep a succeeded step's result for later executions, in the tick that ends it."""
    if not spec.cache_enabled or record.job is None:
        return
    key = step_key(spec, record.job.get("arguments"), record.job.get("top") or {})
    batch.statements.append(
        (
            "cache_put",
            {"pipeline_arn": execution.pipeline_arn, "cache_key": key,
             "step_name": record.name,
             "properties": json.dumps(properties_of(record, execution)),
             "metadata": json.dumps(record.metadata) if record.metadata else None,
             "job": record.job_text()},
        )
    )  # fmt: skip
