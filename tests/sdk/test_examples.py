"""Every script in examples/ runs to "Succeeded" against a real sagepipe server.

The boto3 and AWS CLI examples need only the test extra and always run; the SageMaker SDK one
runs where the SDK v2 is installed (the `sdk` extra)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from tests.support.server import ServerProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BIN = os.path.dirname(sys.executable)


def sdk_v2_installed() -> bool:
    try:
        return version("sagemaker").startswith("2.")
    except PackageNotFoundError:
        return False


def run_example(server: ServerProcess, command: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
    env.update(
        SAGEPIPE_URL=server.url,
        PATH=BIN + os.pathsep + env.get("PATH", ""),  # this virtualenv's python and aws
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=180, env=env, cwd=EXAMPLES.parent
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "result: Succeeded", output
    assert "execution Failed" in lines, output  # it failed first, then the retry succeeded
    return done.stdout


def test_boto3_example(server):
    out = run_example(server, [sys.executable, str(EXAMPLES / "boto3_retry.py")])
    assert "Train     Succeeded  attempts=2" in out
    assert "Prepare   Succeeded  attempts=1" in out


@pytest.mark.skipif(
    not os.path.exists(os.path.join(BIN, "aws")),
    reason="AWS CLI not installed (it comes with the test and sdk extras)",
)
def test_cli_example(server):
    out = run_example(server, ["bash", str(EXAMPLES / "cli_retry.sh")])
    assert "Train\tSucceeded\t2\tNone" in out


@pytest.mark.skipif(not sdk_v2_installed(), reason="SageMaker Python SDK v2 not installed")
def test_sdk_example(server):
    out = run_example(server, [sys.executable, str(EXAMPLES / "sdk_retry.py")])
    assert "retried with sagemaker-core" in out
    assert "Train      Succeeded  attempts=2" in out
