"""The story the local runner exists for: a step's code fails, is fixed at the same S3 URI,
and a retry runs only what failed; stops and server crashes with real jobs running."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.local.test_processing import PREPROCESS, processing_step
from tests.local.test_training import checkpointed_step
from tests.support.jobenv import job_processes
from tests.support.pipelines import create, steps_by_name, wait_status
from tests.support.server import ServerProcess

BUGGY = "raise ValueError('bug in train step')\n"
FIXED = "import pathlib\npathlib.Path('/opt/ml/processing/train').mkdir(parents=True, exist_ok=True)\npathlib.Path('/opt/ml/processing/train/model.txt').write_text('ok')\n"
SLOW = "import time, pathlib\nprint('started', flush=True)\ntime.sleep(600)\n"


def two_steps(bucket: str) -> list[dict[str, Any]]:
    prepare = processing_step("Prepare", bucket, "code/preprocess.py")
    train = processing_step("Train", bucket, "code/train.py", DependsOn=["Prepare"])
    train["Arguments"]["AppSpecification"]["ContainerEntrypoint"][1] = (
        "/opt/ml/processing/input/code/train.py"
    )
    train["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = (
        f"s3://{bucket}/trained"
    )
    return [prepare, train]


def test_a_fixed_script_resumes_with_a_retry_that_runs_only_the_failed_step(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a,1\nb,2")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=PREPROCESS.encode())
    s3.put_object(Bucket=bucket, Key="code/train.py", Body=BUGGY.encode())
    sm = local_server.client()
    create(sm, name, two_steps(bucket))
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Failed"
    steps = steps_by_name(sm, arn)
    assert steps["Prepare"]["StepStatus"] == "Succeeded"
    assert "ValueError: bug in train step" in steps["Train"]["FailureReason"]
    exec_id = arn.rsplit("/", 1)[1]
    prepared = s3.head_object(Bucket=bucket, Key=f"{exec_id}/train/train.csv")

    s3.put_object(Bucket=bucket, Key="code/train.py", Body=FIXED.encode())  # the fix, same URI
    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="f" * 32)
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Succeeded"
    steps = steps_by_name(sm, arn)
    assert (steps["Prepare"]["AttemptCount"], steps["Train"]["AttemptCount"]) == (1, 2)
    assert s3.get_object(Bucket=bucket, Key="trained/model.txt")["Body"].read() == b"ok"
    again = s3.head_object(Bucket=bucket, Key=f"{exec_id}/train/train.csv")
    assert (again["ETag"], again["LastModified"]) == (prepared["ETag"], prepared["LastModified"])
    status, history = local_server.extension("GET", f"/_sagepipe/executions/{exec_id}/attempts")
    ran = [(a["step"], a["attempt"], a["status"]) for a in history["attempts"]]
    assert ran == [("Prepare", 1, "Succeeded"), ("Train", 1, "Failed"), ("Train", 2, "Succeeded")]
    printed = subprocess.run(
        [sys.executable, "-m", "sagepipe.cli", "logs", arn, "--step", "Train",
         "--endpoint-url", local_server.url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    first, second = printed.stdout.split("==> Train, attempt 2")
    assert first.startswith("==> Train, attempt 1")
    assert "ValueError: bug in train step" in first
    assert "uploaded /opt/ml/processing/train" in second


def wait_for(probe: Any, timeout: float = 30) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {probe}")


def logs(server: ServerProcess, arn: str, step: str) -> str:
    exec_id = arn.rsplit("/", 1)[1]
    status, body = server.extension("GET", f"/_sagepipe/executions/{exec_id}/steps/{step}/logs")
    return str(body.get("logs", "")) if status == 200 else ""


def test_stopping_an_execution_stops_its_job_and_leaves_no_process(
    local_server: ServerProcess, s3: Any, bucket: str, name: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=SLOW.encode())
    sm = local_server.client()
    create(sm, name, [processing_step("Prepare", bucket, "code/preprocess.py")])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    wait_for(lambda: "started" in logs(local_server, arn, "Prepare"))
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="s" * 32)
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Stopped"
    assert steps_by_name(sm, arn)["Prepare"]["StepStatus"] == "Stopped"
    wait_for(lambda: not job_processes(tmp_path / "data"), timeout=10)
    # Retried, the stopped step runs again (its new attempt is stopped in turn).
    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="r" * 32)
    wait_for(lambda: steps_by_name(sm, arn)["Prepare"]["AttemptCount"] == 2)
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="t" * 32)
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Stopped"
    wait_for(lambda: not job_processes(tmp_path / "data"), timeout=10)


# Saves a checkpoint when asked to stop, as SageMaker's docs tell training code to.
SAVES_ON_STOP = """
import pathlib, signal, sys, time
def save(*_):
    time.sleep(1)  # work that takes a while, within the stop's grace period
    pathlib.Path("/opt/ml/checkpoints/on-stop.txt").write_text("saved on SIGTERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, save)
print("started", flush=True)
time.sleep(600)
"""


def test_a_stopped_job_gets_its_grace_period_and_its_checkpoint_is_kept(
    local_server: ServerProcess, s3: Any, bucket: str, name: str
) -> None:
    """A stop is SIGTERM to the job, SIGKILL only after the grace period (docs/behaviour.md
    §11.5), under either sandbox: the job's handler has time to save a checkpoint, which
    reaches S3."""
    s3.put_object(Bucket=bucket, Key="code/train.py", Body=SAVES_ON_STOP.encode())
    step = checkpointed_step(bucket, max_runtime=300)
    sm = local_server.client()
    create(sm, name, [step])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    wait_for(lambda: "started" in logs(local_server, arn, "Train"))
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="s" * 32)
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Stopped"
    saved = s3.get_object(Bucket=bucket, Key="checkpoints/run/on-stop.txt")["Body"].read()
    assert saved == b"saved on SIGTERM"


def test_a_job_outlives_a_server_crash_and_is_collected_not_run_again(
    local_server: ServerProcess, s3: Any, bucket: str, name: str, tmp_path: Path
) -> None:
    script = (
        "import pathlib, time\nprint('run', flush=True)\ntime.sleep(3)\n"
        "pathlib.Path('/opt/ml/processing/train').mkdir(parents=True, exist_ok=True)\n"
        "pathlib.Path('/opt/ml/processing/train/done.txt').write_text('done')\n"
    )
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=script.encode())
    sm = local_server.client()
    create(sm, name, [processing_step("Prepare", bucket, "code/preprocess.py")])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    wait_for(lambda: "run" in logs(local_server, arn, "Prepare"))
    local_server.restart(crash=True)  # SIGKILL while the job runs
    sm = local_server.client()
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Succeeded"
    text = logs(local_server, arn, "Prepare")
    assert text.count("\nrun\n") + text.startswith("run\n") == 1  # the command ran once
    exec_id = arn.rsplit("/", 1)[1]
    assert s3.get_object(Bucket=bucket, Key=f"{exec_id}/train/done.txt")["Body"].read() == b"done"
    assert steps_by_name(sm, arn)["Prepare"]["AttemptCount"] == 1
    assert not job_processes(tmp_path / "data")


def test_a_step_waits_in_starting_for_a_free_local_job_slot(
    local_server_with: Any, s3: Any, bucket: str, name: str
) -> None:
    server: ServerProcess = local_server_with("--max-local-jobs", "1")
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=SLOW.encode())
    sm = server.client()
    steps = [processing_step("One", bucket, "code/preprocess.py"),
             processing_step("Two", bucket, "code/preprocess.py")]  # fmt: skip
    create(sm, name, steps)
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]

    def statuses() -> list[str]:
        return sorted(s["StepStatus"] for s in steps_by_name(sm, arn).values())

    assert wait_for(lambda: statuses() == ["Executing", "Starting"])
    time.sleep(1)
    assert statuses() == ["Executing", "Starting"]  # still waiting: one slot, one job
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="w" * 32)
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Stopped"
    assert statuses() == ["Stopped", "Stopped"]


def test_stop_processing_job_stops_the_real_job_and_fails_its_step(
    local_server: ServerProcess, s3: Any, bucket: str, name: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="raw/data.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="code/preprocess.py", Body=SLOW.encode())
    sm = local_server.client()
    create(sm, name, [processing_step("Prepare", bucket, "code/preprocess.py")])
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    wait_for(lambda: "started" in logs(local_server, arn, "Prepare"))
    job = steps_by_name(sm, arn)["Prepare"]["Metadata"]["ProcessingJob"]["Arn"].rsplit("/", 1)[1]
    sm.stop_processing_job(ProcessingJobName=job)
    assert wait_status(sm, arn, timeout=60)["PipelineExecutionStatus"] == "Failed"
    step = steps_by_name(sm, arn)["Prepare"]
    assert "StopProcessingJob" in step["FailureReason"], step
    assert sm.describe_processing_job(ProcessingJobName=job)["ProcessingJobStatus"] == "Stopped"
    wait_for(lambda: not job_processes(tmp_path / "data"), timeout=10)
