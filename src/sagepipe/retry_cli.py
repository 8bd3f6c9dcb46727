"""`sagepipe retry ARN [--max-parallel N] [--dry-run]` (docs/behaviour.md §10): show what a retry would
re-run, perform it through the SageMaker API, and follow the execution live."""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from typing import Any

from sagepipe.domain.states import RUNNING_EXECUTION, ExecutionStatus, StepStatus
from sagepipe.extension_client import Problem, get_json, unreachable

POLL_SECONDS = 0.25


def _say(text: str = "") -> None:
    print(text, flush=True)


def _names(names: list[str], limit: int = 12) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return f"{len(names)} step{'s' if len(names) != 1 else ''}: {shown}{more}"


def fetch_plan(endpoint: str, arn: str) -> dict[str, Any]:
    return get_json(
        endpoint,
        f"/_sagepipe/executions/{arn.rsplit('/', 1)[-1]}/retry-plan",
        not_found=f"execution '{arn}' does not exist at {endpoint}. Check the ARN, e.g. with "
        "`aws sagemaker list-pipeline-executions --pipeline-name <name>`.",
    )


def print_plan(plan: dict[str, Any], max_parallel: int | None) -> None:
    _say(f"Execution    {plan['execution_arn']}")
    _say(f"Status       {plan['status']}")
    error = plan.get("error") or {}
    if plan["retryable"]:
        _say("Retryable    yes")
    else:
        _say(f"Retryable    no: {error['code']}: {error['message']}")
    _say(f"Re-run       {_names(plan['rerun'])}")
    _say(f"Reuse        {_names(plan['reuse'])} (results kept, not run again)")
    current = plan.get("parallelism")
    shown = f"at most {current} step(s) at once" if current else "unlimited"
    if max_parallel is not None:
        shown = f"at most {max_parallel} step(s) at once (--max-parallel; was {shown})"
    _say(f"Parallelism  {shown}")


def client(endpoint: str, region: str) -> Any:
    import botocore.session
    from botocore.config import Config

    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")  # no slow metadata look-up
    session = botocore.session.get_session()
    keys: dict[str, str] = {}
    if session.get_credentials() is None:
        keys = {"aws_access_key_id": "sagepipe", "aws_secret_access_key": "sagepipe"}
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5)
    return session.create_client(
        "sagemaker", region_name=region, endpoint_url=endpoint, config=config, **keys
    )


def step_states(sm: Any, arn: str) -> dict[str, tuple[str, int, str | None]]:
    """(status, attempt, failure reason) of every step that has started, oldest start first."""
    pages = sm.get_paginator("list_pipeline_execution_steps").paginate(
        PipelineExecutionArn=arn, SortOrder="Ascending"
    )
    return {
        s["StepName"]: (s["StepStatus"], s.get("AttemptCount", 1), s.get("FailureReason"))
        for page in pages
        for s in page["PipelineExecutionSteps"]
    }


def follow(sm: Any, arn: str, before: dict[str, tuple[str, int, str | None]]) -> dict[str, Any]:
    """Print every step status change until the execution ends; its final description."""
    seen, began = dict(before), time.time()
    while True:
        described: dict[str, Any] = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        now = step_states(sm, arn)
        for name in now:
            if now[name] != seen.get(name):
                status, attempt, reason = now[name]
                line = f"  {time.time() - began:6.1f}s  {name:<24} {status:<10} attempt {attempt}"
                _say(line + (f": {reason}" if status == StepStatus.FAILED and reason else ""))
        seen = now
        if described["PipelineExecutionStatus"] not in RUNNING_EXECUTION:
            return described
        time.sleep(POLL_SECONDS)


def perform(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    parts = args.execution_arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else "us-east-1"
    token = args.token or str(uuid.uuid4())
    request: dict[str, Any] = {"PipelineExecutionArn": args.execution_arn}
    if args.max_parallel is not None:
        request["ParallelismConfiguration"] = {"MaxParallelExecutionSteps": args.max_parallel}
    try:
        sm = client(args.endpoint_url, region)
        before = step_states(sm, args.execution_arn)
        _say(f"\nRetrying (ClientRequestToken {token}) ...")
        try:
            sm.retry_pipeline_execution(ClientRequestToken=token, **request)
        except ClientError as error:
            err = error.response.get("Error", {})
            raise Problem(
                f"the retry was refused: {err.get('Code')}: {err.get('Message')}"
            ) from None
        _say("Retry accepted; following the execution (Ctrl-C stops following, not the run):")
        final = follow(sm, args.execution_arn, before)
    except ClientError as error:
        err = error.response.get("Error", {})
        raise Problem(f"{err.get('Code')}: {err.get('Message')}") from None
    except EndpointConnectionError:
        raise unreachable(args.endpoint_url) from None
    except BotoCoreError as error:
        raise Problem(f"{error}") from None
    status = final["PipelineExecutionStatus"]
    reason = final.get("FailureReason")
    _say(f"\nExecution {status}" + (f": {reason}" if reason else ""))
    return 0 if status == ExecutionStatus.SUCCEEDED else 1


def run_retry(args: argparse.Namespace) -> int:
    arn = args.execution_arn
    try:
        if ":pipeline/" not in arn or "/execution/" not in arn:
            raise Problem(
                f"'{arn}' is not a pipeline execution ARN (arn:aws:sagemaker:<region>:"
                "<account>:pipeline/<name>/execution/<id>)."
            )
        if args.max_parallel is not None and args.max_parallel < 1:
            raise Problem("--max-parallel must be at least 1.")
        plan = fetch_plan(args.endpoint_url, arn)
        print_plan(plan, args.max_parallel)
        if args.dry_run:
            if plan["retryable"]:
                _say("\nDry run: nothing was changed. Run again without --dry-run to retry.")
                return 0
            _say("\nThis execution cannot be retried now (see 'Retryable' above).")
            return 1
        return perform(args)
    except Problem as problem:
        print(f"sagepipe retry: {problem}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nStopped following; the execution goes on in sagepipe.", file=sys.stderr)
        return 130
