"""The ray runner's cost per step: one-step pipelines run by `sagepipe serve --runner ray`
against bare Ray job submissions of the same script, in one run on one Ray head.

Each round times, from the client's side, (a) JobSubmissionClient.submit_job of
`python3 step.py` until the job is SUCCEEDED (polled every 50 ms), and (b)
StartPipelineExecution of a pipeline whose one Processing step runs the same script (staged
from S3, no outputs) until the execution is Succeeded (polled every 50 ms). The target: the
median of (b) is at most 1.2x the median of (a).

Ray binds to the machine's own address, so this benchmark runs itself inside a network and
PID namespace with only `lo` (as root; `unshare` and `ip` needed), like the test suite."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(__file__))

from _common import (  # noqa: E402
    Verdicts,
    definition,
    moto_server,
    print_machine,
    print_source,
    running,
    sagemaker,
    sagepipe_server,
)

TARGET_RATIO = 1.2
DASHBOARD = "http://127.0.0.1:8265"
STEP = 'import time; t = sum(range(200_000)); print("step done", t)\n'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="2 rounds, targets not enforced")
    args = parser.parse_args()
    if os.environ.get("SAGEPIPE_BENCH_NETNS") != "1":
        return _in_namespace()
    rounds = 2 if args.smoke else args.rounds
    print_machine()
    print_source()
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    began = time.perf_counter()
    subprocess.run([ray, "start", "--head", "--port=6380", "--dashboard-host=127.0.0.1",
                    "--node-ip-address=127.0.0.1", "--num-cpus=2", "--disable-usage-stats",
                    "--object-store-memory=100000000"], check=True, env=env, capture_output=True)  # fmt: skip
    _wait_dashboard()
    print(f"ray head started in {time.perf_counter() - began:.1f} s")
    from ray.job_submission import JobSubmissionClient

    jobs = JobSubmissionClient(DASHBOARD)
    moto = moto_server()
    try:
        with running(moto):
            os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
            server = sagepipe_server(["--runner", "ray", "--ray-address", DASHBOARD,
                                      "--ray-max-cpus", "1", "--s3-endpoint-url", moto.url,
                                      "--data-dir", tempfile.mkdtemp(prefix="bench-ray-")])  # fmt: skip
            with running(server):
                return _measure(jobs, server.url, moto.url, rounds, not args.smoke)
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True)


def _measure(jobs: object, url: str, s3_url: str, rounds: int, enforce: bool) -> int:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1")
    s3.create_bucket(Bucket="bench")
    s3.put_object(Bucket="bench", Key="code/step.py", Body=STEP.encode())
    script = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"step-{uuid.uuid4().hex}.py")
    with open(script, "w") as handle:
        handle.write(STEP)
    sm = sagemaker(url)
    step = {"Name": "Step", "Type": "Processing", "Arguments": {
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1,
                                                  "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": "python:3",
                             "ContainerEntrypoint": ["python3", "/opt/ml/processing/code/step.py"]},
        "RoleArn": "arn:aws:iam::123456789012:role/R",
        "ProcessingInputs": [{"InputName": "code", "S3Input": {
            "S3Uri": "s3://bench/code/step.py", "LocalPath": "/opt/ml/processing/code",
            "S3DataType": "S3Prefix", "S3InputMode": "File"}}]}}  # fmt: skip
    sm.create_pipeline(PipelineName="bench", PipelineDefinition=definition([step]),
                       RoleArn="arn:aws:iam::123456789012:role/R")  # fmt: skip
    bare, piped = [], []
    for i in range(rounds + 1):  # the first round of each warms Ray's worker pool: not counted
        begun = time.perf_counter()
        submission = jobs.submit_job(entrypoint=f"{sys.executable} {script}",  # type: ignore[attr-defined]
                                     entrypoint_num_cpus=1)  # fmt: skip
        while (status := jobs.get_job_status(submission).value) != "SUCCEEDED":  # type: ignore[attr-defined]
            if status in ("FAILED", "STOPPED"):
                raise RuntimeError(f"bare job {submission}: {status}")
            time.sleep(0.05)
        bare_s = time.perf_counter() - begun
        begun = time.perf_counter()
        arn = sm.start_pipeline_execution(PipelineName="bench")["PipelineExecutionArn"]
        while True:
            status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)[
                "PipelineExecutionStatus"
            ]
            if status != "Executing":
                break
            time.sleep(0.05)
        piped_s = time.perf_counter() - begun
        if status != "Succeeded":
            raise RuntimeError(f"sagepipe execution {arn}: {status}")
        print(f"round {i}: bare Ray job {bare_s:.2f} s, sagepipe step on Ray {piped_s:.2f} s"
              + ("  (warm-up, not counted)" if i == 0 else ""))  # fmt: skip
        if i:
            bare.append(bare_s)
            piped.append(piped_s)
    bare_median, piped_median = statistics.median(bare), statistics.median(piped)
    ratio = piped_median / bare_median
    print(f"\nmedian bare Ray job round trip   {bare_median:.2f} s")
    print(f"median sagepipe step on Ray      {piped_median:.2f} s")
    print(f"sagepipe adds {piped_median - bare_median:.2f} s per step; ratio {ratio:.2f}x")
    verdicts = Verdicts(enforce)
    verdicts.check("sagepipe step on Ray vs bare Ray job", f"{ratio:.2f}x",
                   f"<= {TARGET_RATIO}x", ratio <= TARGET_RATIO)  # fmt: skip
    return verdicts.report()


def _wait_dashboard() -> None:
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{DASHBOARD}/api/version", timeout=2):
                return
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def _in_namespace() -> int:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        print("bench/ray_runner.py needs unshare and ip: Ray must run on a loopback-only network")
        return 2
    inner = f"ip link set lo up && exec {sys.executable} {' '.join(map(_quote, sys.argv))}"
    return subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "sh", "-c",
                           inner], env={**os.environ, "SAGEPIPE_BENCH_NETNS": "1"}).returncode  # fmt: skip


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


if __name__ == "__main__":
    sys.exit(main())
