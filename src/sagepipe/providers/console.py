"""What the console reads (docs/behaviour.md §15), each in one round trip: a page of
pipelines with their last execution, a page of a pipeline's executions (by status), an
execution with the state of every step, the layout of its definition, and one step's
properties. Reads only; the console acts through the SageMaker API itself."""

from __future__ import annotations

import json
import re
from typing import Any

from sagepipe.domain.step_graph import layout_of
from sagepipe.engine.step_properties import buildable, job_properties
from sagepipe.errors import ResourceNotFound, ValidationError
from sagepipe.store.db import Database, Tx

PIPELINES_PAGE = 50
EXECUTIONS_PAGE = 50
STATUSES = ("Executing", "Stopping", "Stopped", "Failed", "Succeeded")
PIPELINE_NAME = re.compile(r"[A-Za-z0-9](-*[A-Za-z0-9]){0,255}")


class ConsoleProvider:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def pipelines(self, account: str, region: str, after: str | None) -> dict[str, Any]:
        if after is not None and not PIPELINE_NAME.fullmatch(after):
            raise ValidationError("after must be the `next` of the page before: a pipeline name.")

        def read(tx: Tx) -> dict[str, Any]:
            rows = tx.all("console_pipelines", account=account, region=region, after=after,
                          limit=PIPELINES_PAGE + 1)  # fmt: skip
            more = len(rows) > PIPELINES_PAGE
            pipelines = []
            for row in rows[:PIPELINES_PAGE]:
                last = tx.one("console_last_execution", pipeline_arn=row["arn"])
                pipelines.append({
                    "name": row["name"], "arn": row["arn"], "versions": row["latest_version"],
                    "created": row["created"],
                    "last_execution": None if last is None else {
                        "id": last["exec_id"], "status": last["status"], "start": last["created"]},
                })  # fmt: skip
            return {"pipelines": pipelines, "next": pipelines[-1]["name"] if more else None}

        return await self.db.run(read, readonly=True)

    async def executions(
        self, account: str, region: str, name: str, status: str | None, cursor: str | None
    ) -> dict[str, Any] | None:
        if status is not None and status not in STATUSES:
            raise ValidationError(f"status must be one of {', '.join(STATUSES)}.")
        if cursor is not None and not (cursor.isdigit() and len(cursor) <= 18):
            raise ValidationError("next must be the `next` of the page before.")

        def read(tx: Tx) -> dict[str, Any] | None:
            pipeline = tx.one("console_pipeline", account=account, region=region, name=name)
            if pipeline is None:
                return None
            arn = pipeline["arn"]
            rows = tx.all("console_executions", pipeline_arn=arn, status=status,
                          cursor=int(cursor) if cursor else None, limit=EXECUTIONS_PAGE + 1)  # fmt: skip
            total = tx.one("console_execution_count", pipeline_arn=arn, status=status)
            more = len(rows) > EXECUTIONS_PAGE
            return {
                "pipeline": {"name": pipeline["name"], "arn": arn,
                             "versions": pipeline["latest_version"]},
                "total": total["n"] if total else 0,
                "executions": [_execution(r) for r in rows[:EXECUTIONS_PAGE]],
                "next": str(rows[EXECUTIONS_PAGE - 1]["seq"]) if more else None,
            }  # fmt: skip

        return await self.db.run(read, readonly=True)

    async def execution(self, execution_id: str) -> dict[str, Any] | None:
        """The execution and the state of each step that has started (the live view)."""

        def read(tx: Tx) -> dict[str, Any] | None:
            row = tx.one("execution_get_by_id", exec_id=execution_id)
            if row is None:
                return None
            steps = tx.all("console_step_states", execution_arn=row["arn"])
            return {
                "execution": {**_execution(row), "parallelism": row["parallelism"],
                              "pipeline": row["pipeline_arn"].rsplit("/", 1)[1],
                              "version": row["version_id"]},
                "steps": {s["name"]: {
                    "status": s["status"], "attempts": s["attempt_count"],
                    "outcome": None if s["outcome"] is None else bool(s["outcome"]),
                    "failure_reason": s["failure_reason"], "start": s["first_start"],
                    "end": s["ended"]} for s in steps},
            }  # fmt: skip

        return await self.db.run(read, readonly=True)

    async def graph(self, execution_id: str) -> dict[str, Any] | None:
        row = await self.db.run(
            lambda tx: tx.one("execution_get_by_id", exec_id=execution_id), readonly=True
        )
        return None if row is None else layout_of(row["definition"])

    async def step(self, execution_id: str, name: str) -> dict[str, Any] | None:
        def read(tx: Tx) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
            row = tx.one("execution_get_by_id", exec_id=execution_id)
            if row is None:
                return None
            return row, tx.one("console_step", execution_arn=row["arn"], name=name)

        found = await self.db.run(read, readonly=True)
        if found is None:
            return None
        execution, step = found
        if step is None:
            raise ResourceNotFound(
                f"Pipeline execution '{execution_id}' has no step '{name}' that has started."
            )
        return {
            "status": step["status"], "attempts": step["attempt_count"],
            "failure_reason": step["failure_reason"],
            "metadata": json.loads(step["metadata"]) if step["metadata"] else None,
            "properties": _properties(step, execution),
        }  # fmt: skip


def _properties(step: dict[str, Any], execution: dict[str, Any]) -> dict[str, Any] | None:
    """What `Steps.<name>.*` reads: stored, or (a succeeded job's) built from its job as the
    engine builds it (engine/step_properties.py)."""
    if step["properties"]:
        return dict(json.loads(step["properties"]))
    job = json.loads(step["job"]) if step["job"] else None
    if not isinstance(job, dict) or not buildable(step["status"], step["ended"], job):
        return None
    return job_properties(step["step_type"], job, step["ended"], execution["region"],
                          execution["account"])  # fmt: skip


def _execution(row: dict[str, Any]) -> dict[str, Any]:
    ended = row["status"] in ("Stopped", "Failed", "Succeeded")
    return {
        "id": row["exec_id"], "arn": row["arn"], "status": row["status"],
        "display_name": row["display_name"], "failure_reason": row["failure_reason"],
        "start": row["created"], "end": row["modified"] if ended else None,
        "retries": row["retry_count"],
    }  # fmt: skip
