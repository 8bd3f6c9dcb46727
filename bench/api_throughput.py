"""API throughput: sagepipe vs moto's server, same machine, same run, same requests.

    python bench/api_throughput.py [--smoke] [--duration S] [--json PATH]

Both servers run at once (each idle while the other is measured). The load comes from a
separate process (bench/_loadgen.py: asyncio HTTP/1.1 keep-alive, 16 connections) sending
the bytes boto3 would send: awsJson1.1 body, X-Amz-Target, a SigV4 Authorization header
signed once per operation (neither server verifies signatures), and for
StartPipelineExecution a fresh ClientRequestToken per request, as boto3 auto-fills it.

  DescribePipelineExecution  on one existing execution        target: >= 10x moto's req/s
  StartPipelineExecution     of a 1-step pipeline, durable    target: >=  5x moto's req/s

sagepipe runs on SQLite in a temporary directory with --max-running-executions 1000000, so
every start is accepted and really executed by the engine while the load runs.

A third server, sagepipe with --credentials (docs/behaviour.md §14), answers the same
Describe load with every signature verified (the request is signed once, as a client
replaying it within the 15-minute window would): verification must not eat the lead.

  DescribePipelineExecution, verified                         target: >= 10x moto's req/s
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from typing import Any

from _common import (
    ACCESS_KEY,
    SECRET_KEY,
    Process,
    Verdicts,
    canned_server,
    definition,
    load_measured,
    moto_server,
    print_machine,
    print_source,
    processing_step,
    py_spy,
    raw_sqlite_commits,
    running,
    sagemaker,
    sagepipe_server,
    wait_until_done,
    write_json,
)

PIPELINE = "bench-one-step"
TARGETS = {"DescribePipelineExecution": 10.0, "StartPipelineExecution": 5.0}


def prepare(server: Process) -> str:
    """Create the 1-step pipeline, run one execution, and check the answers are right."""
    sm = sagemaker(server.url)
    sm.create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=definition([processing_step("Only")]),
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
    )
    arn = sm.start_pipeline_execution(PipelineName=PIPELINE)["PipelineExecutionArn"]
    described = wait_until_done(sm, arn, timeout=30)
    problems = []
    if described.get("PipelineExecutionArn") != arn:
        problems.append(f"describe returned ARN {described.get('PipelineExecutionArn')!r}")
    if not str(described.get("PipelineArn", "")).endswith(f":pipeline/{PIPELINE}"):
        problems.append(f"describe returned PipelineArn {described.get('PipelineArn')!r}")
    if described.get("PipelineExecutionStatus") != "Succeeded":
        problems.append(f"status {described.get('PipelineExecutionStatus')!r}")
    if problems:
        raise SystemExit(f"{server.name} answered incorrectly: {'; '.join(problems)}")
    print(f"  {server.name}: CreatePipeline, StartPipelineExecution, DescribePipelineExecution "
          f"answered correctly ({arn.rsplit('/', 1)[1]} Succeeded)", flush=True)  # fmt: skip
    return arn


def count_executions(server: Process) -> Counter[str]:
    sm = sagemaker(server.url)
    statuses: Counter[str] = Counter()
    pages = sm.get_paginator("list_pipeline_executions").paginate(
        PipelineName=PIPELINE, PaginationConfig={"PageSize": 100}
    )
    for page in pages:
        for summary in page["PipelineExecutionSummaries"]:
            statuses[summary["PipelineExecutionStatus"]] += 1
    return statuses


def wait_drained(server: Process, timeout: float) -> float:
    """Seconds until sagepipe drives no execution any more (the engine caught up)."""
    import urllib.request

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        with urllib.request.urlopen(server.url + "/_sagepipe/health", timeout=30) as response:
            if not json.loads(response.read())["driving"]:
                return time.perf_counter() - t0
        time.sleep(0.2)
    return float("nan")


def row(label: str, r: dict[str, Any]) -> str:
    return (
        f"  {label:<10} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
        f"{r['server_cpu']:>6.2f} {r['server_cpu_us_per_req']:>9.0f} {r['errors']:>6} "
        f"{r['reconnects']:>7}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run, targets not enforced")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="verdicts use the median round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--py-spy", metavar="DIR", help="profile sagepipe in round 1 into DIR")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.warmup, args.rounds = 1.0, 0.3, 1
    print_machine()
    print_source()
    data_dir = tempfile.mkdtemp(prefix="sagepipe-bench-api-")
    sagepipe = sagepipe_server(["--data-dir", data_dir, "--max-running-executions", "1000000"])
    credentials = os.path.join(data_dir, "credentials.json")
    with open(credentials, "w") as handle:
        json.dump({"credentials": [{"access_key": ACCESS_KEY, "secret_key": SECRET_KEY,
                                    "account": "123456789012"}]}, handle)  # fmt: skip
    verified = sagepipe_server(["--data-dir", os.path.join(data_dir, "verified"),
                                "--credentials", credentials])  # fmt: skip
    verified.name = "sagepipe-verified"
    moto, canned = moto_server(), canned_server()
    rounds: list[dict[str, dict[str, Any]]] = []
    verdicts = Verdicts(enforce=not args.smoke)
    common = {"connections": args.connections, "duration": args.duration, "warmup": args.warmup}
    accepted = {"sagepipe": 1, "moto": 1}  # the setup run
    with running(sagepipe, verified, moto, canned):
        print(f"sagepipe {sagepipe.url} (SQLite in {data_dir}), moto {moto.url}", flush=True)
        arns = {"sagepipe": prepare(sagepipe), "moto": prepare(moto),
                "sagepipe-verified": prepare(verified)}  # fmt: skip
        servers = {"sagepipe": sagepipe, "moto": moto}
        describe = {name: json.dumps({"PipelineExecutionArn": arn}) for name, arn in arns.items()}
        start = json.dumps({"PipelineName": PIPELINE, "ClientRequestToken": "{token}"})
        ceiling = load_measured(
            canned, "DescribePipelineExecution", bodies=[describe["sagepipe"]],
            expect="PipelineExecutionArn", **common,
        )  # fmt: skip
        for number in range(args.rounds):
            # Servers alternate within a round, so drift on a shared machine hits both.
            current: dict[str, dict[str, Any]] = {}
            spy_dir = args.py_spy if number == 0 else None
            for name in ("sagepipe", "moto"):
                with py_spy(servers[name].pid, spy_dir if name == "sagepipe" else None, "describe"):
                    current[f"describe_{name}"] = load_measured(
                        servers[name], "DescribePipelineExecution", bodies=[describe[name]],
                        expect='"PipelineExecutionStatus"', **common,
                    )  # fmt: skip
            current["describe_verified"] = load_measured(
                verified, "DescribePipelineExecution", bodies=[describe["sagepipe-verified"]],
                expect='"PipelineExecutionStatus"', **common,
            )  # fmt: skip
            # Each durable start waits for commits: the disk's own rate, right before, explains it.
            raw = raw_sqlite_commits(data_dir, 2.0)
            for name in ("sagepipe", "moto"):
                with py_spy(servers[name].pid, spy_dir if name == "sagepipe" else None, "start"):
                    current[f"start_{name}"] = load_measured(
                        servers[name], "StartPipelineExecution", template=start,
                        expect='"PipelineExecutionArn"', **common,
                    )  # fmt: skip
                accepted[name] += current[f"start_{name}"]["ok_total"]
                if name == "sagepipe":  # its engine runs them: let it finish before moto runs
                    current["start_sagepipe"]["drain_s"] = wait_drained(sagepipe, timeout=600)
                    current["start_sagepipe"]["raw_commits_per_s"] = raw
            rounds.append(current)
            print(f"  round {number + 1}/{args.rounds} done", flush=True)
        stored = {name: count_executions(servers[name]) for name in servers}
    shutil.rmtree(data_dir, ignore_errors=True)

    print()
    print(f"load: {args.connections} keep-alive connections from a separate process, "
          f"{args.warmup:g}s warm-up + {args.duration:g}s measured per run, "
          f"{args.rounds} round(s); verdicts on the median round's ratio")  # fmt: skip
    print(f"  loadgen ceiling (canned-response server): {ceiling['rps']:.0f} req/s, "
          f"p50 {ceiling['p50_ms']:.2f} ms")  # fmt: skip
    print(
        "  columns: req/s, p50 ms, p99 ms, server CPU (cores busy), server CPU us per request, "
        "errors, reconnects"
    )
    summary: dict[str, Any] = {"loadgen_ceiling": ceiling, "rounds": rounds}
    for op, key in (("DescribePipelineExecution", "describe"), ("StartPipelineExecution", "start")):
        print(op)
        ratios = []
        errors = 0
        for number, current in enumerate(rounds, 1):
            ours, theirs = current[f"{key}_sagepipe"], current[f"{key}_moto"]
            ratio = ours["rps"] / theirs["rps"] if theirs["rps"] else float("inf")
            ratios.append(ratio)
            errors += ours["errors"] + theirs["errors"]
            print(row(f"sagepipe {number}", ours))
            print(row(f"moto {number}", theirs))
            print(f"  ratio {number}    {ratio:>8.2f}x  (sagepipe req/s / moto req/s)")
            if "raw_commits_per_s" in ours:
                print(f"  raw SQLite commits/s on the same disk just before: "
                      f"{ours['raw_commits_per_s']:,.0f}")  # fmt: skip
            for label, r in (("sagepipe", ours), ("moto", theirs)):
                for sample in r["error_samples"]:
                    print(f"  {label} error: {sample}")
        median = statistics.median(ratios)
        summary[f"{key}_ratios"] = ratios
        print(f"  median ratio {median:.2f}x over {len(ratios)} round(s)")
        verdicts.check(
            f"{op} sagepipe/moto", f"{median:.2f}x", f">= {TARGETS[op]:g}x",
            median >= TARGETS[op] and errors == 0,
        )  # fmt: skip
    print("DescribePipelineExecution with every signature verified (--credentials)")
    ratios, errors = [], 0
    for number, current in enumerate(rounds, 1):
        ours, theirs = current["describe_verified"], current["describe_moto"]
        ratio = ours["rps"] / theirs["rps"] if theirs["rps"] else float("inf")
        ratios.append(ratio)
        errors += ours["errors"]
        print(row(f"verified {number}", ours))
        cost = ours["server_cpu_us_per_req"] - current["describe_sagepipe"]["server_cpu_us_per_req"]
        print(f"  ratio {number}    {ratio:>8.2f}x  (verified req/s / moto req/s); "
              f"verification costs {cost:.0f} us of server CPU per request")  # fmt: skip
        for sample in ours["error_samples"]:
            print(f"  verified error: {sample}")
    median = statistics.median(ratios)
    summary["describe_verified_ratios"] = ratios
    print(f"  median ratio {median:.2f}x over {len(ratios)} round(s)")
    verdicts.check(
        "DescribePipelineExecution verified/moto", f"{median:.2f}x", ">= 10x",
        median >= TARGETS["DescribePipelineExecution"] and errors == 0,
    )  # fmt: skip
    print("StartPipelineExecution: executions stored afterwards (setup runs included)")
    for name in ("sagepipe", "moto"):
        got = sum(stored[name].values())
        print(f"  {name:<9} accepted {accepted[name]}, listed {got}: {dict(stored[name])}")
        verdicts.check(
            f"{name} stored every accepted start",
            f"{got}/{accepted[name]}",
            "all",
            got == accepted[name],
        )
    drains = [r["start_sagepipe"]["drain_s"] for r in rounds]
    print(
        "  sagepipe's engine had finished every started execution "
        + ", ".join(f"{d:.1f}s" for d in drains)
        + " after each load ended"
    )
    verdicts.check(
        "sagepipe executions all Succeeded",
        f"{stored['sagepipe'].get('Succeeded', 0)}/{sum(stored['sagepipe'].values())}",
        "all",
        stored["sagepipe"].get("Succeeded", 0) == sum(stored["sagepipe"].values()),
    )
    write_json(args.json, {"benchmark": "api_throughput", "args": vars(args), "results": summary})
    return verdicts.report()


if __name__ == "__main__":
    sys.exit(main())
