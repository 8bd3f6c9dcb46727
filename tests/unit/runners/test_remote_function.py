"""Which @step function jobs the local runner refuses up front, and what it says."""

from __future__ import annotations

from sagepipe.runners.contracts.plan import JobPlan
from sagepipe.runners.contracts.remote_function import (
    ClientSdk,
    JobPython,
    client_sdk,
    refusal,
)

DRIVER = "/opt/ml/input/data/sagemaker_remote_function_bootstrap/job_driver.sh"
ARGUMENTS = ["--s3_base_uri", "s3://b/p", "--client_python_version", "3.11",
             "--client_sagemaker_pysdk_version", "2.257.7", "--pipeline_step_name", "S"]  # fmt: skip
CLIENT = ClientSdk("3.11", "2.257.7")


def plan(entrypoint: list[str] | None, arguments: list[str]) -> JobPlan:
    return JobPlan("Training", "img", entrypoint, arguments, {})


def job(python: str = "3.11", sagemaker: str | None = "2.250.0",
        cloudpickle: str | None = "3.1.1") -> JobPython:  # fmt: skip
    return JobPython("/venv/bin/python", python, sagemaker, cloudpickle)


def test_a_step_function_job_is_known_by_the_sdk_bootstrap_channel() -> None:
    assert client_sdk(plan(["/bin/bash", DRIVER], ARGUMENTS)) == CLIENT
    assert client_sdk(plan(["/bin/bash", DRIVER], [])) == ClientSdk(None, None)
    assert client_sdk(plan(["python3", "train.py"], ARGUMENTS)) is None
    assert client_sdk(plan(None, ARGUMENTS)) is None


def test_the_same_python_minor_and_sdk_major_pass() -> None:
    assert refusal(CLIENT, job(), "img") is None
    assert refusal(ClientSdk(None, None), job(python="3.12", sagemaker="3.1"), "img") is None


def test_each_missing_or_mismatched_piece_is_named() -> None:
    reason = refusal(CLIENT, job(python="3.12", sagemaker=None, cloudpickle=None), "img")
    assert reason is not None and reason.startswith("ClientError: ")
    assert "needs Python 3.11 with sagemaker 2.x and cloudpickle" in reason
    assert "has Python 3.12, no sagemaker, no cloudpickle" in reason
    assert "pip install sagemaker==2.257.7" in reason and "--images" in reason
    other = refusal(CLIENT, job(sagemaker="3.27.0"), "img")
    assert other is not None and "has sagemaker 3.27.0." in other


def test_no_python_at_all_says_so() -> None:
    reason = refusal(CLIENT, None, "my-image:1")
    assert reason is not None and "image 'my-image:1' has no `python` on its PATH" in reason
