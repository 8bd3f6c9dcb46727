"""The status changes the providers make are checked against the state machine before they are
written: handed a from-status the table refuses, request_stop and apply_retry raise
IllegalTransition and write nothing. (The client-facing refusals come first, in the request
path: tests/acceptance/test_engine.py and test_retry.py check their ValidationException and
ConflictException.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sagepipe.domain.states import RETRYABLE_EXECUTION, ExecutionStatus, IllegalTransition
from sagepipe.providers.context import RequestContext
from sagepipe.providers.executions import request_stop
from sagepipe.providers.retry import apply_retry

ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/abc"
CTX = RequestContext(account="123456789012", region="us-east-1", now=1000.0)


class RecordingTx:
    """Enough of store.db.Tx for a status change: records each statement, changes one row."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, dict[str, Any]]] = []

    def exec(self, query: str, /, **params: Any) -> int:
        self.statements.append((query, params))
        return 1


def _row(status: str) -> dict[str, Any]:
    return {"arn": ARN, "status": status, "retry_count": 2}


def _retry(tx: RecordingTx, status: str) -> None:
    row = _row(status)
    apply_retry(tx, CTX, row, token="t", parallelism=None, owner="o", lease_until=1.0)  # type: ignore[arg-type]


def _event(params: dict[str, Any]) -> list[Any]:
    [transition] = json.loads(params["transitions"])
    return transition  # type: ignore[no-any-return]


@pytest.mark.parametrize("status", ["Stopping", "Stopped", "Failed", "Succeeded", "Unknown"])
def test_a_stop_from_anything_but_executing_is_refused_before_it_is_written(status: str) -> None:
    tx = RecordingTx()
    with pytest.raises(IllegalTransition, match=f"execution {status} -> Stopping"):
        request_stop(tx, CTX, _row(status))  # type: ignore[arg-type]
    assert tx.statements == []


def test_a_stop_of_an_executing_execution_is_written() -> None:
    tx = RecordingTx()
    request_stop(tx, CTX, _row("Executing"))  # type: ignore[arg-type]
    assert [q for q, _ in tx.statements] == ["execution_request_stop", "event_insert"]
    assert _event(tx.statements[1][1]) == [None, None, "Executing", "Stopping", 1000.0]


@pytest.mark.parametrize("status", ["Executing", "Stopping", "Succeeded", "Unknown"])
def test_a_retry_from_a_status_that_cannot_be_retried_is_refused_before_it_is_written(
    status: str,
) -> None:
    tx = RecordingTx()
    with pytest.raises(IllegalTransition, match=f"execution {status} -> Executing"):
        _retry(tx, status)
    assert tx.statements == []


@pytest.mark.parametrize("status", RETRYABLE_EXECUTION)
def test_a_retry_of_a_retryable_execution_is_written(status: ExecutionStatus) -> None:
    tx = RecordingTx()
    _retry(tx, status.value)
    assert [q for q, _ in tx.statements] == [
        "execution_retry",
        "manual_retry_insert",
        "event_insert",
    ]
    assert tx.statements[0][1]["expected_status"] == status
    assert tx.statements[1][1]["retry_no"] == 3
    assert _event(tx.statements[2][1]) == [None, None, status.value, "Executing", 1000.0]
