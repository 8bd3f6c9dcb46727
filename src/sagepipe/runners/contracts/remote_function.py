"""@step functions (the SageMaker Python SDK's remote functions, docs/behaviour.md §11.6).

Their training job runs the SDK's own `job_driver.sh`, staged from the
`sagemaker_remote_function_bootstrap` channel: it runs `python` from the job's PATH, which
imports the SDK and unpickles the function and its arguments with cloudpickle. Pickles only
load in the Python minor version that made them, and the SDK only in its own major line, so
what the job's environment has is checked before the job starts: a mismatch fails the step
with a reason that says what to install, not with an unpickling traceback in the log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sagepipe.runners.contracts.plan import JobPlan

BOOTSTRAP_CHANNEL = "sagemaker_remote_function_bootstrap"

# Run by the job's `python`: its version and those of the two packages a @step job imports.
PROBE = """
import json, sys
from importlib import metadata
def installed(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
print(json.dumps({"python": "%d.%d" % sys.version_info[:2],
                  "sagemaker": installed("sagemaker"), "cloudpickle": installed("cloudpickle")}))
"""


@dataclass(frozen=True)
class ClientSdk:
    """What the client that pickled the function ran (from the job's ContainerArguments)."""

    python: str | None  # "3.11"
    sagemaker: str | None  # "2.257.7"


@dataclass(frozen=True)
class JobPython:
    """What the job's `python` has (PROBE's answer)."""

    path: str
    python: str
    sagemaker: str | None
    cloudpickle: str | None

    @classmethod
    def from_probe(cls, path: str, output: str) -> JobPython:
        found: dict[str, Any] = json.loads(output)
        return cls(path, str(found["python"]), found.get("sagemaker"), found.get("cloudpickle"))


def client_sdk(plan: JobPlan) -> ClientSdk | None:
    """The client's versions when `plan` is a @step function's job, else None."""
    if not any(BOOTSTRAP_CHANNEL in part for part in plan.entrypoint or []):
        return None
    return ClientSdk(
        _flag(plan.arguments, "--client_python_version"),
        _flag(plan.arguments, "--client_sagemaker_pysdk_version"),
    )


def refusal(client: ClientSdk, job: JobPython | None, image: str) -> str | None:
    """The step's FailureReason when the job's environment cannot run the client's function."""
    wanted = _wanted(client)
    if job is None:
        return (
            f"ClientError: this @step function's job needs {wanted}, and the environment of "
            f"image '{image}' has no `python` on its PATH. Map the image to a virtualenv that "
            "has them with --images."
        )
    problems = []
    if client.python and job.python != client.python:
        problems.append(f"Python {job.python}")
    if job.sagemaker is None:
        problems.append("no sagemaker")
    elif client.sagemaker and _major(job.sagemaker) != _major(client.sagemaker):
        problems.append(f"sagemaker {job.sagemaker}")
    if job.cloudpickle is None:
        problems.append("no cloudpickle")
    if not problems:
        return None
    return (
        f"ClientError: this @step function's job needs {wanted}, as the client that pickled it; "
        f"the environment of image '{image}' ({job.path}) has {', '.join(problems)}. Map the "
        "image with --images to a virtualenv with that Python and `pip install "
        f"sagemaker=={client.sagemaker or '<your version>'}`."
    )


def _wanted(client: ClientSdk) -> str:
    python = f"Python {client.python}" if client.python else "the client's Python"
    sdk = f"sagemaker {_major(client.sagemaker)}.x" if client.sagemaker else "sagemaker"
    return f"{python} with {sdk} and cloudpickle"


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def _flag(arguments: list[str], name: str) -> str | None:
    for i, argument in enumerate(arguments[:-1]):
        if argument == name:
            return str(arguments[i + 1])
    return None
