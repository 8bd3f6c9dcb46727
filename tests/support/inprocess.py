"""The service in this process, on a temporary SQLite file, with a runner the test controls.

Requests go through the real AWS JSON app (validation, providers, the store), without HTTP;
jobs end when the test says so. Engine behaviour is checked in seconds, with no sleeps."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sagepipe.app import Service, build
from sagepipe.config import Config
from sagepipe.engine.engine import Engine
from sagepipe.gateway.awsjson import Request
from sagepipe.runners.port import STOPPED, SUCCEEDED, Job, JobRequest, Outcome
from tests.support.pipelines import ROLE, definition

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/sagemaker/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass
class FakeJob:
    job: Job
    starts: int = 0
    stops: int = 0
    outcome: asyncio.Future[Outcome] = field(default_factory=asyncio.Future)


class FakeRunner:
    """A runner whose jobs end when the test ends them. `lost` jobs are unknown to it after
    a restart; steps named in `refuse_start` fail to start."""

    name = "fake"
    starts_at_once = False  # the engine's Starting -> Executing on the runner's word

    def __init__(self) -> None:
        self.jobs: dict[str, FakeJob] = {}  # job name -> job
        self.by_step: dict[str, list[FakeJob]] = {}  # step name -> its jobs, oldest first
        self.refuse_start: set[str] = set()
        self.stop_ends_job = True  # a stop request ends the job as Stopped
        self.capacity = asyncio.Event()  # cleared: start waits until it is set
        self.capacity.set()
        self._changed = asyncio.Event()

    # -- the port
    def prepare(self, request: JobRequest) -> Job:
        return {"fake_step": request.step, "fake_attempt": request.attempt}

    async def start(self, job: Job) -> None:
        fake = self._track(job)
        waiting = asyncio.ensure_future(self.capacity.wait())
        await asyncio.wait([waiting, fake.outcome], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if fake.outcome.done():
            return  # stopped while it waited: it never starts
        if job["fake_step"] in self.refuse_start:
            raise RuntimeError("no capacity to start the job")
        fake.starts += 1
        self._touch()

    def poll(self, job: Job) -> Outcome | None:
        fake = self.jobs.get(job["name"])
        return fake.outcome.result() if fake and fake.outcome.done() else None

    async def wait(self, job: Job) -> Outcome:
        return await asyncio.shield(self._track(job).outcome)

    async def stop(self, job: Job) -> None:
        fake = self._track(job)
        fake.stops += 1
        if self.stop_ends_job and not fake.outcome.done():
            fake.outcome.set_result(Outcome(STOPPED))
        self._touch()

    async def attach(self, job: Job) -> bool:
        return job["name"] in self.jobs

    async def logs(self, job: Job) -> str:
        return f"fake job {job['name']}\n"

    async def close(self) -> None:
        return None

    # -- what the test does
    def _track(self, job: Job) -> FakeJob:
        fake = self.jobs.get(job["name"])
        if fake is None:
            fake = self.jobs[job["name"]] = FakeJob(job)
            self.by_step.setdefault(job["fake_step"], []).append(fake)
        return fake

    def _touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def started(self, step: str, attempt: int = 1, timeout: float = 5) -> FakeJob:
        """The job of the step's `attempt`-th started job, once it has been started."""
        return await until(
            lambda: next(
                (j for j in self.by_step.get(step, [])[attempt - 1 : attempt] if j.starts),
                None,
            ),
            self,
            timeout,
        )

    def end(self, step: str, status: str = SUCCEEDED, **outcome: Any) -> None:
        """End the step's latest job."""
        fake = self.by_step[step][-1]
        fake.outcome.set_result(Outcome(status, **outcome))

    def forget(self) -> None:
        """Every job is lost (the runner's own state is gone)."""
        self.jobs.clear()


async def until(
    probe: Callable[[], Any], runner: FakeRunner | None = None, timeout: float = 5
) -> Any:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {probe}")
        await asyncio.sleep(0.005)


class InProcess:
    """One service on `data_dir` with `runner` for compute steps."""

    def __init__(self, data_dir: str, runner: FakeRunner, lease_seconds: float = 5.0) -> None:
        self.config = Config(data_dir=data_dir, lease_seconds=lease_seconds)
        self.runner = runner
        self.service: Service | None = None

    async def start(self) -> InProcess:
        self.service = build(self.config, runner=self.runner)  # type: ignore[arg-type]
        await self.service.start()
        return self

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

    async def restart(self, runner: FakeRunner | None = None) -> None:
        await self.stop()
        if runner is not None:
            self.runner = runner
        await self.start()

    @property
    def engine(self) -> Engine:
        assert self.service is not None
        return self.service.engine

    def second_engine(self) -> Engine:
        """Another engine on the same database, as a second server would run it."""
        services = self.engine.services
        return Engine(services, self.config.lease_seconds)

    async def call(self, operation: str, **body: Any) -> dict[str, Any]:
        assert self.service is not None
        headers = {
            "x-amz-target": f"SageMaker.{operation}",
            "content-type": "application/x-amz-json-1.1",
            "authorization": AUTH,
        }
        request = Request("POST", "/", b"", headers, json.dumps(body).encode())
        response = await self.service.app.respond(request)
        answer = json.loads(response.body)
        if response.status != 200:
            raise ApiError(answer["__type"], answer.get("Message", ""))
        return answer  # type: ignore[no-any-return]

    async def run(self, name: str, steps: list[dict[str, Any]], **start: Any) -> str:
        """Create pipeline `name` and start it; the execution's ARN."""
        await self.call(
            "CreatePipeline", PipelineName=name, PipelineDefinition=definition(steps),
            RoleArn=ROLE, ClientRequestToken=uuid.uuid4().hex,
        )  # fmt: skip
        started = await self.call(
            "StartPipelineExecution", PipelineName=name,
            ClientRequestToken=uuid.uuid4().hex, **start,
        )  # fmt: skip
        return str(started["PipelineExecutionArn"])

    async def status(self, arn: str) -> str:
        described = await self.call("DescribePipelineExecution", PipelineExecutionArn=arn)
        return str(described["PipelineExecutionStatus"])

    async def ended(self, arn: str, timeout: float = 5) -> str:
        async def probe() -> str | None:
            status = await self.status(arn)
            return None if status in ("Executing", "Stopping") else status

        return str(await until(probe, timeout=timeout))

    async def steps(self, arn: str) -> dict[str, dict[str, Any]]:
        listed = await self.call("ListPipelineExecutionSteps", PipelineExecutionArn=arn)
        return {s["StepName"]: s for s in listed["PipelineExecutionSteps"]}

    async def step_status(self, arn: str, step: str) -> str | None:
        return (await self.steps(arn)).get(step, {}).get("StepStatus")

    async def wait_step(self, arn: str, step: str, status: str, timeout: float = 5) -> None:
        async def probe() -> bool:
            return await self.step_status(arn, step) == status

        await until(probe, timeout=timeout)
