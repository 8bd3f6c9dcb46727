"""One job's spec, and its outcome from the supervisor's result: what the local and the Ray
launchers share, so the container contracts have one implementation (docs/behaviour.md §11,
§12).

The spec is everything the supervisor (runners/local/supervisor.py) needs, as JSON: the plan
(what to stage, run and upload), the command, the environment, the object store and the
sandbox. The result is the supervisor's result.json."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagepipe.objectstore.store import StoreConfig
from sagepipe.runners.contracts import elsewhere
from sagepipe.runners.contracts.plan import ContractError, JobPlan
from sagepipe.runners.contracts.processing import processing_plan
from sagepipe.runners.contracts.remote_function import PROBE, JobPython, client_sdk, refusal
from sagepipe.runners.contracts.training import training_plan
from sagepipe.runners.contracts.transform import transform_plan
from sagepipe.runners.local.images import ImageMap
from sagepipe.runners.port import FAILED, STOPPED, SUCCEEDED, Job, Outcome
from sagepipe.runners.properties import jsonable, simulated_properties, utc

# Each step type's plan from its job: resolved arguments, name, ARN (and a Transform's model,
# which the engine looked up when the step started).
PLANS: dict[str, Callable[[Job], JobPlan]] = {
    "Processing": lambda job: processing_plan(job["arguments"], job["name"], job["arn"]),
    "Training": lambda job: training_plan(job["arguments"], job["name"], job["arn"]),
    "Transform": lambda job: transform_plan(
        job["arguments"], job["name"], job["arn"], job.get("model")
    ),
}
# Variables a job inherits from the server; the rest of its environment is the job's own.
INHERITED = ("HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME")


@dataclass(frozen=True)
class SpecMaker:
    """Turns a job document into the supervisor's spec, for the runner named `runner`."""

    runner: str
    images: ImageMap
    store: StoreConfig
    sandbox: str  # bwrap, unshare, or auto (chosen where the job runs)
    stop_grace_seconds: float = 30.0
    # The local runner looks for the job's command on this machine before it starts; on a
    # cluster the worker's environment decides, and a missing command fails the job there.
    check_commands: bool = True

    def spec(self, job: Job) -> dict[str, Any]:
        step_type = job["step_type"]
        if step_type in elsewhere.WHY:
            raise ContractError(elsewhere.refusal(step_type, self.runner))
        if step_type not in PLANS:
            raise ContractError(
                f"ClientError: the {self.runner} runner does not run {step_type} steps yet."
            )
        plan = PLANS[step_type](job)
        profile = self.images.lookup(plan.image)
        environment = {k: os.environ[k] for k in INHERITED if k in os.environ}
        paths = [str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)]
        if profile is not None:
            if profile.venv:
                paths.insert(0, os.path.join(profile.venv, "bin"))
            environment.update(profile.environment)
        environment["PATH"] = os.pathsep.join(paths)
        environment["PYTHONUNBUFFERED"] = "1"  # log lines as they are printed
        environment.update(self.store.job_environment())
        environment.update(plan.environment)
        command = self._command(plan, profile.entrypoint if profile else None, environment)
        return {
            "job_name": job["name"], "job_arn": job["arn"], "plan": plan.to_json(),
            "command": command, "environment": environment, "sandbox": self.sandbox,
            "store": self.store.to_json(), "stop_grace_seconds": self.stop_grace_seconds,
            "cwd": "/opt/ml",
        }  # fmt: skip

    def _command(
        self, plan: JobPlan, image_entrypoint: list[str] | None, environment: dict[str, str]
    ) -> list[str]:
        if plan.entrypoint:
            command = plan.entrypoint + plan.arguments
        elif image_entrypoint:
            command = image_entrypoint + plan.arguments
        elif plan.script_mode:
            command = ["train", *plan.arguments]  # the sagemaker-training toolkit
        else:
            raise ContractError(
                f"ClientError: image '{plan.image}' has no command sagepipe knows: the request "
                "gives no ContainerEntrypoint and no --images entry maps an entrypoint for it. "
                "Add one to the file given with --images."
            )
        program = command[0]
        if program.startswith("/opt/ml/") or not self.check_commands:
            return command  # staged with the inputs, or looked for where the job runs
        if shutil.which(program, path=environment["PATH"]) is None:
            hint = (
                " Script mode runs the sagemaker-training toolkit's `train`: pip install "
                "sagemaker-training into the job's environment."
                if plan.script_mode and program == "train"
                else ""
            )
            raise ContractError(
                f"ClientError: the command '{program}' of image '{plan.image}' was not found in "
                f"the job's environment (PATH={environment['PATH']}).{hint} Map the image to "
                "an environment that has it with --images."
            )
        return command


async def check_remote_function(spec: dict[str, Any]) -> None:
    """A @step function's job: refuse it up front when the job's `python` cannot load what
    the client pickled (contracts/remote_function.py)."""
    plan = JobPlan.from_json(spec["plan"])
    client = client_sdk(plan)
    if client is None:
        return
    environment = spec["environment"]
    python = shutil.which("python", path=environment["PATH"])
    found = None
    if python is not None:
        probe = await asyncio.create_subprocess_exec(
            python, "-c", PROBE, env=environment,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        output, errors = await probe.communicate()
        try:
            found = JobPython.from_probe(python, output.decode())
        except (ValueError, KeyError):
            raise ContractError(
                f"ClientError: the job's python ({python}) for image '{plan.image}' could not "
                f"be run: {errors.decode(errors='replace').strip()[-300:] or 'no answer'}"
            ) from None
    reason = refusal(client, found, plan.image)
    if reason is not None:
        raise ContractError(reason)


def outcome_of(job: Job, result: dict[str, Any]) -> Outcome:
    """The step's outcome from the supervisor's result.json."""
    status = result.get("status")
    if status != SUCCEEDED:
        return Outcome(
            STOPPED if status == STOPPED else FAILED,
            result.get("failure_reason"),
            result.get("failure_type"),
            metrics=result.get("metrics") or [],
        )
    properties = simulated_properties(
        job["step_type"], job["arguments"], job["name"], job["arn"], step=job.get("top"),
        started=utc(result.get("training_start") or job["started"]),
        ended=utc(result.get("training_end") or result.get("ended") or job["started"]),
    )  # fmt: skip
    metrics = result.get("metrics") or []
    if job["step_type"] == "Training":
        properties["FinalMetricDataList"] = [
            dict(m, Timestamp=utc(m["Timestamp"])) for m in metrics
        ]
    if result.get("exit_message") is not None and job["step_type"] == "Processing":
        properties["ExitMessage"] = result["exit_message"]
    return Outcome(SUCCEEDED, properties=jsonable(properties), metrics=metrics)


def hosts_file(instance_count: int, addresses: dict[int, str] | None = None) -> str:
    """/etc/hosts as a job sees it: this machine's, with algo-1..N on loopback, or each at
    its address in `addresses` (the nodes a Ray job's instances run on)."""
    try:
        base = Path("/etc/hosts").read_text()
    except OSError:
        base = "127.0.0.1 localhost\n"
    where: dict[str, list[str]] = {}
    for i in range(1, max(instance_count, 1) + 1):
        where.setdefault((addresses or {}).get(i, "127.0.0.1"), []).append(f"algo-{i}")
    lines = "".join(f"{address} {' '.join(names)}\n" for address, names in where.items())
    return base.rstrip("\n") + "\n" + lines
