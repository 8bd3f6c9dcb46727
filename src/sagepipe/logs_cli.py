"""`sagepipe logs EXECUTION_ARN [--step S] [--attempt N] [--follow]` (docs/behaviour.md §11.5):
print the stdout and stderr of an execution's step attempts, and follow them while they run."""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from typing import Any

from sagepipe.domain.states import RUNNING_EXECUTION
from sagepipe.extension_client import Problem, get_json

POLL_SECONDS = 0.5


def _attempts(endpoint: str, exec_id: str) -> dict[str, Any]:
    return get_json(endpoint, f"/_sagepipe/executions/{exec_id}/attempts")


def _logs(endpoint: str, exec_id: str, step: str, attempt: int) -> str:
    path = f"/_sagepipe/executions/{exec_id}/steps/{urllib.parse.quote(step)}/logs"
    return str(get_json(endpoint, f"{path}?attempt={attempt}").get("logs", ""))


def _chosen(history: dict[str, Any], step: str | None, attempt: int | None) -> list[dict[str, Any]]:
    attempts = [a for a in history["attempts"] if step is None or a["step"] == step]
    if attempt is not None:
        attempts = [a for a in attempts if a["attempt"] == attempt]
    return attempts


def run_logs(args: argparse.Namespace) -> int:
    exec_id = args.execution_arn.rstrip("/").rsplit("/", 1)[-1]
    try:
        history = _attempts(args.endpoint_url, exec_id)
        shown: dict[tuple[str, int], int] = {}  # (step, attempt) -> characters printed
        while True:
            chosen = _chosen(history, args.step, args.attempt)
            if not chosen and not args.follow:
                which = f"step '{args.step}'" if args.step else "any step"
                raise Problem(f"execution {exec_id} has no attempt of {which} yet.")
            for attempt in chosen:
                key = (attempt["step"], attempt["attempt"])
                text = _logs(args.endpoint_url, exec_id, *key)
                done = shown.get(key)
                if done is None:
                    print(f"==> {key[0]}, attempt {key[1]} ({attempt.get('job_name')}) <==",
                          flush=True)  # fmt: skip
                    done = 0
                sys.stdout.write(text[done:])
                sys.stdout.flush()
                shown[key] = len(text)
            if not args.follow or history["status"] not in RUNNING_EXECUTION:
                return 0
            time.sleep(POLL_SECONDS)
            history = _attempts(args.endpoint_url, exec_id)
    except Problem as problem:
        print(f"sagepipe logs: {problem}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
