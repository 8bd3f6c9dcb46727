"""Scale: do reads stay fast, and memory small, when many executions are stored?

    python bench/scale.py [--smoke] [--executions N] [--db postgresql://...] [--json PATH]

Two databases are prepared the same way, one with 100 stored executions and one with
100,000 (10 steps each; all in one pipeline, the worst case for ListPipelineExecutions).
Seeding: one real 10-step execution is run through a sagepipe server; its rows (execution,
steps, attempts, events) are then copied for every other execution with sagepipe's own store
(`open_database`, `migrate`, and the named queries of store/sql/queries.sql), in batches of
1,000 executions per transaction. Loading 100,000 executions through the engine would take
far longer and measure the engine, not the reads. The output says so.

Then a server is started on each database and measured through real HTTP, one connection,
sequential requests:
  DescribePipelineExecution   of executions picked at random    target: p50 <= 2x (100 stored)
  ListPipelineExecutions      first page (default page size)    target: p50 <= 2x (100 stored)
  ListPipelineExecutionSteps  of executions picked at random    (informational)
  ListProcessingJobs          first page (newest first)         target: p50 <= 2x (100 stored)
  DescribeProcessingJob       of jobs picked at random          target: p50 <= 2x (100 stored)
(every step is a processing job: 10 jobs per execution, so 1,000 and 1,000,000 jobs)
Server RSS (VmRSS from /proc/<pid>/status) after the reads on 100,000 executions: <= 200 MB.
The small database is measured before and after the large one; its mean is the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from typing import Any

from _common import (
    ROLE,
    Process,
    Verdicts,
    definition,
    load,
    print_machine,
    print_source,
    processing_step,
    rss_mb,
    sagemaker,
    sagepipe_server,
    scratch_pg_database,
    wait_until_done,
    write_json,
)

PIPELINE = "bench-scale"
STEPS = 10
BATCH = 1000
MAX_RATIO = 2.0
MAX_RSS_MB = 200.0
SAMPLE = 2000  # executions whose ARNs the reads pick from


# ---------------------------------------------------------------------- seeding
def template(server_args: list[str]) -> str:
    """Run one real 10-step execution on a fresh database; returns its ARN."""
    server = sagepipe_server(server_args)
    server.start()
    try:
        sm = sagemaker(server.url)
        steps = [processing_step("S00")]
        steps += [processing_step(f"S{i:02d}", [f"S{i - 1:02d}"]) for i in range(1, STEPS)]
        sm.create_pipeline(
            PipelineName=PIPELINE, PipelineDefinition=definition(steps), RoleArn=ROLE
        )
        arn = sm.start_pipeline_execution(PipelineName=PIPELINE)["PipelineExecutionArn"]
        described = wait_until_done(sm, arn, timeout=60, poll=0.1)
        assert described["PipelineExecutionStatus"] == "Succeeded", described
        return str(arn)
    finally:
        server.stop()


def seed(database_url: str, source_arn: str, total: int) -> dict[str, Any]:
    """Copy the template execution until `total` executions are stored."""
    from sagepipe.store.db import Tx, open_database
    from sagepipe.store.migrations import migrate

    db = open_database(database_url)
    try:
        migrate(db)

        def read(tx: Tx) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
            execution = tx.one("execution_get", arn=source_arn)
            assert execution is not None
            steps = tx.all("steps_for_execution", execution_arn=source_arn)
            attempts = tx.all("attempts_for_execution", execution_arn=source_arn)
            return execution, steps, attempts

        execution, steps, attempts = db.run_sync(read)
        pipeline_arn = execution["pipeline_arn"]
        base = time.time() - total  # one execution a second, oldest first
        t0 = time.perf_counter()
        rng = random.Random(7)
        sample: list[str] = [source_arn]
        jobs: list[str] = []
        for start in range(1, total, BATCH):
            ids = [
                "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
                for _ in range(min(BATCH, total - start))
            ]
            rows = _rows(execution, steps, attempts, pipeline_arn, ids, base + start)
            db.run_sync(lambda tx, rows=rows: _insert(tx, rows))
            sample.extend(rows["arns"][: max(1, SAMPLE * BATCH // total)])
            jobs.extend(rows["jobs"][: max(1, SAMPLE * BATCH // total)])
        seconds = time.perf_counter() - t0
        running = db.run_sync(
            lambda tx: tx.one(
                "running_count", account=execution["account"], region=execution["region"]
            )
        )
        assert running is not None and running["n"] == 0, (
            f"seeding left {running} executions running: the store's queries changed; "
            "update bench/scale.py"
        )
    finally:
        db.close()
    return {"seconds": seconds, "sample": sample[:SAMPLE], "jobs": jobs[:SAMPLE],
            "pipeline_arn": pipeline_arn}  # fmt: skip


def _rows(
    execution: dict[str, Any],
    steps: list[dict[str, Any]],
    attempts: list[dict[str, Any]],
    pipeline_arn: str,
    ids: list[str],
    first_created: float,
) -> dict[str, Any]:
    from sagepipe.domain.records import event_row

    out: dict[str, Any] = {"arns": [], "jobs": [], "executions": [], "fences": [], "steps": [], "attempts": [], "events": []}  # fmt: skip
    source_id = execution["exec_id"]
    for i, exec_id in enumerate(ids):
        arn = f"{pipeline_arn}/execution/{exec_id}"
        created = first_created + i
        shift = created - execution["created"]
        out["arns"].append(arn)
        # Superset of every column: the named queries take the parameters they name.
        out["executions"].append(
            dict(execution, arn=arn, exec_id=exec_id, now=created, user=execution["created_by"],
                 display_name=f"execution-{int(created * 1000)}", owner=None, lease_until=None)
        )  # fmt: skip
        out["fences"].append(
            {"arn": arn, "epoch": 1, "status": "Executing", "new_status": "Succeeded",
             "now": execution["modified"] + shift}
        )  # fmt: skip
        ran: list[list[Any]] = []  # the engine's transitions, after the start's own
        for step in steps:
            out["steps"].append(
                dict(step, execution_arn=arn, first_start=step["first_start"] + shift,
                     started=step["started"] + shift, ended=step["ended"] + shift)
            )  # fmt: skip
            ran += [
                [step["name"], 1, None, "Starting", step["started"] + shift],
                [step["name"], 1, "Starting", "Executing", step["started"] + shift],
                [step["name"], 1, "Executing", "Succeeded", step["ended"] + shift],
            ]
        for attempt in attempts:
            # Each copy's jobs are jobs of their own: the execution id is in their names.
            job_arn = attempt["job_arn"].replace(source_id, exec_id)
            out["attempts"].append(
                dict(attempt, execution_arn=arn, started=attempt["started"] + shift,
                     ended=attempt["ended"] + shift, job_arn=job_arn,
                     job=attempt["job"].replace(source_id, exec_id))
            )  # fmt: skip
            out["jobs"].append(job_arn.rsplit("/", 1)[1])
        ran.append([None, None, "Executing", "Succeeded", execution["modified"] + shift])
        out["events"] += [
            event_row(arn, [[None, None, None, "Executing", created]]),
            event_row(arn, ran),
        ]
    return out


def _insert(tx: Any, rows: dict[str, Any]) -> None:
    tx.many("execution_insert", rows["executions"])
    tx.many("execution_fence", rows["fences"])
    tx.many("step_upsert", rows["steps"])
    tx.many("attempt_insert", rows["attempts"])
    tx.many("attempt_end", rows["attempts"])
    tx.many("event_insert", rows["events"])


# ---------------------------------------------------------------------- measuring
def measure(server: Process, sample: list[str], jobs: list[str], seconds: float) -> dict[str, Any]:
    rng = random.Random(11)
    picks = [rng.choice(sample) for _ in range(5000)]
    job_picks = [rng.choice(jobs) for _ in range(5000)]
    common = {"connections": 1, "duration": seconds, "warmup": min(1.0, seconds / 2)}
    out = {
        "describe": load(
            server, "DescribePipelineExecution",
            bodies=[json.dumps({"PipelineExecutionArn": a}) for a in picks],
            expect='"PipelineExecutionStatus"', **common,
        ),
        "list_executions": load(
            server, "ListPipelineExecutions", bodies=[json.dumps({"PipelineName": PIPELINE})],
            expect='"PipelineExecutionSummaries"', **common,
        ),
        "list_steps": load(
            server, "ListPipelineExecutionSteps",
            bodies=[json.dumps({"PipelineExecutionArn": a}) for a in picks],
            expect='"PipelineExecutionSteps"', **common,
        ),
        "list_jobs": load(
            server, "ListProcessingJobs", bodies=["{}"],
            expect='"ProcessingJobSummaries"', **common,
        ),
        "describe_job": load(
            server, "DescribeProcessingJob",
            bodies=[json.dumps({"ProcessingJobName": j}) for j in job_picks],
            expect='"ProcessingJobStatus"', **common,
        ),
    }  # fmt: skip
    rss, hwm = rss_mb(server.pid)
    out["rss_mb"], out["hwm_mb"] = rss, hwm
    return out


def run_server(
    server_args: list[str], sample: list[str], jobs: list[str], seconds: float
) -> dict[str, Any]:
    server = sagepipe_server(server_args)
    t0 = time.perf_counter()
    server.start()
    ready = time.perf_counter() - t0
    try:
        rss_start, _ = rss_mb(server.pid)
        result = measure(server, sample, jobs, seconds)
        result["ready_s"], result["rss_start_mb"] = ready, rss_start
        return result
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run, targets not enforced")
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per read")
    parser.add_argument("--db", help="run on this PostgreSQL server instead of SQLite")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the seeded databases")
    args = parser.parse_args()
    if args.smoke:
        args.executions, args.baseline, args.seconds = 300, 30, 0.5
    print_machine()
    print_source()
    verdicts = Verdicts(enforce=not args.smoke)
    sizes = {"small": args.baseline, "large": args.executions}
    results: dict[str, Any] = {"seeding": {}, "runs": {}}
    with _databases(args.db, args.keep) as urls:
        server_args = {k: _server_args(url) for k, url in urls.items()}
        for label, total in sizes.items():
            arn = template(server_args[label])
            seeded = seed(_store_url(urls[label]), arn, total)
            seeded["size_mb"] = _size_mb(urls[label])
            results["seeding"][label] = seeded
            print(f"seeded {total:,} executions x {STEPS} steps ({label}) in "
                  f"{seeded['seconds']:.1f}s: 1 run through the engine, the rest copied with "
                  f"SQL through sagepipe's store; database {seeded['size_mb']:,.0f} MB "
                  f"({seeded['size_mb'] * 1024 / total:.1f} KB per execution)", flush=True)  # fmt: skip
        for label in ("small", "large", "small"):
            seeded = results["seeding"][label]
            run = run_server(server_args[label], seeded["sample"], seeded["jobs"], args.seconds)
            results["runs"].setdefault(label, []).append(run)
    _report(results, sizes, args, verdicts)
    write_json(
        args.json,
        {"benchmark": "scale", "args": vars(args), "results": _without_samples(results)},
    )
    return verdicts.report()


def _report(results: dict[str, Any], sizes: dict[str, int], args: Any, verdicts: Verdicts) -> None:
    small_runs, large = results["runs"]["small"], results["runs"]["large"][0]
    backend = "PostgreSQL" if args.db else "SQLite (embedded default)"
    print()
    print(f"{backend}; reads over HTTP, 1 connection, {args.seconds:g}s each; "
          f"{sizes['small']:,} stored = mean of the runs before and after {sizes['large']:,}")  # fmt: skip
    print(f"  {'read':<28}{sizes['small']:>9,} p50   {sizes['large']:>9,} p50   ratio   "
          f"p99 small -> large")  # fmt: skip
    names = {
        "describe": "DescribePipelineExecution",
        "list_executions": "ListPipelineExecutions page 1",
        "list_steps": "ListPipelineExecutionSteps",
        "list_jobs": "ListProcessingJobs page 1",
        "describe_job": "DescribeProcessingJob",
    }
    for key, name in names.items():
        small_p50 = sum(r[key]["p50_ms"] for r in small_runs) / len(small_runs)
        small_p99 = sum(r[key]["p99_ms"] for r in small_runs) / len(small_runs)
        big = large[key]
        ratio = big["p50_ms"] / small_p50
        errors = big["errors"] + sum(r[key]["errors"] for r in small_runs)
        print(f"  {name:<28}{small_p50:>9.3f} ms  {big['p50_ms']:>9.3f} ms  {ratio:>5.2f}x  "
              f"{small_p99:.3f} -> {big['p99_ms']:.3f} ms  (errors {errors})")  # fmt: skip
        if key != "list_steps":
            verdicts.check(
                f"{name} p50 {sizes['large']:,} vs {sizes['small']:,} stored",
                f"{ratio:.2f}x", f"<= {MAX_RATIO:g}x", ratio <= MAX_RATIO and errors == 0,
            )  # fmt: skip
    print(f"  server RSS with {sizes['large']:,} stored: {large['rss_start_mb']:.0f} MB at start, "
          f"{large['rss_mb']:.0f} MB after the reads (peak {large['hwm_mb']:.0f} MB); "
          f"with {sizes['small']:,}: {small_runs[0]['rss_mb']:.0f} MB; "
          f"ready in {large['ready_s']:.1f}s vs {small_runs[0]['ready_s']:.1f}s")  # fmt: skip
    verdicts.check(
        f"server RSS with {sizes['large']:,} stored", f"{large['rss_mb']:.0f} MB",
        f"<= {MAX_RSS_MB:g} MB", large["rss_mb"] <= MAX_RSS_MB,
    )  # fmt: skip


def _without_samples(results: dict[str, Any]) -> dict[str, Any]:
    seeding = {
        k: {"seconds": v["seconds"], "size_mb": v["size_mb"]} for k, v in results["seeding"].items()
    }
    return dict(results, seeding=seeding)


class _databases:
    """Two empty databases: SQLite files in temporary directories, or scratch PostgreSQL
    databases on the given server (dropped afterwards)."""

    def __init__(self, pg_url: str | None, keep: bool) -> None:
        self.pg_url = pg_url
        self.keep = keep
        self._contexts: list[Any] = []
        self._dirs: list[str] = []

    def __enter__(self) -> dict[str, str]:
        urls = {}
        for label in ("small", "large"):
            if self.pg_url:
                context = scratch_pg_database(self.pg_url)
                urls[label] = context.__enter__()
                self._contexts.append(context)
            else:
                urls[label] = tempfile.mkdtemp(prefix=f"sagepipe-bench-scale-{label}-")
                self._dirs.append(urls[label])
        return urls

    def __exit__(self, *exc: Any) -> None:
        if self.keep:
            print(f"kept: {', '.join(self._dirs) or 'PostgreSQL databases are dropped anyway'}")
        else:
            for directory in self._dirs:
                shutil.rmtree(directory, ignore_errors=True)
        for context in self._contexts:
            context.__exit__(*exc)


def _size_mb(url: str) -> float:
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return float(row[0]) / 1048576 if row else 0.0
    files = [os.path.join(url, name) for name in os.listdir(url)]
    return sum(os.path.getsize(f) for f in files if os.path.isfile(f)) / 1048576


def _server_args(url: str) -> list[str]:
    return ["--db", url] if url.startswith("postgresql://") else ["--data-dir", url]


def _store_url(url: str) -> str:
    return url if url.startswith("postgresql://") else os.path.join(url, "sagepipe.db")


if __name__ == "__main__":
    sys.exit(main())
