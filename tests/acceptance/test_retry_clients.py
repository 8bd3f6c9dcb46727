"""RetryPipelineExecution from real clients other than boto3 (docs/behaviour.md §5, §10): the AWS CLI,
sagemaker-core's PipelineExecution.retry(), and `sagepipe retry`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from typing import Any

import boto3
import pytest

from tests.support.pipelines import create, processing, steps_by_name
from tests.support.server import ServerProcess

AWS = os.path.join(os.path.dirname(sys.executable), "aws")
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIDTEST",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def diamond() -> list[dict[str, Any]]:
    return [
        processing("A"),
        processing("B", ["A"]),
        processing("C", ["A"]),
        processing("D", ["B", "C"]),
        processing("E", ["D"]),
        processing("F", ["D"]),
    ]


def wait_done(sm: Any, arn: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if described["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return dict(described)
        assert time.time() < deadline, f"{arn} still {described['PipelineExecutionStatus']}"
        time.sleep(0.03)


def history(server: ServerProcess, arn: str) -> dict[str, Any]:
    status, body = server.extension(
        "GET", f"/_sagepipe/executions/{arn.rsplit('/', 1)[1]}/attempts"
    )
    assert status == 200, body
    return dict(body)


def failed_diamond(server: ServerProcess, sm: Any, name: str, **rule: Any) -> str:
    """A diamond execution that failed at C (the first attempt of C fails)."""
    create(sm, name, diamond())
    server.set_faults([{"pipeline": name, "step": "C", "fail_attempts": 1, **rule}])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Failed"
    return str(arn)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull)
    env.update(AWS_SHARED_CREDENTIALS_FILE=os.devnull, **extra)
    return env


# --------------------------------------------------------------------------------- AWS CLI
def aws(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AWS, "sagemaker", *args, "--endpoint-url", server.url, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**CREDENTIALS),
    )


def test_aws_cli_retry_fills_in_a_token(server, sm, name):
    arn = failed_diamond(server, sm, name)
    done = aws(server, "retry-pipeline-execution", "--pipeline-execution-arn", arn)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"PipelineExecutionArn": arn}
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    [manual] = history(server, arn)["manual_retries"]
    assert uuid.UUID(manual["token"])  # the CLI's own idempotency token
    assert manual["rerun"] == ["C", "D", "E", "F"]
    assert steps_by_name(sm, arn)["C"]["AttemptCount"] == 2


def test_aws_cli_retry_with_a_client_request_token_is_idempotent(server, sm, name):
    arn = failed_diamond(server, sm, name)
    token = "cli-token-" + uuid.uuid4().hex
    args = ["retry-pipeline-execution", "--pipeline-execution-arn", arn]
    first = aws(server, *args, "--client-request-token", token)
    assert first.returncode == 0, first.stderr
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    again = aws(server, *args, "--client-request-token", token)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout) == {"PipelineExecutionArn": arn}
    [manual] = history(server, arn)["manual_retries"]
    assert manual["token"] == token

    # Without the token the request is new, and a Succeeded execution cannot be retried.
    refused = aws(server, *args)
    assert refused.returncode != 0
    assert "ConflictException" in refused.stderr and "Succeeded" in refused.stderr


def test_aws_cli_retry_with_a_parallelism_configuration(server, sm, name):
    arn = failed_diamond(server, sm, name)
    done = aws(
        server,
        "retry-pipeline-execution",
        "--pipeline-execution-arn",
        arn,
        "--parallelism-configuration",
        "MaxParallelExecutionSteps=1",
    )
    assert done.returncode == 0, done.stderr
    described = wait_done(sm, arn)
    assert described["PipelineExecutionStatus"] == "Succeeded"
    assert described["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 1}
    assert history(server, arn)["manual_retries"][0]["parallelism"] == 1
    shown = aws(server, "describe-pipeline-execution", "--pipeline-execution-arn", arn)
    assert json.loads(shown.stdout)["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 1}


# ---------------------------------------------------------------------------- sagemaker-core
def test_sagemaker_core_pipeline_execution_retry(server, sm, name, monkeypatch):
    resources = pytest.importorskip("sagemaker.core.resources")
    arn = failed_diamond(server, sm, name)
    # sagemaker-core builds its own clients from a boto3 session and takes no endpoint URL;
    # boto3 reads the service-specific endpoint from the environment.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
    session = boto3.Session(
        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret", region_name="us-east-1"
    )
    execution = resources.PipelineExecution.get(arn, session=session, region="us-east-1")
    assert execution.pipeline_execution_status == "Failed"
    token = str(uuid.uuid4())
    execution.retry(client_request_token=token)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    assert execution.refresh().pipeline_execution_status == "Succeeded"
    [manual] = history(server, arn)["manual_retries"]
    assert manual["token"] == token
    assert steps_by_name(sm, arn)["C"]["AttemptCount"] == 2


# --------------------------------------------------------------------------- sagepipe retry
def sagepipe_retry(server_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagepipe.cli", "retry", *args, "--endpoint-url", server_url],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),  # no credentials at all: the command uses dummy ones
    )


def test_sagepipe_retry_dry_run_shows_the_plan_and_changes_nothing(server, sm, name):
    arn = failed_diamond(server, sm, name)
    before = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    done = sagepipe_retry(server.url, arn, "--dry-run", "--max-parallel", "2")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert arn in out
    assert re.search(r"Status\s+Failed", out)
    assert re.search(r"Retryable\s+yes", out)
    assert "Re-run       4 steps: C, D, E, F" in out
    assert "Reuse        2 steps: A, B" in out
    assert re.search(r"Parallelism .*2 step", out)
    assert "Dry run" in out
    after = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    before.pop("ResponseMetadata"), after.pop("ResponseMetadata")
    assert after == before
    assert history(server, arn)["manual_retries"] == []


def test_sagepipe_retry_performs_and_follows_the_retry(server, sm, name):
    # C takes 0.6 s per attempt, so the live view sees it run before it succeeds.
    arn = failed_diamond(server, sm, name, duration_seconds=0.6)
    token = "sagepipe-cli-" + uuid.uuid4().hex
    done = sagepipe_retry(server.url, arn, "--max-parallel", "1", "--token", token)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Re-run       4 steps: C, D, E, F" in out  # the plan first
    assert token in out
    running = re.search(r"\bC\s+(Starting|Executing)\s+attempt 2", out)
    finished = re.search(r"\bC\s+Succeeded\s+attempt 2", out)
    assert running and finished and running.start() < finished.start(), out
    for step in "DEF":
        assert re.search(rf"\b{step}\s+Succeeded\s+attempt 1", out), out
    assert not re.search(r"\b[AB]\s+\w+\s+attempt", out)  # reused steps do not change
    assert out.rstrip().endswith("Execution Succeeded")
    [manual] = history(server, arn)["manual_retries"]
    assert (manual["token"], manual["parallelism"]) == (token, 1)


def test_sagepipe_retry_exits_non_zero_when_the_execution_fails_again(server, sm, name):
    arn = failed_diamond(server, sm, name)
    server.set_faults([{"pipeline": name, "step": "C", "fail_attempts": -1}])
    done = sagepipe_retry(server.url, arn)
    assert done.returncode == 1
    assert re.search(r"\bC\s+Failed\s+attempt 2: .*simulated failure", done.stdout)
    assert "Execution Failed: Step failure: One or multiple steps failed." in done.stdout


def test_sagepipe_retry_of_a_non_retryable_execution(server, sm, name):
    create(sm, name, [processing("A")])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"
    dry = sagepipe_retry(server.url, arn, "--dry-run")
    assert dry.returncode == 1
    assert re.search(r"Retryable\s+no: ConflictException: .*status Succeeded", dry.stdout)
    assert "cannot be retried" in dry.stdout
    real = sagepipe_retry(server.url, arn)
    assert real.returncode == 1
    assert "ConflictException" in real.stderr
    assert "Traceback" not in real.stdout + real.stderr


def test_sagepipe_retry_errors_are_one_clear_line(server, sm, name):
    create(sm, name, [processing("A")])
    pipeline_arn = sm.describe_pipeline(PipelineName=name)["PipelineArn"]
    unknown = f"{pipeline_arn}/execution/zzzzzzzzzzzz"
    cases = [
        (server.url, unknown, "does not exist"),
        ("http://127.0.0.1:9", unknown, "--endpoint-url"),
        (server.url, "not-an-arn", "not a pipeline execution ARN"),
    ]
    for url, arn, expected in cases:
        done = sagepipe_retry(url, arn)
        assert done.returncode == 1, done
        assert "Traceback" not in done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sagepipe retry: "), done.stderr
        assert expected in lines[0]
