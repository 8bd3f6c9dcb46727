"""The writes of one driver tick, committed in one transaction, then applied in memory.

Decisions read through `Batch.get`, so a tick sees its own pending changes; nothing touches
the driver's records until the transaction has committed. The batch also carries the tick's
copy of the driver's indexes (which steps are active, waiting out a back-off, failed, or
worth checking for a start), so no decision has to scan every step."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sagepipe.domain import states
from sagepipe.domain.records import StepRecord, Transition
from sagepipe.domain.states import ACTIVE_STEP, StepStatus


class StepView(Mapping[str, StepRecord]):
    def __init__(self, base: dict[str, StepRecord], pending: dict[str, StepRecord]) -> None:
        self._base, self._pending = base, pending

    def __getitem__(self, name: str) -> StepRecord:
        return self._pending[name] if name in self._pending else self._base[name]

    def get(self, name: str, default: Any = None) -> Any:
        record = self._pending.get(name)
        return record if record is not None else self._base.get(name, default)

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        yield from (n for n in self._pending if n not in self._base)

    def __len__(self) -> int:
        return len(self._base) + sum(1 for n in self._pending if n not in self._base)


@dataclasses.dataclass
class Indexes:
    """What the driver keeps up to date about its steps, so ticks cost what changed."""

    active: set[str] = dataclasses.field(default_factory=set)  # Starting/Executing/Stopping
    backoff: set[str] = dataclasses.field(default_factory=set)  # active, waiting to retry
    failed: set[str] = dataclasses.field(default_factory=set)  # Failed in this run
    frontier: set[str] = dataclasses.field(default_factory=set)  # may be able to start

    def copy(self) -> Indexes:
        return Indexes(set(self.active), set(self.backoff), set(self.failed), set(self.frontier))

    def track(self, record: StepRecord, current_retry: int) -> None:
        name = record.name
        (self.active.add if record.status in ACTIVE_STEP else self.active.discard)(name)
        waiting = record.status in ACTIVE_STEP and record.next_run_at is not None
        (self.backoff.add if waiting else self.backoff.discard)(name)
        failed = record.status == StepStatus.FAILED and record.manual_retry == current_retry
        (self.failed.add if failed else self.failed.discard)(name)


@dataclasses.dataclass
class Batch:
    steps: dict[str, StepRecord]
    index: Indexes
    current_retry: int
    dependents: Mapping[str, list[str]]
    pending: dict[str, StepRecord] = dataclasses.field(default_factory=dict)
    events: list[Transition] = dataclasses.field(default_factory=list)
    attempts_new: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    attempts_end: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    statements: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    after_commit: list[Callable[[], None]] = dataclasses.field(default_factory=list)
    ended_now: set[str] = dataclasses.field(default_factory=set)
    jobs_started: list[str] = dataclasses.field(default_factory=list)  # to start once committed
    jobs_to_stop: list[str] = dataclasses.field(default_factory=list)  # to stop once committed
    execution_status: tuple[str, str] | None = None  # (from, to)
    end_details: dict[str, Any] | None = None  # failure_reason, fail_step of an execution ending

    @property
    def view(self) -> StepView:
        return StepView(self.steps, self.pending)

    def get(self, name: str) -> StepRecord | None:
        return self.pending.get(name) or self.steps.get(name)

    def edit(self, name: str) -> StepRecord:
        """A private copy of the step's record to change in this batch."""
        if name not in self.pending:
            self.pending[name] = dataclasses.replace(self.steps[name])
        return self.pending[name]

    def keep(self, record: StepRecord) -> None:
        """Store a change of `record` that is not a status change (no event row)."""
        self.pending[record.name] = record
        self.index.track(record, self.current_retry)

    def put(self, record: StepRecord, from_status: str | None, now: float) -> None:
        """Record a status change of `record` (already edited) with its event row."""
        states.check_step(from_status, record.status)
        self.keep(record)
        if record.status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.STOPPED):
            # Its dependents may be able to start now.
            self.index.frontier.update(self.dependents.get(record.name, ()))
            self.ended_now.add(record.name)
        self.events.append([record.name, record.attempt_count, from_status, record.status, now])

    def running_count(self) -> int:
        """Steps holding a parallelism slot; one waiting out a retry back-off does not."""
        return len(self.index.active) - len(self.index.backoff)

    def set_execution_status(self, from_status: str, to_status: str) -> None:
        states.check_execution(from_status, to_status)
        self.execution_status = (from_status, to_status)

    @property
    def empty(self) -> bool:
        return not (self.pending or self.events or self.statements or self.execution_status)
