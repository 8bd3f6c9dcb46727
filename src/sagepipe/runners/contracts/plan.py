"""The plan of one job: what to stage into /opt/ml, what to run, what to upload after."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sagepipe.domain.expressions import to_text

OPT_ML = "/opt/ml"


class ContractError(Exception):
    """The request cannot run under the container contract; the message is the step's
    FailureReason (a ClientError, as AWS words a request it refuses)."""


@dataclass(frozen=True)
class Download:
    uri: str
    path: str  # where the job sees it, under /opt/ml
    data_type: str = "S3Prefix"  # or ManifestFile
    sharded: bool = False  # ShardedByS3Key: each instance gets its share of the objects


@dataclass(frozen=True)
class Upload:
    path: str  # under /opt/ml
    uri: str
    archive: bool = False  # a tar.gz of the directory at `uri`, not its files under it


@dataclass
class JobPlan:
    kind: str  # Processing | Training
    image: str
    entrypoint: list[str] | None  # None: the image's (--images), or the toolkit's `train`
    arguments: list[str]  # after the entrypoint
    environment: dict[str, str]
    downloads: list[Download] = field(default_factory=list)
    files: dict[str, Any] = field(default_factory=dict)  # /opt/ml path -> JSON document
    directories: list[str] = field(default_factory=list)  # /opt/ml paths that must exist
    uploads: list[Upload] = field(default_factory=list)  # after exit 0
    checkpoint: Upload | None = None  # restored before, uploaded after (Training)
    metric_definitions: list[dict[str, str]] = field(default_factory=list)
    max_runtime_seconds: int | None = None
    volume_gb: int | None = None  # VolumeSizeInGB: what the job may keep under /opt/ml
    instance_count: int = 1
    script_mode: bool = False  # a framework estimator's sagemaker_program

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobPlan:
        data = dict(data)
        data["downloads"] = [Download(**d) for d in data.get("downloads", [])]
        data["uploads"] = [Upload(**u) for u in data.get("uploads", [])]
        if data.get("checkpoint"):
            data["checkpoint"] = Upload(**data["checkpoint"])
        return cls(**data)


def string_map(value: Any) -> dict[str, str]:
    """A string-to-string map of the request (HyperParameters, Environment) as the job gets
    it: a pipeline variable resolved into it may be a number or a boolean (SDK v3 puts bare
    `Get`s there), which the service turns into text as Std:Join does."""
    return {str(k): to_text(v) for k, v in (value or {}).items()}


def resource_config(instance_count: int, current: int = 1) -> dict[str, Any]:
    hosts = [f"algo-{i}" for i in range(1, max(instance_count, 1) + 1)]
    return {"current_host": f"algo-{current}", "hosts": hosts, "network_interface_name": "eth0"}


def under_opt_ml(path: Any, member: str, prefix: str = OPT_ML) -> str:
    """A container path the job may use: absolute, under `prefix`, without `..`."""
    if not isinstance(path, str) or not path.startswith(prefix.rstrip("/") + "/"):
        raise ContractError(
            f"ClientError: {member} '{path}' must be an absolute path under {prefix}/."
        )
    if ".." in path.split("/"):
        raise ContractError(f"ClientError: {member} '{path}' must not contain '..'.")
    return path.rstrip("/") or prefix
