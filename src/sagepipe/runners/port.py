"""The runner port: how the engine hands a step's job to whatever does the work.

A job's life, as the engine drives it:
1. `prepare(job)` (pure, no side effects) adds what the runner needs to find the job again to
   the job document. The engine stores that document with the attempt, in the same commit that
   acknowledges the start, before anything runs.
2. `start(job)` after that commit. It is idempotent: a job already started is left alone.
3. `wait(job)` until it ends, with its Outcome; `poll(job)` is the same without waiting (None
   while it runs), so a job whose end is already known ends in the tick that started it.
4. `stop(job)` asks it to stop; `wait` then answers (Stopped, or how it ended if it raced).
5. `close()` when the server stops; jobs go on running.
6. After a restart or a lease takeover the engine calls `attach(job)` for every job that had
   not ended: False means the runner has lost it, and the attempt fails as
   SageMaker.JOB_INTERNAL_ERROR (which RetryPolicies can match).

The job document is a JSON object: the engine's members (`kind`, `name`, `arn`, `started`,
`arguments`, `top`, `runner`) plus the runner's own from `prepare`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Job = dict[str, Any]

SUCCEEDED, FAILED, STOPPED = "Succeeded", "Failed", "Stopped"
# The RetryPolicies exception type of a job the runner lost or could not run at all.
JOB_INTERNAL_ERROR = "SageMaker.JOB_INTERNAL_ERROR"


@dataclass(frozen=True)
class Outcome:
    """How a job ended."""

    status: str  # SUCCEEDED, FAILED or STOPPED
    failure_reason: str | None = None
    failure_type: str | None = None  # the RetryPolicies exception type; None matches none
    # The job's Describe* response, when the runner knows it; None: derived from the job's
    # Arguments when first read (engine/step_properties.py), as for a simulated job.
    properties: dict[str, Any] | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)  # FinalMetricDataList items

    @classmethod
    def lost(cls, reason: str) -> Outcome:
        return cls(FAILED, reason, JOB_INTERNAL_ERROR)


@dataclass(frozen=True)
class JobRequest:
    """What `prepare` is told about the attempt whose job it prepares."""

    pipeline: str  # the pipeline's name
    step: str
    step_type: str
    attempt: int  # the step's AttemptCount for this attempt
    job: Job


class Runner(Protocol):
    name: str
    # True: `start` never waits, so a step is Executing as soon as its job is prepared.
    # False: `start` may wait for capacity; the step stays Starting until it returns.
    starts_at_once: bool

    def prepare(self, request: JobRequest) -> Job:
        """The members to add to the job document before it is stored (no side effects)."""
        ...

    async def start(self, job: Job) -> None: ...

    def poll(self, job: Job) -> Outcome | None: ...

    async def wait(self, job: Job) -> Outcome: ...

    async def stop(self, job: Job) -> None: ...

    async def attach(self, job: Job) -> bool: ...

    async def logs(self, job: Job) -> str: ...

    async def close(self) -> None:
        """The server is stopping: let go of what the runner holds (running jobs go on)."""
        ...
