"""The `ray` runner behind the runner port (runners/port.py; docs/behaviour.md §12).

Every attempt of a Processing, Training or Transform step is one Ray job per instance,
submitted through Ray's Jobs API with the attempt's job name as its submission_id (with
InstanceCount N, `<job name>-algo-<i>`): a server that restarts, or takes over the execution,
asks Ray about those ids instead of submitting again, and Ray refuses a second submission of
one. Each job runs runners/ray/entrypoint.py, which has the node's warm launcher run the same
supervisor and contracts as the local runner, for its one instance. The outcome is the
supervisor's result, read from the last line of the job's log; a job that ends without one
(its node was lost, the worker died) fails as SageMaker.JOB_INTERNAL_ERROR, which
RetryPolicies can match. When one instance fails or stops, the others are stopped, and the
step ends as that instance did; when all succeed, the step's properties and metrics are
algo-1's.

The Jobs SDK is synchronous HTTP, so every call runs in a thread. While the cluster does not
answer, running steps wait and say so in the server log; nothing is lost: the jobs are Ray's,
and are found again by their ids when it answers."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any

from sagepipe.objectstore.store import StoreConfig
from sagepipe.runners.contracts.plan import ContractError
from sagepipe.runners.jobspec import SpecMaker, outcome_of
from sagepipe.runners.local.images import ImageMap
from sagepipe.runners.port import FAILED, STOPPED, SUCCEEDED, Job, JobRequest, Outcome
from sagepipe.runners.ray.resources import InstanceTypes
from sagepipe.runners.ray.worker import RESULT_MARKER, encode_spec

log = logging.getLogger("sagepipe.ray")
# A job is looked at every 0.1 s for its first 10 s (most steps of a busy pipeline are short,
# and each poll is one small HTTP call to the dashboard), then every second.
FAST_POLL_S, FAST_FOR_S, POLL_S = 0.1, 10.0, 1.0
STOP_AGAIN_S = 5.0  # how often the other instances of a failed job are asked again to stop
UNREACHABLE_BACKOFF_S = (1.0, 2.0, 5.0, 10.0)
MAX_SPEC_BYTES = 120_000  # one command-line argument holds at most 128 KiB on Linux
ENDED = {"SUCCEEDED", "FAILED", "STOPPED"}
# How each step type's Arguments name its instances.
RESOURCES = {"Processing": ("ProcessingResources", "ClusterConfig"),
             "Training": ("ResourceConfig",), "Transform": ("TransformResources",)}  # fmt: skip


class RayUnavailable(Exception):
    pass


class RayRunner:
    name = "ray"
    starts_at_once = True  # Ray queues the job until the cluster has room

    def __init__(
        self, address: str, images: ImageMap, store: StoreConfig, instance_types: InstanceTypes,
        client: Any = None,
    ) -> None:  # fmt: skip
        self.address = address
        self.instance_types = instance_types
        self.specs = SpecMaker(self.name, images, store, "auto", check_commands=False)
        self._client = client
        self._outcomes: dict[str, Outcome] = {}  # ended jobs, by submission id

    # ------------------------------------------------------------------ the port
    def prepare(self, request: JobRequest) -> Job:
        name = request.job["name"]
        _, count = _instances(request.step_type, request.job.get("arguments") or {})
        submissions = [name] if count == 1 else [f"{name}-algo-{i}" for i in range(1, count + 1)]
        return {"submission_id": name, "submissions": submissions, "step_type": request.step_type}

    async def start(self, job: Job) -> None:
        try:
            spec = self.specs.spec(job)
            submits = [self._submission(job, spec, i) for i in range(1, len(_ids(job)) + 1)]
        except ContractError as refused:
            self._outcomes[job["submission_id"]] = Outcome(FAILED, str(refused))
            return
        sent: list[str] = []
        for submit in submits:
            try:
                await self._call(lambda client, submit=submit: client.submit_job(**submit))
                sent.append(submit["submission_id"])
            except RuntimeError as exc:
                if "already exists" in str(exc):  # submitted before: this is the same job
                    sent.append(submit["submission_id"])
                    continue
                await self._stop_all(sent)  # instances that would wait for one never sent
                raise
            except RayUnavailable as exc:
                await self._stop_all(sent)
                raise RuntimeError(
                    f"the Ray cluster at {self.address} did not take the job: {exc}. Check "
                    "that its dashboard (the Jobs API) answers there, then retry the execution."
                ) from None

    def poll(self, job: Job) -> Outcome | None:
        return self._outcomes.get(job["submission_id"])

    async def wait(self, job: Job) -> Outcome:
        key, submissions = job["submission_id"], _ids(job)
        ended: dict[str, Outcome] = {}
        stop_others_at = 0.0  # when to ask again that the others of a failed job stop
        failures = 0
        fast_until = time.monotonic() + FAST_FOR_S
        try:
            while True:
                if (known := self._outcomes.get(key)) is not None:
                    return known
                try:
                    for submission in [s for s in submissions if s not in ended]:
                        outcome = await self._outcome_if_ended(job, submission)
                        if outcome is not None:
                            ended[submission] = outcome
                    running = [s for s in submissions if s not in ended]
                    unsuccessful = any(o.status != SUCCEEDED for o in ended.values())
                    if running and unsuccessful and time.monotonic() >= stop_others_at:
                        # One instance ended badly: the job ends as it did; stop the others
                        # (and again later, should a stop not take).
                        stop_others_at = time.monotonic() + STOP_AGAIN_S
                        await self._stop_all(running)
                    failures = 0
                except RayUnavailable as exc:
                    delay = UNREACHABLE_BACKOFF_S[min(failures, len(UNREACHABLE_BACKOFF_S) - 1)]
                    failures += 1
                    log.warning("Ray at %s does not answer (%s); job %s waits, retrying in %.0f s",
                                self.address, exc, key, delay)  # fmt: skip
                    await asyncio.sleep(delay)
                    continue
                if len(ended) == len(submissions):
                    outcome = _job_outcome([ended[s] for s in submissions])
                    self._outcomes[key] = outcome
                    return outcome
                await asyncio.sleep(FAST_POLL_S if time.monotonic() < fast_until else POLL_S)
        finally:
            self._outcomes.pop(key, None)

    async def stop(self, job: Job) -> None:
        await self._stop_all(_ids(job))

    async def attach(self, job: Job) -> bool:
        """Whether Ray knows the job: found by its ids. Where it knows some of a job's Ray jobs
        and not others (the server went away between two submissions) the missing ones are
        submitted; where it knows none (never submitted, or forgotten by a head that
        restarted) the attempt is lost, not run a second time."""
        known = 0
        for submission in _ids(job):
            try:
                await self._call(lambda client, s=submission: client.get_job_info(s))
                known += 1
            except RayUnavailable:
                return True  # the cluster is away; `wait` finds the job when it answers
            except RuntimeError as exc:
                if "does not exist" not in str(exc):
                    raise
        if known and known < len(_ids(job)):
            await self.start(job)
        return known > 0

    async def logs(self, job: Job) -> str:
        submissions = _ids(job)
        parts = []
        for host, submission in enumerate(submissions, 1):
            try:
                text = await self._call(lambda client, s=submission: client.get_job_logs(s))
            except (RuntimeError, RayUnavailable):
                continue
            if len(submissions) > 1:
                parts.append(f"[sagepipe] algo-{host} (Ray job {submission})")
            parts.append(_without_result(str(text)))
        return "\n".join(parts)

    async def close(self) -> None:
        return None

    # ------------------------------------------------------------------ helpers
    async def _stop_all(self, submissions: list[str]) -> None:
        """stop_job on each; a failure is logged, not raised."""
        for submission in submissions:
            try:
                await self._call(lambda client, s=submission: client.stop_job(s))
            except (RuntimeError, RayUnavailable) as exc:
                log.warning("could not stop Ray job %s: %s", submission, exc)

    def _submission(self, job: Job, spec: dict[str, Any], host: int) -> dict[str, Any]:
        """The submit_job arguments of instance `host`'s Ray job."""
        submissions = _ids(job)
        submission = submissions[host - 1]
        spec = {**spec, "submission_id": submission, "instances_here": [host]}
        if len(submissions) > 1:
            spec.update(siblings=submissions, ray_address=self.address)
        encoded = encode_spec(spec)
        if len(encoded) > MAX_SPEC_BYTES:
            raise ContractError(
                f"ClientError: the job's request takes {len(encoded)} bytes as the ray runner "
                f"sends it (compressed); it takes at most {MAX_SPEC_BYTES}. Make its "
                "Environment or arguments smaller."
            )
        instance_type, _ = _instances(job["step_type"], job["arguments"])
        return {
            "entrypoint": f"{sys.executable} -m sagepipe.runners.ray.entrypoint {encoded}",
            "submission_id": submission,
            "metadata": {
                "sagepipe_job": job["name"],
                "step_type": job["step_type"],
                "instance": f"algo-{host}",
            },  # fmt: skip
            **self.instance_types.request(instance_type),
        }

    async def _outcome_if_ended(self, job: Job, submission: str) -> Outcome | None:
        """The outcome of one instance's Ray job, or None while it runs."""
        try:
            info = await self._call(lambda client: client.get_job_info(submission))
        except RuntimeError as exc:
            if "does not exist" in str(exc):
                return Outcome.lost(
                    f"InternalServerError: Ray has no job {submission} any more; the attempt "
                    "is lost."
                )
            raise
        status = str(getattr(info.status, "value", info.status))
        return await self._ended(job, submission, info, status) if status in ENDED else None

    async def _ended(self, job: Job, submission: str, info: Any, status: str) -> Outcome:
        try:
            text = await self._call(lambda client: client.get_job_logs(submission))
        except (RuntimeError, RayUnavailable):
            text = ""
        result = _result(str(text))
        if result is not None:
            return outcome_of(job, result)
        if status == "STOPPED":
            return Outcome(STOPPED)
        error = str(getattr(info, "error_type", "") or "")
        message = str(getattr(info, "message", "") or "").strip()
        return Outcome.lost(
            f"InternalServerError: Ray ended job {submission} without a result "
            f"({error or status}): {message[:600]}"
        )

    async def _call(self, call: Any) -> Any:
        def run() -> Any:
            try:
                return call(self._ray())
            except OSError as exc:  # requests' errors and Ray's "Failed to connect" are OSErrors
                raise RayUnavailable(str(exc)) from None

        return await asyncio.to_thread(run)

    def _ray(self) -> Any:
        if self._client is None:
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self.address)
        return self._client


def _job_outcome(outcomes: list[Outcome]) -> Outcome:
    """A job's outcome from its instances' (in instance order): the first failure; else, if
    one stopped, stopped; else algo-1's success. (An instance stopped because another failed
    must not make the step look stopped.)"""
    for status in (FAILED, STOPPED):
        found = next((o for o in outcomes if o.status == status), None)
        if found is not None:
            return found
    return outcomes[0]


def _ids(job: Job) -> list[str]:
    """The job's Ray submission ids, one per instance (jobs stored before there were several
    name only the one)."""
    return list(job.get("submissions") or [job["submission_id"]])


def _instances(step_type: str, arguments: dict[str, Any]) -> tuple[str, int]:
    node: Any = arguments
    for key in RESOURCES.get(step_type, ()):
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return "", 1
    try:  # the job's contract refuses a count that is not a number, with its reason
        count = max(int(node.get("InstanceCount") or 1), 1)
    except (TypeError, ValueError):
        count = 1
    return str(node.get("InstanceType") or ""), count


def _result(text: str) -> dict[str, Any] | None:
    for line in reversed(text.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                found = json.loads(line[len(RESULT_MARKER) :])
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def _without_result(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith(RESULT_MARKER))
