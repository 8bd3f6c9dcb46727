"""Fault rules of the simulate runner (docs/behaviour.md §9): which simulated step runs fail, how long they
take, and what Lambda/Callback outputs and property files they produce."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sagepipe.errors import ValidationError
from sagepipe.store.db import Database

_FIELDS = {
    "pipeline": str, "step": str, "fail_attempts": int, "failure_reason": str,
    "exception_type": str, "duration_seconds": (int, float), "outputs": dict,
    "property_files": dict,
}  # fmt: skip


MAX_RULES = 1000


@dataclass(frozen=True)
class FaultRule:
    pipeline: str | None = None
    step: str | None = None
    fail_attempts: int = 0  # the first N attempts fail; -1: every attempt
    failure_reason: str | None = None
    exception_type: str | None = None
    duration_seconds: float | None = None
    outputs: dict[str, Any] | None = None
    property_files: dict[str, Any] | None = field(default=None)

    def matches(self, pipeline: str, step: str) -> bool:
        return self.pipeline in (None, pipeline) and self.step in (None, step)

    def fails(self, attempt: int) -> bool:
        return self.fail_attempts == -1 or attempt <= self.fail_attempts


def parse_rules(document: Any) -> list[FaultRule]:
    """Rules from `{"rules": [...]}`, with a ValidationError that says what is wrong."""
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise ValidationError('Fault rules must be a JSON object {"rules": [ ... ]}.')
    if len(document["rules"]) > MAX_RULES:
        # Each rule is checked on every step run; a huge set would stall the server.
        raise ValidationError(f"At most {MAX_RULES} fault rules are allowed.")
    rules = []
    for i, raw in enumerate(document["rules"]):
        where = f"rules[{i}]"
        if not isinstance(raw, dict):
            raise ValidationError(f"{where} must be an object.")
        for key, value in raw.items():
            expected = _FIELDS.get(key)
            if expected is None:
                raise ValidationError(
                    f"{where}: unknown field '{key}'. Known fields: {', '.join(_FIELDS)}."
                )
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, expected)  # type: ignore[arg-type]
            ):
                raise ValidationError(f"{where}.{key} has the wrong type.")
        raw = {k: v for k, v in raw.items() if v is not None}  # null: the field's default
        if raw.get("fail_attempts", 0) < -1:
            raise ValidationError(f"{where}.fail_attempts must be -1 (always) or >= 0.")
        if not 0 <= raw.get("duration_seconds", 0) < math.inf:  # refuses NaN and Infinity too
            raise ValidationError(f"{where}.duration_seconds must be a finite number >= 0.")
        rules.append(FaultRule(**raw))
    return rules


class FaultRules:
    """The current rule set; replaced whole by PUT /_sagepipe/faults."""

    def __init__(self, rules: list[FaultRule] | None = None) -> None:
        self.rules = rules or []

    def match(self, pipeline: str, step: str) -> FaultRule | None:
        return next((r for r in self.rules if r.matches(pipeline, step)), None)

    def to_document(self) -> dict[str, Any]:
        return {
            "rules": [{k: v for k, v in asdict(r).items() if v is not None} for r in self.rules]
        }

    @classmethod
    def from_file(cls, path: str) -> FaultRules:
        try:
            with open(path) as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"sagepipe: cannot read fault rules from {path}: {exc}") from None
        try:
            return cls(parse_rules(document))
        except ValidationError as exc:
            raise SystemExit(f"sagepipe: bad fault rules in {path}: {exc.message}") from None


class SharedFaultRules(FaultRules):
    """Fault rules kept in the database, so every server sharing it applies the same ones.
    Each server keeps a copy in memory and refreshes it when the stored version changes."""

    def __init__(self, db: Database, rules: list[FaultRule] | None = None) -> None:
        super().__init__(rules)
        self.db = db
        self.version = 0

    async def replace(self, rules: list[FaultRule]) -> None:
        document = json.dumps(FaultRules(rules).to_document())
        await self.db.run(lambda tx: tx.exec("fault_rules_put", document=document))
        self.rules = rules
        await self.refresh()

    async def refresh(self) -> None:
        row = await self.db.run(lambda tx: tx.one("fault_rules_get"), readonly=True)
        if row is not None and row["version"] != self.version:
            self.rules = parse_rules(json.loads(row["document"]))
            self.version = row["version"]
