"""The `sagepipe` command line (docs/behaviour.md §10)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from sagepipe import __version__
from sagepipe.config import Config, default_data_dir


def _env(flag: str, default: str | None = None) -> str | None:
    return os.environ.get("SAGEPIPE_" + flag.upper().replace("-", "_"), default)


def _optional_int(text: str | None) -> int | None:
    return None if text in (None, "", "unlimited") else int(text)  # type: ignore[arg-type]


def _optional_float(text: str | None) -> float | None:
    return None if text in (None, "", "unlimited") else float(text)  # type: ignore[arg-type]


def _accounts(text: str | None) -> dict[str, str]:
    """`KEY=ACCOUNT,KEY2=ACCOUNT2`: which access key belongs to which account."""
    pairs = [item.split("=", 1) for item in (text or "").split(",") if "=" in item]
    return {key.strip(): account.strip() for key, account in pairs}


def _serve_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = sub.add_parser(
        "serve",
        help="run the service",
        description="Run sagepipe. Every flag also reads SAGEPIPE_<FLAG> from the environment.",
    )
    add = serve.add_argument
    add("--host", default=_env("host", "127.0.0.1"))
    add("--port", type=int, default=int(_env("port", "8080") or 8080))
    add(
        "--data-dir",
        default=_env("data-dir", default_data_dir()),
        help="where the embedded database, object store and job directories live "
        "(default: %(default)s)",
    )
    add(
        "--db",
        default=_env("db"),
        help="database URL: a postgresql://... URL selects PostgreSQL; default: SQLite in --data-dir",
    )
    add(
        "--s3-endpoint-url",
        default=_env("s3-endpoint-url"),
        help="an S3-compatible endpoint for the jobs' data and PipelineDefinitionS3Location "
        "(default with --runner local: an embedded store under --data-dir/s3)",
    )
    add(
        "--sqs-endpoint-url",
        default=_env("sqs-endpoint-url"),
        help="SQS endpoint that receives Callback step messages",
    )
    add("--lambda-endpoint-url", default=_env("lambda-endpoint-url"),
        help="Lambda API endpoint where Lambda steps invoke their FunctionArn (default: Lambda "
        "steps are simulated)")  # fmt: skip
    add(
        "--runner",
        default=_env("runner", "local"),
        help="what runs Processing, Training and Transform steps: local (real processes), "
        "ray (Ray jobs on --ray-address) or simulate (default: %(default)s)",
    )
    add("--ray-address", default=_env("ray-address"),
        help="for --runner ray: the Ray head's dashboard (Jobs API), e.g. http://HEAD:8265")  # fmt: skip
    add("--ray-instance-types", default=_env("ray-instance-types"),
        help="for --runner ray: JSON file overriding or adding ml.* instance types' Ray "
        "resources (cpus, gpus, memory_gb, resource)")  # fmt: skip
    add("--ray-max-cpus", type=float, default=_optional_float(_env("ray-max-cpus")),
        help="for --runner ray: ask Ray for at most this many CPUs per instance")  # fmt: skip
    add("--images", default=_env("images"), help="JSON file mapping container images to local "
        "environments, for --runner local")  # fmt: skip
    add("--max-local-jobs", type=int, default=_optional_int(_env("max-local-jobs")),
        help="jobs the local runner runs at once (default: the CPU count)")  # fmt: skip
    add("--sandbox", default=_env("sandbox", "auto"), choices=["auto", "bwrap", "unshare"],
        help="how local jobs get their own /opt/ml (default: bwrap where installed, else unshare)")  # fmt: skip
    add("--keep-failed-jobs", default=_env("keep-failed-jobs", "true"), choices=["true", "false"],
        help="keep a failed local job's /opt/ml tree under --data-dir/jobs (default: true)")  # fmt: skip
    add("--faults", default=_env("faults"), help="JSON file of simulate-runner fault rules")
    add("--max-pipelines", type=int, default=int(_env("max-pipelines", "500") or 500))
    add(
        "--max-running-executions",
        type=int,
        default=int(_env("max-running-executions", "20") or 20),
        help="running executions allowed per account and region (default: %(default)s)",
    )
    add(
        "--max-retries-per-execution",
        default=_env("max-retries-per-execution"),
        help="manual retries allowed per execution (default: unlimited)",
    )
    add(
        "--retry-window",
        default=_env("retry-window"),
        help="seconds after its start within which an execution may be retried (default: unlimited)",
    )
    add(
        "--lease-seconds",
        type=float,
        default=float(_env("lease-seconds", "5") or 5),
        help="how long a dead server's executions wait before another server takes them over",
    )
    add(
        "--accounts",
        default=_env("accounts"),
        help="access key to account map, KEY=ACCOUNT[,KEY=ACCOUNT...] (default account 123456789012)",
    )
    add(
        "--credentials",
        default=_env("credentials"),
        metavar="FILE",
        help='verify every request\'s SigV4 signature against these keys: JSON {"credentials": '
        '[{"access_key": ..., "secret_key": ..., "account": "<12 digits>"}]} (default: open, '
        "any key is accepted)",
    )
    add(
        "--allow-open",
        action="store_true",
        default=_env("allow-open", "") in ("1", "true"),
        help="listen on a non-loopback --host without --credentials (anyone who can reach the "
        "port can act as any account)",
    )
    add(
        "--log-level",
        default=_env("log-level", "info"),
        choices=["debug", "info", "warning", "error"],
    )
    # fmt: skip


def _retry_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    retry = sub.add_parser(
        "retry",
        help="retry a failed or stopped execution and follow it",
        description="Show what a retry would re-run, perform it, and follow the execution live.",
    )
    retry.add_argument("execution_arn")
    retry.add_argument("--max-parallel", type=int, help="MaxParallelExecutionSteps for the retry")
    retry.add_argument("--dry-run", action="store_true", help="only show the plan")
    retry.add_argument("--endpoint-url", default=_env("endpoint-url", "http://127.0.0.1:8080"))
    retry.add_argument("--token", help="ClientRequestToken (default: a new one)")


def _logs_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    logs = sub.add_parser(
        "logs",
        help="print (and follow) the logs of an execution's steps",
        description="Print the stdout and stderr of an execution's step attempts.",
    )
    logs.add_argument("execution_arn")
    logs.add_argument("--step", help="only this step (default: every step that started)")
    logs.add_argument("--attempt", type=int, help="only this attempt (default: every attempt)")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing while it runs")
    logs.add_argument("--endpoint-url", default=_env("endpoint-url", "http://127.0.0.1:8080"))


def _s3_env_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s3_env = sub.add_parser(
        "s3-env",
        help="print the embedded object store's endpoint and credentials for a shell",
        description="Print export lines for the embedded object store of the server running on "
        '--data-dir; use as: eval "$(sagepipe s3-env)"',
    )
    s3_env.add_argument("--data-dir", default=_env("data-dir", default_data_dir()),
                        help="the running server's --data-dir (default: %(default)s)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sagepipe", description=f"sagepipe {__version__}")
    parser.add_argument("--version", action="version", version=f"sagepipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _retry_parser(sub)
    _logs_parser(sub)
    _s3_env_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "s3-env":
        return _s3_env(args)
    if args.command == "logs":
        from sagepipe.logs_cli import run_logs

        return run_logs(args)
    from sagepipe.retry_cli import run_retry

    return run_retry(args)


def _serve(args: argparse.Namespace) -> int:
    from sagepipe.app import StartupError
    from sagepipe.server import serve

    try:
        config = Config(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            db=args.db,
            s3_endpoint_url=args.s3_endpoint_url,
            sqs_endpoint_url=args.sqs_endpoint_url,
            lambda_endpoint_url=args.lambda_endpoint_url,
            runner=args.runner,
            images=args.images,
            max_local_jobs=args.max_local_jobs,
            sandbox=args.sandbox,
            keep_failed_jobs=args.keep_failed_jobs == "true",
            ray_address=args.ray_address,
            ray_instance_types=args.ray_instance_types,
            ray_max_cpus=args.ray_max_cpus,
            faults=args.faults,
            max_pipelines=args.max_pipelines,
            max_running_executions=args.max_running_executions,
            max_retries_per_execution=_optional_int(args.max_retries_per_execution),
            retry_window=_optional_float(args.retry_window),
            lease_seconds=args.lease_seconds,
            accounts=_accounts(args.accounts),
            credentials=args.credentials,
            allow_open=args.allow_open,
            log_level=args.log_level,
        )
    except ValueError as exc:
        print(f"sagepipe: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return _run_loop(serve(config))
    except StartupError as exc:
        print(f"sagepipe: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _s3_env(args: argparse.Namespace) -> int:
    import shlex
    from pathlib import Path

    from sagepipe.objectstore.embedded import read_running

    running = read_running(Path(args.data_dir) / "s3")
    if running is None:
        print(
            f"sagepipe: no server with an embedded object store is running on {args.data_dir}. "
            "Start one with `sagepipe serve` (the same --data-dir or SAGEPIPE_DATA_DIR).",
            file=sys.stderr,
        )
        return 1
    for name, key in (("AWS_ENDPOINT_URL_S3", "endpoint_url"),
                      ("AWS_ACCESS_KEY_ID", "access_key_id"),
                      ("AWS_SECRET_ACCESS_KEY", "secret_access_key"),
                      ("AWS_DEFAULT_REGION", "region")):  # fmt: skip
        print(f"export {name}={shlex.quote(str(running[key]))}")
    return 0


def _run_loop(main: Coroutine[Any, Any, int]) -> int:
    """uvloop where it is installed (it is a dependency on Linux and macOS): a faster loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


if __name__ == "__main__":
    sys.exit(main())
