"""Crash safety with real jobs: local-runner executions (chains of real Processing jobs, some
stopped and retried) while the server is SIGKILLed at seeded random moments and restarted.

Then: every execution ends Succeeded; no acknowledged start, stop or retry was lost; no job's
command started twice; no output was uploaded twice (the bucket keeps versions); no job
process is left running; no ended job's /opt/ml tree is left behind.

    python -m tests.crash.local_jobs --seed 7 --kills 30      # a longer run"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.crash.harness import CrashProofClient
from tests.support.jobenv import job_processes
from tests.support.pipelines import ROLE, definition
from tests.support.s3 import MotoServer
from tests.support.server import ServerProcess

SCRIPT = """
import os, pathlib, time
time.sleep(float(os.environ["SLEEP"]))
out = pathlib.Path("/opt/ml/processing/out"); out.mkdir(parents=True, exist_ok=True)
(out / "result.txt").write_text(os.environ["PROCESSING_JOB_NAME"])
"""


def step(name: str, bucket: str, sleep: float, depends: list[str] | None) -> dict[str, Any]:
    return {
        "Name": name, "Type": "Processing", **({"DependsOn": depends} if depends else {}),
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {
                "InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}},
            "AppSpecification": {"ImageUri": "crash:1", "ContainerEntrypoint": [
                "python3", "/opt/ml/processing/code/step.py"]},
            "Environment": {"SLEEP": str(sleep)},
            "RoleArn": ROLE,
            "ProcessingInputs": [{"InputName": "code", "S3Input": {
                "S3Uri": f"s3://{bucket}/code/step.py", "LocalPath": "/opt/ml/processing/code",
                "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {
                "S3Uri": {"Std:Join": {"On": "/", "Values": [
                    "s3:/", bucket, {"Get": "Execution.PipelineExecutionId"}, name]}},
                "LocalPath": "/opt/ml/processing/out", "S3UploadMode": "EndOfJob"}}]},
        },
    }  # fmt: skip


class LocalJobsHarness(CrashProofClient):
    def __init__(self, server: ServerProcess, s3: Any, bucket: str, data_dir: Path,
                 seed: int, kills: int, executions: int) -> None:  # fmt: skip
        super().__init__(server)
        self.s3, self.bucket, self.data_dir = s3, bucket, data_dir
        self.random = random.Random(seed)
        self.kills_wanted, self.kills = kills, 0
        self.executions = executions
        self.done = threading.Event()

    def killer(self) -> None:
        while self.kills < self.kills_wanted and not self.done.is_set():
            time.sleep(self.random.uniform(0.5, 2.0))
            with self.lock:
                self.server.restart(crash=True)
            self.kills += 1

    def run(self) -> list[str]:
        self.s3.put_object(Bucket=self.bucket, Key="code/step.py", Body=SCRIPT.encode())
        steps = [step(f"S{i}", self.bucket, self.random.uniform(0.2, 1.0),
                      [f"S{i - 1}"] if i else None) for i in range(3)]  # fmt: skip
        self.call("create_pipeline", PipelineName="crash-local", RoleArn=ROLE,
                  PipelineDefinition=definition(steps), ClientRequestToken=str(uuid.uuid4()))  # fmt: skip
        killer = threading.Thread(target=self.killer, daemon=True)
        killer.start()
        arns = []
        for _ in range(self.executions):
            arns.append(self.call("start_pipeline_execution", PipelineName="crash-local",
                                  ClientRequestToken=str(uuid.uuid4()))["PipelineExecutionArn"])  # fmt: skip
        to_stop = set(arns[::3])  # every third one is stopped once, then retried
        deadline = time.time() + 600
        pending = set(arns)
        while pending or killer.is_alive():
            if time.time() > deadline:
                return [f"the workload did not finish: {sorted(pending)}"]
            for arn in sorted(pending):
                status = self.call("describe_pipeline_execution", PipelineExecutionArn=arn)[
                    "PipelineExecutionStatus"
                ]
                if arn in to_stop and status == "Executing":
                    to_stop.discard(arn)
                    with contextlib.suppress(ClientError):
                        self.call("stop_pipeline_execution", PipelineExecutionArn=arn,
                                  ClientRequestToken=str(uuid.uuid4()))  # fmt: skip
                elif status in ("Failed", "Stopped"):
                    self.call("retry_pipeline_execution", PipelineExecutionArn=arn,
                              ClientRequestToken=str(uuid.uuid4()))  # fmt: skip
                elif status == "Succeeded":
                    pending.discard(arn)
            time.sleep(0.1)
        self.done.set()
        killer.join()
        return self.check(arns)

    def check(self, arns: list[str]) -> list[str]:
        problems = []
        for operation, _params, response in self.acknowledged.values():
            if operation == "start_pipeline_execution":
                arn = response["PipelineExecutionArn"]
                with contextlib.suppress(ClientError):
                    self.call("describe_pipeline_execution", PipelineExecutionArn=arn)
                    continue
                problems.append(f"acknowledged start {arn} is lost")
        for arn in arns:
            status = self.call("describe_pipeline_execution", PipelineExecutionArn=arn)
            if status["PipelineExecutionStatus"] != "Succeeded":
                problems.append(f"{arn} ended {status['PipelineExecutionStatus']}")
            exec_id = arn.rsplit("/", 1)[1]
            for name in ("S0", "S1", "S2"):
                versions = self.s3.list_object_versions(
                    Bucket=self.bucket, Prefix=f"{exec_id}/{name}/result.txt"
                ).get("Versions", [])
                if len(versions) != 1:
                    problems.append(f"{exec_id}/{name}: uploaded {len(versions)} times")
        for jobdir in (self.data_dir / "jobs").iterdir():
            log = (jobdir / "log").read_text() if (jobdir / "log").exists() else ""
            if log.count("[sagepipe] running ") > 1:
                problems.append(f"{jobdir.name}: its command started more than once")
            result = json.loads((jobdir / "result.json").read_text()) if (
                jobdir / "result.json").exists() else {}  # fmt: skip
            if result.get("status") in ("Succeeded", "Stopped") and (jobdir / "opt-ml").exists():
                problems.append(f"{jobdir.name}: its /opt/ml tree was left behind")
        problems += [f"process {pid} of a job still runs" for pid in job_processes(self.data_dir)]
        return problems


def run(seed: int, kills: int, executions: int, workdir: Path) -> tuple[list[str], int]:
    s3_server = MotoServer()
    s3_server.start()
    try:
        s3 = s3_server.client()
        bucket = f"crash-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        data_dir = workdir / "data"
        server = ServerProcess(["--data-dir", str(data_dir), "--runner", "local",
                                "--s3-endpoint-url", s3_server.url])  # fmt: skip
        server.start()
        try:
            harness = LocalJobsHarness(server, s3, bucket, data_dir, seed, kills, executions)
            problems = harness.run()
        finally:
            server.stop()
        # A job that outlived the last server ends on its own; none may be left afterwards.
        deadline = time.time() + 30
        while job_processes(data_dir) and time.time() < deadline:
            time.sleep(0.2)
        problems += [f"process {p} of a job outlived the run" for p in job_processes(data_dir)]
        return problems, harness.kills
    finally:
        s3_server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--executions", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        problems, kills = run(args.seed, args.kills, args.executions, Path(workdir))
    print(f"seed {args.seed}: {kills} kills, {len(problems)} problem(s)")
    for problem in problems:
        print("  " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
