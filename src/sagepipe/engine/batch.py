"""The writes of one driver tick, committed in one transaction, then applied in memory.

Decisions read through `Batch.get`, so a tick sees its own pending changes; nothing touches
the driver's records until the transaction has committed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sagepipe.engine import states
from sagepipe.engine.records import StepRecord


class StepView(Mapping[str, StepRecord]):
    def __init__(self, base: dict[str, StepRecord], pending: dict[str, StepRecord]) -> None:
        self._base, self._pending = base, pending

    def __getitem__(self, name: str) -> StepRecord:
        return self._pending[name] if name in self._pending else self._base[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        yield from (n for n in self._pending if n not in self._base)

    def __len__(self) -> int:
        return len(self._base) + sum(1 for n in self._pending if n not in self._base)


@dataclasses.dataclass
class Batch:
    steps: dict[str, StepRecord]
    pending: dict[str, StepRecord] = dataclasses.field(default_factory=dict)
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    attempts_new: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    attempts_end: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    statements: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    after_commit: list[Callable[[], None]] = dataclasses.field(default_factory=list)
    execution_status: tuple[str, str] | None = None  # (from, to)

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

    def put(self, record: StepRecord, from_status: str | None, now: float) -> None:
        """Record a status change of `record` (already edited) with its event row."""
        states.check_step(from_status, record.status)
        self.pending[record.name] = record
        self.events.append(
            {
                "step_name": record.name,
                "attempt": record.attempt_count,
                "from_status": from_status,
                "to_status": record.status,
                "now": now,
            }
        )

    def set_execution_status(self, from_status: str, to_status: str) -> None:
        states.check_execution(from_status, to_status)
        self.execution_status = (from_status, to_status)

    @property
    def empty(self) -> bool:
        return not (self.pending or self.events or self.statements or self.execution_status)
