"""Run one benchmark on two commits side by side, in one run: base, head, base, head, ...

Each commit is exported with `git archive` into a temporary directory and measured with
`PYTHONPATH=<that tree>/src`, so the working tree can keep changing meanwhile. The runs of the
two trees alternate, so a drift of the machine's speed during the run falls on both alike.
Prints each run's headline figures and, per figure, the median of each tree and head ÷ base.

    python bench/compare_trees.py --base HEAD~1 [--head HEAD] [--pairs 2] engine_throughput.py [ARGS...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def export(rev: str, into: Path) -> str:
    """The tree of `rev` under `into`; returns the commit's short hash."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", commit], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return commit


def headline(payload: dict[str, Any]) -> dict[str, float]:
    """The figures worth comparing in one benchmark's --json output."""
    figures: dict[str, float] = {}
    results = payload.get("results")
    if payload.get("benchmark") == "engine_throughput" and isinstance(results, list):
        for result in results:
            backend = result["backend"].split(" ")[0]
            for shape, run in result["runs"].items():
                figures[f"{backend} {shape} steps/s"] = run["steps_per_s"]
                figures[f"{backend} {shape} ÷ raw commits"] = (
                    run["steps_per_s"] / result["raw_commits_per_s"]
                )
    elif payload.get("benchmark") == "api_throughput" and isinstance(results, dict):
        for key, value in results.items():
            if key.endswith("_ratios"):
                figures[f"{key[: -len('_ratios')]} ÷ moto (median of rounds)"] = statistics.median(
                    value
                )
    elif "median_ms" in payload:  # retry_latency
        small, large = payload["median_ms"]
        figures["retry ms, small"] = small
        figures["retry ms, large"] = large
        figures["retry large ÷ small"] = payload["ratio"]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--head", default="HEAD", help="the commit measured (default HEAD)")
    parser.add_argument("--pairs", type=int, default=2, help="base/head runs of each (2)")
    parser.add_argument("benchmark", help="a script in bench/, e.g. engine_throughput.py")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sagepipe-compare-"))
    trees = {
        "base": (work / "base", export(args.base, work / "base")),
        "head": (work / "head", export(args.head, work / "head")),
    }
    runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
    for pair in range(1, args.pairs + 1):
        for label, (tree, commit) in trees.items():
            out = work / f"{label}-{pair}.json"
            env = dict(os.environ, PYTHONPATH=str(tree / "src"))
            command = [sys.executable, str(tree / "bench" / args.benchmark), *args.args]
            print(f"==> pair {pair}, {label} ({commit}): {' '.join(command[1:])}", flush=True)
            done = subprocess.run([*command, "--json", str(out)], env=env, cwd=tree)
            if not out.exists():
                print(f"{label} run {pair} wrote no figures (exit {done.returncode})")
                return 1
            figures = headline(json.loads(out.read_text()))
            runs[label].append(figures)
            for name, value in figures.items():
                print(f"    {label} {pair}: {name} = {value:,.3f}")
    print(f"\n{args.benchmark}: base {trees['base'][1]} vs head {trees['head'][1]}, "
          f"{args.pairs} alternating run(s) each (medians)")  # fmt: skip
    print(f"  {'figure':<44} {'base':>12} {'head':>12} {'head/base':>10}")
    for name in runs["base"][0]:
        base = statistics.median(r[name] for r in runs["base"])
        head = statistics.median(r[name] for r in runs["head"])
        ratio = head / base if base else float("nan")
        print(f"  {name:<44} {base:>12,.3f} {head:>12,.3f} {ratio:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
