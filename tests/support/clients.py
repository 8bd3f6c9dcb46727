"""The real clients as a user runs them, shared by the suites: the AWS CLI in a subprocess,
and SigV4 signing at a chosen time (what boto3 does, with the clock in the test's hands)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def aws_sagemaker(
    url: str, access_key: str = "AKIDTEST", secret_key: str = "secret"
) -> Callable[..., Any]:
    """`aws sagemaker <args> --output json` against `url` with these keys and no config of
    this machine's: the JSON answer ({} for an empty one); a failure fails the test."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull)  # fmt: skip
    aws = [os.path.join(os.path.dirname(sys.executable), "aws"), "sagemaker",
           "--endpoint-url", url, "--output", "json"]  # fmt: skip

    def cli(*args: str) -> Any:
        done = subprocess.run([*aws, *args], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    return cli


def sign(
    request: AWSRequest, key: str, secret: str, *, service: str = "sagemaker",
    at: datetime | None = None,
) -> AWSRequest:  # fmt: skip
    """`request` signed with SigV4 as botocore signs it, at `at` (default: now)."""
    signer = SigV4Auth(Credentials(key, secret), service, "us-east-1")
    request.context["timestamp"] = (at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signer._inject_signature_to_request(request, signature)
    return request
