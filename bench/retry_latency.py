"""RetryPipelineExecution latency does not grow with the number of succeeded steps (docs/behaviour.md §5).

    python bench/retry_latency.py [--steps-large N] [--retries K] [--smoke] [--db URL] [--json PATH]

A sagepipe server (SQLite in a temporary directory unless --db) runs two pipelines of
independent zero-duration Processing steps: a small one (--steps-small, default 10) and a
large one (--steps-large, default 10,000). In both, only the LAST step fails, on every
attempt (fault rule fail_attempts -1), so each execution ends Failed with every other step
Succeeded. Then each execution is retried --retries times; after every retry the bench waits
for the execution to end Failed again, and --settle seconds more, before the next one. The latency measured is the
RetryPipelineExecution round trip as boto3 sees it. Both medians and their ratio are printed;
the exit status is 1 when large/small >= --threshold (default 1.5), unless --smoke.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from typing import Any

from _common import (
    ROLE,
    Verdicts,
    print_machine,
    running,
    sagemaker,
    sagepipe_server,
    write_json,
)


def wide_definition(count: int) -> str:
    """`count` independent steps; the smallest valid Processing step keeps 10,000 of them
    under the model's 1 MB PipelineDefinition limit."""
    steps = [{"Name": f"S{i:05d}", "Type": "Processing", "Arguments": {}} for i in range(count)]
    return json.dumps({"Version": "2020-12-01", "Steps": steps}, separators=(",", ":"))


def wait_ended(sm: Any, arn: str, timeout: float, progress: Any = None) -> dict[str, Any]:
    deadline = time.time() + timeout
    last_report = time.time()
    while True:
        described: dict[str, Any] = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if described["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return described
        if time.time() > deadline:
            raise TimeoutError(f"{arn} still {described['PipelineExecutionStatus']}")
        if progress is not None and time.time() - last_report > 5:
            progress()
            last_report = time.time()
        time.sleep(0.05)


def succeeded_so_far(url: str, arn: str) -> int:
    """Succeeded steps, in one request: the retry plan's `reuse` list (docs/behaviour.md §9)."""
    import urllib.request

    plan_url = f"{url}/_sagepipe/executions/{arn.rsplit('/', 1)[1]}/retry-plan"
    with urllib.request.urlopen(plan_url, timeout=60) as response:
        return len(json.loads(response.read())["reuse"])


def prepare(server: Any, sm: Any, name: str, steps: int, timeout: float) -> tuple[str, float]:
    """A Failed execution of a `steps`-step pipeline whose last step failed; and how long the
    engine took to run it."""
    last = f"S{steps - 1:05d}"
    server_faults(server, name, last)
    sm.create_pipeline(PipelineName=name, PipelineDefinition=wide_definition(steps), RoleArn=ROLE)
    began = time.perf_counter()
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]

    def progress() -> None:
        done = succeeded_so_far(server.url, arn)
        print(f"  {name}: {done}/{steps} steps succeeded after {time.perf_counter() - began:.0f}s")

    described = wait_ended(sm, arn, timeout, progress if steps > 1000 else None)
    elapsed = time.perf_counter() - began
    if described["PipelineExecutionStatus"] != "Failed":
        raise SystemExit(f"{name}: expected Failed, got {described['PipelineExecutionStatus']}")
    if succeeded_so_far(server.url, arn) != steps - 1:
        raise SystemExit(f"{name}: expected {steps - 1} succeeded steps")
    return arn, elapsed


FAULTS: list[dict[str, Any]] = []


def server_faults(server: Any, pipeline: str, step: str) -> None:
    import urllib.request

    FAULTS.append({"pipeline": pipeline, "step": step, "fail_attempts": -1})
    body = json.dumps({"rules": FAULTS}).encode()
    request = urllib.request.Request(server.url + "/_sagepipe/faults", data=body, method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def measure(sm: Any, arn: str, retries: int, timeout: float, settle: float) -> list[float]:
    """Latency of each of `retries` retries; each waits for the execution to fail again, then
    `settle` seconds, so the engine's wind-down of the previous run is not counted."""
    samples = []
    for _ in range(retries):
        time.sleep(settle)
        began = time.perf_counter()
        sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=str(uuid.uuid4()))
        samples.append(time.perf_counter() - began)
        described = wait_ended(sm, arn, timeout)
        if described["PipelineExecutionStatus"] != "Failed":
            raise SystemExit(f"retry ended {described['PipelineExecutionStatus']}, not Failed")
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps-small", type=int, default=10)
    parser.add_argument("--steps-large", type=int, default=10_000)
    parser.add_argument("--retries", type=int, default=15, help="retries measured per size")
    parser.add_argument("--threshold", type=float, default=1.5)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per execution")
    parser.add_argument(
        "--settle", type=float, default=0.3, help="pause before each retry (default: 0.3 s)"
    )
    parser.add_argument("--db", help="postgresql://... (default: SQLite in a temp dir)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no threshold (CI)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.smoke:
        args.steps_large, args.retries = min(args.steps_large, 200), min(args.retries, 3)
    print_machine()
    with tempfile.TemporaryDirectory(prefix="sagepipe-bench-") as tmp:
        server = sagepipe_server(["--db", args.db] if args.db else ["--data-dir", tmp])
        with running(server):
            sm = sagemaker(server.url)
            small, small_run = prepare(server, sm, "retry-small", args.steps_small, args.timeout)
            print(f"small: {args.steps_small} steps ran in {small_run:.2f}s", flush=True)
            print(f"large: running {args.steps_large} steps through the engine ...", flush=True)
            large, large_run = prepare(server, sm, "retry-large", args.steps_large, args.timeout)
            rate = args.steps_large / large_run
            print(f"large: {args.steps_large} steps ran in {large_run:.2f}s ({rate:.0f} steps/s)")
            runs = {"timeout": args.timeout, "settle": args.settle}
            measure(sm, small, 1, **runs)  # warm-up, not counted
            measure(sm, large, 1, **runs)
            small_ms = [s * 1000 for s in measure(sm, small, args.retries, **runs)]
            large_ms = [s * 1000 for s in measure(sm, large, args.retries, **runs)]
    small_median, large_median = statistics.median(small_ms), statistics.median(large_ms)
    ratio = large_median / small_median
    print(f"small ({args.steps_small} steps): median {small_median:.2f} ms over {len(small_ms)} "
          f"retries; samples {', '.join(f'{s:.1f}' for s in small_ms)}")  # fmt: skip
    print(f"large ({args.steps_large} steps): median {large_median:.2f} ms over {len(large_ms)} "
          f"retries; samples {', '.join(f'{s:.1f}' for s in large_ms)}")  # fmt: skip
    print(f"ratio large/small: {ratio:.2f}")
    write_json(
        args.json,
        {"steps": [args.steps_small, args.steps_large], "latency_ms": [small_ms, large_ms],
         "median_ms": [small_median, large_median], "ratio": ratio},
    )  # fmt: skip
    verdicts = Verdicts(enforce=not args.smoke)
    verdicts.check(
        "retry latency ratio", f"{ratio:.2f}", f"< {args.threshold}", ratio < args.threshold
    )
    return verdicts.report()


if __name__ == "__main__":
    sys.exit(main())
