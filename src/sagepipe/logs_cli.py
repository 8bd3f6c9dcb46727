"""`sagepipe logs EXECUTION_ARN [--step S] [--attempt N] [--follow]` (docs/behaviour.md §11.5):
print the stdout and stderr of an execution's step attempts, and follow them while they run."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from sagepipe.domain.states import RUNNING_EXECUTION

POLL_SECONDS = 0.5


class Problem(Exception):
    """Something the user can fix; printed as one line, no traceback."""


def _get(endpoint: str, path: str) -> dict[str, Any]:
    url = endpoint.rstrip("/") + path
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read()).get("Message", "")
        except ValueError:
            message = ""
        raise Problem(f"{endpoint} answered {error.code}: {message}") from None
    except OSError:
        raise Problem(
            f"cannot reach sagepipe at {endpoint}. Is `sagepipe serve` running there? Point to "
            "it with --endpoint-url or SAGEPIPE_ENDPOINT_URL."
        ) from None


def _attempts(endpoint: str, exec_id: str) -> dict[str, Any]:
    return _get(endpoint, f"/_sagepipe/executions/{exec_id}/attempts")


def _logs(endpoint: str, exec_id: str, step: str, attempt: int) -> str:
    path = f"/_sagepipe/executions/{exec_id}/steps/{urllib.parse.quote(step)}/logs"
    return str(_get(endpoint, f"{path}?attempt={attempt}").get("logs", ""))


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
