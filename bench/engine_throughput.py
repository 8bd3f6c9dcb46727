"""Engine throughput: how fast the engine walks a pipeline whose steps take no time, against
the database's own limit measured in the same run on the same disk (or server).

    python bench/engine_throughput.py [--smoke] [--steps N] [--db postgresql://...] [--json PATH]

Shapes (zero-duration simulated Processing steps):
  chain    step i depends on step i-1 (N steps in a line)
  fan      1 -> N-2 parallel -> 1 (fan-out / fan-in)

steps/s = N / the wall time from sending StartPipelineExecution to the first Describe that
shows the execution ended (polled every 5 ms): an upper bound of the engine's own time. (The
server's timestamps would understate it: a tick stamps everything it decides with the time it
began, before the work of up to 200 steps and their commit.)
Raw limit: single-row UPDATEs, each committed on its own, on a database file in the same
directory with the server's PRAGMAs (WAL, synchronous=FULL), or on the same PostgreSQL server.

Targets on the embedded default (SQLite): >= 1,000 steps/s for both shapes, and steps/s >=
25% of the raw commit rate. With --db, PostgreSQL runs too (a scratch database is created on
that server and dropped afterwards); its target is the 25% ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from typing import Any

from _common import (
    Process,
    Verdicts,
    cpu_seconds,
    definition,
    load,
    print_machine,
    print_source,
    processing_step,
    py_spy,
    raw_pg_commits,
    raw_sqlite_commits,
    sagemaker,
    sagepipe_server,
    scratch_pg_database,
    wait_until_done,
    write_json,
)

MIN_STEPS_PER_S = 1000.0
MIN_RATIO = 0.25


def shapes(n: int) -> dict[str, list[dict[str, Any]]]:
    chain = [processing_step("S0000")]
    chain += [processing_step(f"S{i:04d}", [f"S{i - 1:04d}"]) for i in range(1, n)]
    middle = [processing_step(f"M{i:04d}", ["Root"]) for i in range(n - 2)]
    fan = [processing_step("Root"), *middle]
    fan.append(processing_step("Join", [s["Name"] for s in middle]))
    return {"chain": chain, "fan": fan}


# ---------------------------------------------------------------------- engine runs
def run_shape(
    server: Process,
    shape: str,
    steps: list[dict[str, Any]],
    timeout: float,
    spy_dir: str | None = None,
) -> dict[str, Any]:
    sm = sagemaker(server.url)
    name = f"bench-{shape}-{len(steps)}"
    sm.create_pipeline(
        PipelineName=name,
        PipelineDefinition=definition(steps),
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
    )
    with py_spy(server.pid, spy_dir, f"engine-{shape}-{server.name}"):
        cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
        arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
        described = wait_until_done(sm, arn, timeout=timeout, poll=0.005)
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(server.pid) - cpu0
    listed: dict[str, str] = {}
    pages = sm.get_paginator("list_pipeline_execution_steps").paginate(
        PipelineExecutionArn=arn, PaginationConfig={"PageSize": 100}
    )
    for page in pages:
        for step in page["PipelineExecutionSteps"]:
            listed[step["StepName"]] = step["StepStatus"]
    succeeded = sum(1 for status in listed.values() if status == "Succeeded")
    return {
        "arn": arn,
        "status": described["PipelineExecutionStatus"],
        "steps": len(steps),
        "succeeded_steps": succeeded,
        "seconds": elapsed,
        "steps_per_s": len(steps) / elapsed if elapsed > 0 else float("inf"),
        "server_cpu_ms_per_step": cpu / len(steps) * 1000,
    }


def list_steps_latency(server: Process, arns: dict[str, str], seconds: float) -> dict[str, Any]:
    """ListPipelineExecutionSteps, first page of 10, one connection: the cost of a page as
    the execution's definition grows."""
    out = {}
    for label, arn in arns.items():
        body = json.dumps({"PipelineExecutionArn": arn, "MaxResults": 10})
        result = load(
            server, "ListPipelineExecutionSteps", bodies=[body], connections=1,
            duration=seconds, warmup=0.3, expect='"PipelineExecutionSteps"',
        )  # fmt: skip
        out[label] = result
    return out


def bench_backend(
    label: str, server_args: list[str], raw: Any, n: int, smoke: bool, spy_dir: str | None
) -> dict[str, Any]:
    raw_before = raw()
    server = sagepipe_server(server_args)
    server.name = "sqlite" if "--data-dir" in server_args else "postgres"
    server.start()
    try:
        runs = {
            shape: run_shape(server, shape, steps, timeout=900, spy_dir=spy_dir)
            for shape, steps in shapes(n).items()
        }
        tiny = run_shape(server, "tiny", [processing_step("Only")], timeout=60)
        latency = list_steps_latency(
            server,
            {"1-step definition": tiny["arn"], f"{n}-step definition": runs["chain"]["arn"]},
            0.5 if smoke else 3.0,
        )
    finally:
        server.stop()
    raw_after = raw()
    raw_rate = (raw_before + raw_after) / 2
    return {
        "backend": label,
        "raw_commits_per_s": raw_rate,
        "raw_before": raw_before,
        "raw_after": raw_after,
        "runs": runs,
        "list_steps": latency,
    }


def report(result: dict[str, Any], verdicts: Verdicts, embedded: bool) -> None:
    raw = result["raw_commits_per_s"]
    print(f"{result['backend']}")
    print(f"  raw single-row committed UPDATEs: {raw:,.0f}/s "
          f"(before {result['raw_before']:,.0f}/s, after {result['raw_after']:,.0f}/s)")  # fmt: skip
    print("  shape    steps  seconds    steps/s   ratio to raw  CPU ms/step  status")
    for shape, r in result["runs"].items():
        ratio = r["steps_per_s"] / raw
        r["ratio"] = ratio
        print(f"  {shape:<7} {r['steps']:>6} {r['seconds']:>8.2f} {r['steps_per_s']:>10,.0f} "
              f"{ratio:>13.1%} {r['server_cpu_ms_per_step']:>12.2f}  {r['status']} "
              f"({r['succeeded_steps']}/{r['steps']} steps Succeeded)")  # fmt: skip
        ok = r["status"] == "Succeeded" and r["succeeded_steps"] == r["steps"]
        verdicts.check(
            f"{result['backend']} {shape} all steps Succeeded", r["status"], "Succeeded", ok
        )
        if embedded:
            verdicts.check(
                f"{result['backend']} {shape} steps/s", f"{r['steps_per_s']:,.0f}",
                f">= {MIN_STEPS_PER_S:,.0f}", r["steps_per_s"] >= MIN_STEPS_PER_S,
            )  # fmt: skip
        verdicts.check(
            f"{result['backend']} {shape} steps/s / raw commits/s", f"{ratio:.1%}",
            f">= {MIN_RATIO:.0%}", ratio >= MIN_RATIO,
        )  # fmt: skip
    print("  ListPipelineExecutionSteps, first page of 10 steps, 1 connection (informational):")
    for label, r in result["list_steps"].items():
        print(f"    {label:<22} p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
              f"{r['rps']:7.0f} req/s")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run, targets not enforced")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--db", help="also run on this PostgreSQL server (postgresql://...)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--py-spy", metavar="DIR", help="profile the server's runs into DIR")
    args = parser.parse_args()
    if args.smoke:
        args.steps = 20
    print_machine()
    print_source()
    verdicts = Verdicts(enforce=not args.smoke)
    raw_seconds = 0.5 if args.smoke else 3.0
    results = []
    data_dir = tempfile.mkdtemp(prefix="sagepipe-bench-engine-")
    try:
        results.append(
            bench_backend(
                "SQLite (embedded default)",
                ["--data-dir", data_dir],
                lambda: raw_sqlite_commits(data_dir, raw_seconds),
                args.steps,
                args.smoke,
                args.py_spy,
            )
        )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    if args.db:
        with scratch_pg_database(args.db) as url:
            results.append(
                bench_backend(
                    f"PostgreSQL ({args.db.split('@')[-1].rsplit('/', 1)[0]})",
                    ["--db", url],
                    lambda: raw_pg_commits(url, raw_seconds),
                    args.steps,
                    args.smoke,
                    args.py_spy,
                )
            )
    print()
    print(f"{args.steps}-step pipelines of zero-duration simulated Processing steps")
    for i, result in enumerate(results):
        report(result, verdicts, embedded=i == 0)
    write_json(
        args.json, {"benchmark": "engine_throughput", "args": vars(args), "results": results}
    )
    return verdicts.report()


if __name__ == "__main__":
    sys.exit(main())
