"""What the runnable examples share: where the server and its object store are, the data they
generate, and how they print an execution's steps."""

from __future__ import annotations

import os
import random
import sys
from typing import Any

URL = os.environ.get("SAGEPIPE_URL", "http://127.0.0.1:8080").rstrip("/")
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"  # a full ARN: the SDK never asks IAM
# The image of every job but the @step functions': sagepipe runs an unmapped image's jobs in
# its own Python, and the examples' job scripts need nothing but the standard library.
IMAGE = "sagepipe-examples/python:3"
# The SageMaker SDK sends usage telemetry unless its config opts out.
SDK_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}


def point_clients_at_sagepipe() -> None:
    """boto3 (and the SDKs' own clients) find the server through AWS_ENDPOINT_URL_SAGEMAKER;
    the object store must be given, as `sagepipe s3-env` prints it."""
    os.environ["AWS_ENDPOINT_URL_SAGEMAKER"] = URL
    # Every other AWS service the SDKs call on their own (ModelTrainer asks IAM whether the
    # role may write the bucket, and carries on when it cannot) goes to a closed local port,
    # never to AWS.
    os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")  # the SDK v3's IAM role check
    if not os.environ.get("AWS_ENDPOINT_URL_S3"):
        sys.exit(
            "AWS_ENDPOINT_URL_S3 is not set: the example's scripts and data go to sagepipe's "
            "object store. Run it with scripts/example, or first: "
            'eval "$(.venv/bin/sagepipe s3-env)"'
        )


def dataset(rows: int = 300, seed: int = 1) -> bytes:
    """Two features in [0, 1); the label says whether they add up to more than 1, with one
    label in twenty flipped, so no model is perfect."""
    rng = random.Random(seed)
    lines = []
    for _ in range(rows):
        a, b = rng.random(), rng.random()
        label = int(a + b > 1) ^ int(rng.random() < 0.05)
        lines.append(f"{a:.4f},{b:.4f},{label}")
    return "\n".join(lines).encode()


def print_steps(steps: list[dict[str, Any]]) -> None:
    """One line per step, oldest first: status, attempts and why it failed."""
    for step in sorted(steps, key=lambda s: s["StartTime"]):
        line = f"  {step['StepName']:<16} {step['StepStatus']:<10} attempts={step.get('AttemptCount', 1)}"
        if step.get("FailureReason"):
            line += f"  ({step['FailureReason'].strip().splitlines()[-1][:100]})"
        print(line)
