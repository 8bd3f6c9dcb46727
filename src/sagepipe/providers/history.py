"""The attempt history of an execution (docs/behaviour.md §9): every attempt of every step, and every
manual retry, oldest first. Nothing here is ever overwritten."""

from __future__ import annotations

import json
from typing import Any

from sagepipe.store.db import Database, Tx


def _job(attempt: dict[str, Any]) -> dict[str, Any]:
    job = json.loads(attempt["job"]) if attempt["job"] else None
    return job if isinstance(job, dict) else {}


class HistoryProvider:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def execution_account(self, execution_id: str) -> str | None:
        """The account an execution belongs to; None if there is no such execution."""
        row = await self.db.run(
            lambda tx: tx.one("execution_get_by_id", exec_id=execution_id), readonly=True
        )
        return None if row is None else str(row["account"])

    async def attempts(self, execution_id: str) -> dict[str, Any] | None:
        def read(tx: Tx) -> dict[str, Any] | None:
            row = tx.one("execution_get_by_id", exec_id=execution_id)
            if row is None:
                return None
            attempts = tx.all("attempts_for_execution", execution_arn=row["arn"])
            retries = tx.all("manual_retries_for_execution", execution_arn=row["arn"])
            return {
                "execution_arn": row["arn"],
                "status": row["status"],
                "attempts": [
                    {
                        "step": a["name"],
                        "attempt": a["attempt"],
                        "manual_retry": a["manual_retry"],
                        "status": a["status"],
                        "start_time": a["started"],
                        "end_time": a["ended"],
                        "failure_reason": a["failure_reason"],
                        "metadata": json.loads(a["metadata"]) if a["metadata"] else None,
                        "job_name": _job(a).get("name"),
                        # The Arguments as resolved for this attempt: what references fed it.
                        "arguments": _job(a).get("arguments"),
                    }
                    for a in attempts
                ],
                "manual_retries": [
                    {
                        "retry": r["retry_no"],
                        "time": r["created"],
                        "token": r["token"],
                        "parallelism": r["parallelism"],
                        "rerun": sorted(
                            {a["name"] for a in attempts if a["manual_retry"] == r["retry_no"]}
                        ),
                    }
                    for r in retries
                ],
            }

        return await self.db.run(read, readonly=True)

    async def attempt_job(
        self, execution_id: str, step: str, attempt: int | None
    ) -> tuple[int, dict[str, Any]] | None:
        """(attempt number, job document) of the step's given attempt, or of its latest;
        None when the execution, the step or the attempt does not exist."""

        def read(tx: Tx) -> list[dict[str, Any]] | None:
            row = tx.one("execution_get_by_id", exec_id=execution_id)
            if row is None:
                return None
            return tx.all("attempts_for_execution", execution_arn=row["arn"])

        attempts = await self.db.run(read, readonly=True)
        mine = [a for a in attempts or [] if a["name"] == step]
        if attempt is not None:
            mine = [a for a in mine if a["attempt"] == attempt]
        if not mine:
            return None
        latest = max(mine, key=lambda a: a["attempt"])
        return latest["attempt"], _job(latest)
