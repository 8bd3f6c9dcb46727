#!/usr/bin/env python3
"""Fix a failed training step and resume the execution, for real (SageMaker Python SDK v2).

    scripts/serve                        # in one shell
    scripts/example fix_and_retry        # in another

The pipeline of tabular_sdk_v2.py, started with a train.py that has a typo in it: Preprocess
succeeds, Train fails with the script's own error, and nothing after it runs. The example then
uploads the corrected train.py to the same S3 URI and calls RetryPipelineExecution: Preprocess
is kept (its outputs are not made again), Train runs a second time, and Evaluate, the check and
Register run for the first time."""

from __future__ import annotations

import contextlib
import uuid

from botocore.exceptions import WaiterError
from common import ROLE, print_steps
from tabular_sdk_v2 import SCRIPTS, build_pipeline, session_for, upload_inputs


def main() -> int:
    bucket = f"retry-{uuid.uuid4().hex[:8]}"
    session = session_for(bucket)
    fixed = (SCRIPTS / "train.py").read_bytes()
    broken = fixed.replace(b"learning_rate = float(", b"learning_rate = flaot(")
    train_uri = upload_inputs(session, bucket, broken)
    pipeline = build_pipeline(session, f"fix-and-retry-{uuid.uuid4().hex[:6]}")
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    print(f"started {execution.arn} with a typo in {train_uri}")
    with contextlib.suppress(WaiterError):  # the waiter raises when the execution fails
        execution.wait(delay=2, max_attempts=300)
    status = execution.describe()["PipelineExecutionStatus"]
    first_run = execution.list_steps()
    print(f"execution {status}:")
    print_steps(first_run)
    if status != "Failed":
        print("expected the execution to fail on the broken train.py")
        return 1

    s3 = session.boto_session.client("s3")
    bucket_name, _, key = train_uri[len("s3://") :].partition("/")
    s3.put_object(Bucket=bucket_name, Key=key, Body=fixed)
    print(f"fixed train.py at the same URI ({train_uri}); retrying the execution in place")
    session.sagemaker_client.retry_pipeline_execution(
        PipelineExecutionArn=execution.arn, ClientRequestToken=uuid.uuid4().hex
    )
    execution.wait(delay=2, max_attempts=300)
    steps = sorted(execution.list_steps(), key=lambda s: s["StartTime"])
    print(f"execution {execution.describe()['PipelineExecutionStatus']} after the retry:")
    print_steps(steps)
    kept = [s["StepName"] for s in first_run if s["StepStatus"] == "Succeeded"]
    again = [s["StepName"] for s in steps if s.get("AttemptCount", 1) > 1]
    new = [s["StepName"] for s in steps if s["StepName"] not in {f["StepName"] for f in first_run}]
    print(
        f"kept from the first run: {', '.join(kept)}; run again: {', '.join(again)}; "
        f"run for the first time: {', '.join(new)}"
    )
    print(f"result: {execution.describe()['PipelineExecutionStatus']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
