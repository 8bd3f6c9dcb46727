"""What the SageMaker SDK suites share: which SDK line is installed, and the SDK config that
keeps its telemetry (an STS call and an HTTPS GET to an AWS bucket) off loopback-only runs."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

SDK_CONFIG: dict[str, Any] = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}


def sdk_missing(major: str) -> str | None:
    """Why the SageMaker Python SDK `major` ("2" or "3") cannot be tested here, or None."""
    extra = {"2": "sdk", "3": "sdk3"}[major]
    try:
        installed = version("sagemaker")
    except PackageNotFoundError:
        return (
            f"SageMaker Python SDK v{major} not installed "
            f"(pip install -e '.[{extra}]' in its own venv)"
        )
    if not installed.startswith(f"{major}."):
        return f"sagemaker {installed} is not the SDK v{major}"
    return None


def isolate_sdk_v3(monkeypatch: Any, sagemaker_url: str, region: str = "us-east-1") -> None:
    """Point the SDK v3 at `sagemaker_url` and at nothing else of AWS: no profile or instance
    credentials, every other service's endpoint a dead port, no IAM role check."""
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # sagemaker.mlops imports modules that create boto3 clients at import time: a region
    # must be configured before the first import.
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # anything but SageMaker fails
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", sagemaker_url)  # for sagemaker-core
    # v3 checks every role with IAM SimulatePrincipalPolicy unless told not to.
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
