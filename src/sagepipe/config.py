"""Service settings. Every flag of `sagepipe serve` also reads SAGEPIPE_<FLAG> (docs/behaviour.md §10)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "sagepipe")


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = field(default_factory=default_data_dir)
    db: str | None = None  # None: the embedded SQLite file in data_dir
    s3_endpoint_url: str | None = None
    sqs_endpoint_url: str | None = None
    lambda_endpoint_url: str | None = None  # Lambda steps invoke their function there
    runner: str = "local"  # what runs compute steps (engine/step_kinds.py)
    images: str | None = None  # --images FILE: container images -> local environments
    max_local_jobs: int | None = None  # None: the CPU count
    sandbox: str = "auto"  # how jobs get their own /opt/ml: auto, bwrap or unshare
    keep_failed_jobs: bool = True  # keep a failed job's /opt/ml tree for a look
    ray_address: str | None = None  # --runner ray: the head's Jobs API, http://HEAD:8265
    ray_instance_types: str | None = None  # JSON overriding the ml.* -> Ray resources table
    ray_max_cpus: float | None = None  # at most this many CPUs per instance on Ray
    faults: str | None = None
    max_pipelines: int = 500
    max_running_executions: int = 20
    max_retries_per_execution: int | None = None
    retry_window: float | None = None  # seconds after an execution's creation
    max_body_bytes: int = 4 * 1024 * 1024
    lease_seconds: float = 5.0
    accounts: dict[str, str] = field(default_factory=dict)  # access key -> account id
    credentials: str | None = None  # --credentials FILE: verify every request's signature
    allow_open: bool = False  # listen beyond loopback without --credentials
    log_level: str = "info"

    @property
    def database_url(self) -> str:
        return self.db or os.path.join(self.data_dir, "sagepipe.db")
