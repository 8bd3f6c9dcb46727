"""The `simulate` runner (SPEC §8): no real work. Each attempt's outcome and duration are
decided when it starts and stored with the job, so a restarted server re-attaches to the same
job and finishes it at the same moment with the same outcome."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sagepipe.runners.faults import SharedFaultRules

DEFAULT_EXCEPTION = None  # an unlabelled failure matches no RetryPolicy


class SimulateRunner:
    name = "simulate"

    def __init__(self, faults: SharedFaultRules, default_duration: float = 0.0) -> None:
        self.faults = faults
        self.default_duration = default_duration

    def plan(self, pipeline: str, step: str, attempt: int) -> dict[str, Any]:
        """The attempt's fate: stored durably before the attempt is acknowledged as started."""
        rule = self.faults.match(pipeline, step)
        plan: dict[str, Any] = {"duration": self.default_duration, "outcome": "Succeeded"}
        if rule is None:
            return plan
        if rule.duration_seconds is not None:
            plan["duration"] = rule.duration_seconds
        if rule.outputs is not None:
            plan["outputs"] = rule.outputs
        if rule.property_files is not None:
            plan["property_files"] = rule.property_files
        if rule.fails(attempt):
            plan["outcome"] = "Failed"
            plan["failure_reason"] = rule.failure_reason or (
                f"ClientError: simulated failure of step '{step}' (attempt {attempt})"
            )
            plan["failure_type"] = rule.exception_type or DEFAULT_EXCEPTION
        return plan

    async def wait(self, job: dict[str, Any]) -> None:
        """Returns when the job ends; its outcome is in the job's plan."""
        remaining = job["started"] + job["duration"] - time.time()
        if remaining > 0:
            await asyncio.sleep(remaining)
