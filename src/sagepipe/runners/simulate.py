"""The `simulate` runner (docs/behaviour.md §8): no real work. Each attempt's outcome and
duration are decided when it is prepared and stored with the job, so a restarted server
re-attaches to the same job and ends it at the same moment with the same outcome."""

from __future__ import annotations

import asyncio
import time

from sagepipe.runners.faults import SharedFaultRules
from sagepipe.runners.port import FAILED, STOPPED, SUCCEEDED, Job, JobRequest, Outcome

DEFAULT_EXCEPTION = None  # an unlabelled failure matches no RetryPolicy


class SimulateRunner:
    name = "simulate"
    starts_at_once = True

    def __init__(self, faults: SharedFaultRules, default_duration: float = 0.0) -> None:
        self.faults = faults
        self.default_duration = default_duration
        self._stops: dict[str, asyncio.Event] = {}  # job name -> its stop request

    def prepare(self, request: JobRequest) -> Job:
        """The attempt's fate, from the fault rules that match it."""
        step, attempt = request.step, request.attempt
        rule = self.faults.match(request.pipeline, step)
        plan: Job = {"duration": self.default_duration, "outcome": SUCCEEDED}
        if rule is None:
            return plan
        if rule.duration_seconds is not None:
            plan["duration"] = rule.duration_seconds
        if rule.outputs is not None:
            plan["outputs"] = rule.outputs
        if rule.property_files is not None:
            plan["property_files"] = rule.property_files
        if rule.fails(attempt):
            plan["outcome"] = FAILED
            plan["failure_reason"] = rule.failure_reason or (
                f"ClientError: simulated failure of step '{step}' (attempt {attempt})"
            )
            plan["failure_type"] = rule.exception_type or DEFAULT_EXCEPTION
        return plan

    async def start(self, job: Job) -> None:
        return None  # nothing runs: the plan is the job

    def poll(self, job: Job) -> Outcome | None:
        if job["started"] + job["duration"] > time.time():
            return None
        return _planned(job)

    async def wait(self, job: Job) -> Outcome:
        stop = self._stops.setdefault(job["name"], asyncio.Event())
        try:
            remaining = job["started"] + job["duration"] - time.time()
            if remaining > 0:
                try:
                    await asyncio.wait_for(stop.wait(), remaining)
                    return Outcome(STOPPED)
                except TimeoutError:
                    pass
            return _planned(job)
        finally:
            self._stops.pop(job["name"], None)

    async def stop(self, job: Job) -> None:
        self._stops.setdefault(job["name"], asyncio.Event()).set()

    async def attach(self, job: Job) -> bool:
        return True  # a plan cannot be lost

    async def close(self) -> None:
        return None

    async def logs(self, job: Job) -> str:
        outcome = job["outcome"]
        lines = [f"sagepipe simulate: job {job['name']} started; planned outcome {outcome}."]
        if outcome == FAILED:
            lines.append(f"sagepipe simulate: {job.get('failure_reason')}")
        return "\n".join(lines) + "\n"


def _planned(job: Job) -> Outcome:
    if job["outcome"] == SUCCEEDED:
        return Outcome(SUCCEEDED)  # properties follow from the job when read
    return Outcome(FAILED, job.get("failure_reason"), job.get("failure_type"))
