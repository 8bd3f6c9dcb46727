"""The local runner's cost per step: sagepipe running trivial Processing steps for real against
the same scripts run directly with `python`, in one run; and its staging throughput against
the embedded object store beside raw boto3 transfers of the same bytes.

A chain of N steps (each: a one-line script, one small input, one small output) through
`sagepipe serve` on its defaults (the local runner, the embedded SeaweedFS store), against the
N scripts run one after another with `python`; and an N-wide fan-out against N direct runs
with the same parallelism. sagepipe's added time per step = (chain wall time - direct total)
/ N. The job directories' own timestamps (staging, running, uploading) say where the time
goes. Then one step stages a larger input (--mib, in 8 MiB objects) and uploads a copy of it:
its staging and upload rates against boto3's download_file/upload_file of the same objects
from the same store."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

from _common import (  # noqa: E402
    Verdicts,
    print_machine,
    print_source,
    running,
    sagemaker,
    sagepipe_server,
    write_json,
)

TARGET_MS_PER_STEP = 150.0
SCRIPT = (
    "import pathlib; pathlib.Path('/opt/ml/processing/out').mkdir(parents=True, exist_ok=True); "
    "pathlib.Path('/opt/ml/processing/out/o.txt').write_text("
    "pathlib.Path('/opt/ml/processing/in/i.txt').read_text())\n"
)
DIRECT = SCRIPT.replace("/opt/ml/processing", "{root}")
ROLE = "arn:aws:iam::123456789012:role/Bench"


def step(name: str, bucket: str, depends: list[str] | None) -> dict[str, Any]:
    return {
        "Name": name, "Type": "Processing", **({"DependsOn": depends} if depends else {}),
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {
                "InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}},
            "AppSpecification": {"ImageUri": "bench:latest", "ContainerEntrypoint": [
                "python3", "/opt/ml/processing/code/step.py"]},
            "RoleArn": ROLE,
            "ProcessingInputs": [
                {"InputName": "in", "S3Input": {"S3Uri": f"s3://{bucket}/in/i.txt",
                 "LocalPath": "/opt/ml/processing/in", "S3DataType": "S3Prefix",
                 "S3InputMode": "File"}},
                {"InputName": "code", "S3Input": {"S3Uri": f"s3://{bucket}/code/step.py",
                 "LocalPath": "/opt/ml/processing/code", "S3DataType": "S3Prefix",
                 "S3InputMode": "File"}}],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {
                "S3Uri": f"s3://{bucket}/out/{name}", "LocalPath": "/opt/ml/processing/out",
                "S3UploadMode": "EndOfJob"}}]},
        },
    }  # fmt: skip


COPY = (
    "import shutil; shutil.copytree('/opt/ml/processing/in', '/opt/ml/processing/out', "
    "dirs_exist_ok=True)\n"
)
OBJECT_MIB = 8


def copy_step(bucket: str) -> dict[str, Any]:
    """One step that stages s3://bucket/big/ and uploads a copy of it."""
    copy = step("Copy", bucket, None)
    arguments = copy["Arguments"]
    arguments["ProcessingInputs"][0]["S3Input"]["S3Uri"] = f"s3://{bucket}/big/"
    arguments["ProcessingInputs"][1]["S3Input"]["S3Uri"] = f"s3://{bucket}/code/copy.py"
    arguments["AppSpecification"]["ContainerEntrypoint"][1] = "/opt/ml/processing/code/copy.py"
    return copy


def raw_transfers(client: Any, bucket: str, keys: list[str]) -> tuple[float, float]:
    """Seconds for boto3 to download `keys` and to upload them again, one after another."""
    work = Path(tempfile.mkdtemp(prefix="sagepipe-bench-raw-"))
    began = time.perf_counter()
    for key in keys:
        client.download_file(bucket, key, str(work / key.replace("/", "_")))
    down = time.perf_counter() - began
    began = time.perf_counter()
    for key in keys:
        client.upload_file(str(work / key.replace("/", "_")), bucket, "raw-copy/" + key)
    return down, time.perf_counter() - began


def store_client(data_dir: Path) -> Any:
    """An S3 client for the server's embedded store (what `sagepipe s3-env` prints)."""
    import boto3

    state = json.loads((data_dir / "s3" / "state.json").read_text())
    return boto3.client(
        "s3", endpoint_url=state["endpoint_url"], region_name=state["region"],
        aws_access_key_id=state["access_key_id"],
        aws_secret_access_key=state["secret_access_key"],
    )  # fmt: skip


def run_pipeline(sm: Any, name: str, steps: list[dict[str, Any]], timeout: float) -> float:
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE,
                       PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": steps}))  # fmt: skip
    began = time.perf_counter()
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    while True:
        status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        if status not in ("Executing", "Stopping"):
            break
        if time.perf_counter() - began > timeout:
            raise RuntimeError(f"{name} did not end within {timeout} s")
        time.sleep(0.005)
    wall = time.perf_counter() - began
    if status != "Succeeded":
        raise RuntimeError(f"{name} ended {status}")
    return wall


def direct_runs(n: int, parallel: int) -> float:
    """N runs of the same script with `python`, `parallel` at a time."""
    work = Path(tempfile.mkdtemp(prefix="sagepipe-bench-direct-"))

    def one(i: int) -> None:
        root = work / str(i)
        (root / "in").mkdir(parents=True)
        (root / "in" / "i.txt").write_text("x" * 100)
        script = root / "step.py"
        script.write_text(DIRECT.format(root=root))
        subprocess.run([sys.executable, str(script)], check=True)

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, range(n)))
    return time.perf_counter() - began


def phases(data_dir: Path, skip: set[Path]) -> dict[str, float]:
    """Mean seconds per job of each phase, from the job directories' results (not `skip`)."""
    totals: dict[str, list[float]] = {"staging": [], "running": [], "uploading": []}
    for result in set((data_dir / "jobs").glob("*/result.json")) - skip:
        r = json.loads(result.read_text())
        totals["staging"].append(r["training_start"] - r["started"])
        totals["running"].append(r["training_end"] - r["training_start"])
        totals["uploading"].append(r["ended"] - r["training_end"])
    return {k: sum(v) / len(v) for k, v in totals.items() if v}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run, targets not enforced")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--mib", type=int, default=256, help="input size of the staging step")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    n = 3 if args.smoke else args.steps
    objects = max(1, (2 if args.smoke else args.mib) // OBJECT_MIB)
    print_machine()
    print_source()
    verdicts = Verdicts(enforce=not args.smoke)
    data_dir = Path(tempfile.mkdtemp(prefix="sagepipe-bench-local-"))
    server = sagepipe_server(["--data-dir", str(data_dir), "--runner", "local",
                              "--max-local-jobs", str(n)])  # fmt: skip
    with running(server):
        client = store_client(data_dir)
        bucket = "bench-" + uuid.uuid4().hex[:8]
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="in/i.txt", Body=b"x" * 100)
        client.put_object(Bucket=bucket, Key="code/step.py", Body=SCRIPT.encode())
        client.put_object(Bucket=bucket, Key="code/copy.py", Body=COPY.encode())
        keys = [f"big/part-{i:03d}" for i in range(objects)]
        for key in keys:
            client.put_object(Bucket=bucket, Key=key, Body=os.urandom(OBJECT_MIB << 20))
        sm = sagemaker(server.url)
        run_pipeline(sm, "warm-up", [step("W", bucket, None)], 60)
        before = set((data_dir / "jobs").glob("*/result.json"))
        chain = [step(f"S{i}", bucket, [f"S{i - 1}"] if i else None) for i in range(n)]
        chain_s = run_pipeline(sm, "chain", chain, 60 + 5 * n)
        chain_jobs = set((data_dir / "jobs").glob("*/result.json"))
        seen = phases(data_dir, before)
        fan_s = run_pipeline(sm, "fan", [step(f"F{i}", bucket, None) for i in range(n)],
                             60 + 5 * n)  # fmt: skip
        seen_fan = phases(data_dir, chain_jobs)
        fan_jobs = set((data_dir / "jobs").glob("*/result.json"))
        run_pipeline(sm, "copy", [copy_step(bucket)], 600)
        copy_phases = phases(data_dir, fan_jobs)
        raw_down, raw_up = raw_transfers(client, bucket, keys)
    direct_chain = direct_runs(n, 1)
    direct_fan = direct_runs(n, n)
    added_ms = (chain_s - direct_chain) / n * 1000
    print(f"\nchain of {n}: sagepipe {chain_s:.2f} s, direct python {direct_chain:.2f} s "
          f"-> added {added_ms:.0f} ms per step")  # fmt: skip
    print(f"fan-out of {n}: sagepipe {fan_s:.2f} s, direct python ({n} at a time) "
          f"{direct_fan:.2f} s -> {fan_s / direct_fan:.2f}x")  # fmt: skip
    for label, found in (("chain", seen), ("fan-out", seen_fan)):
        print(f"where a {label} job's time goes (mean, from its result.json): "
              + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in found.items()))  # fmt: skip
    mib = objects * OBJECT_MIB
    rates = {
        "staging_mib_s": mib / copy_phases["staging"], "upload_mib_s": mib / copy_phases["uploading"],
        "raw_download_mib_s": mib / raw_down, "raw_upload_mib_s": mib / raw_up,
    }  # fmt: skip
    print(f"staging {mib} MiB ({objects} objects) from the embedded store: "
          f"{rates['staging_mib_s']:.0f} MiB/s vs boto3 download_file "
          f"{rates['raw_download_mib_s']:.0f} MiB/s -> "
          f"{rates['staging_mib_s'] / rates['raw_download_mib_s']:.2f}x")  # fmt: skip
    print(f"uploading the job's {mib} MiB copy: {rates['upload_mib_s']:.0f} MiB/s vs boto3 "
          f"upload_file {rates['raw_upload_mib_s']:.0f} MiB/s -> "
          f"{rates['upload_mib_s'] / rates['raw_upload_mib_s']:.2f}x")  # fmt: skip
    verdicts.check("added time per step (chain)", f"{added_ms:.0f} ms",
                   f"<= {TARGET_MS_PER_STEP:.0f} ms", added_ms <= TARGET_MS_PER_STEP)  # fmt: skip
    write_json(args.json, {"benchmark": "local_runner", "steps": n, "chain_s": chain_s,
                           "direct_chain_s": direct_chain, "fan_s": fan_s,
                           "direct_fan_s": direct_fan, "added_ms_per_step": added_ms,
                           "phases_s": {"chain": seen, "fan": seen_fan, "copy": copy_phases},
                           "staging": {"mib": mib, **rates}})  # fmt: skip
    return verdicts.report()


if __name__ == "__main__":
    sys.exit(main())
