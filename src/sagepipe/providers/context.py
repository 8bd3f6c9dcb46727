"""What a provider knows about the request it serves: who asked, where, and when."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    account: str
    region: str
    access_key: str = "anonymous"
    request_id: str = ""
    now: float = field(default_factory=time.time)
    # The validated request body, for idempotency fingerprints.
    request: dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        return f"{self.account}:{self.region}"

    @property
    def user(self) -> str:
        return f"arn:aws:iam::{self.account}:user/{self.access_key}"
