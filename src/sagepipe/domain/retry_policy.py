"""Step RetryPolicies (docs/behaviour.md §7): whether a failed attempt is retried, and after how long."""

from __future__ import annotations

from sagepipe.domain.definition import RetryPolicy
from sagepipe.domain.records import StepRecord

DEFAULT_MAX_ATTEMPTS = 5


def next_retry_delay(
    policies: tuple[RetryPolicy, ...], failure_type: str | None, record: StepRecord, now: float
) -> float | None:
    """Seconds to wait before the next attempt, or None when the step has failed for good.

    `record.run_attempts` attempts have run in this manual retry, so the next one is retry
    number n = run_attempts, which waits IntervalSeconds * BackoffRate ** (n - 1)."""
    if failure_type is None:
        return None
    policy = next((p for p in policies if failure_type in p.exception_types), None)
    if policy is None:
        return None
    retry_number = record.run_attempts
    delay = policy.interval_seconds * policy.backoff_rate ** (retry_number - 1)
    if policy.expire_after_min is not None:
        if now + delay > record.first_start + policy.expire_after_min * 60:
            return None
        return delay
    max_attempts = policy.max_attempts if policy.max_attempts is not None else DEFAULT_MAX_ATTEMPTS
    return delay if retry_number <= max_attempts else None
