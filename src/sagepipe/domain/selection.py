"""Selective execution's pure rules (docs/behaviour.md §6): which steps a selective run
starts, and which upstream results it must reuse from its reference execution."""

from __future__ import annotations

from typing import Any

from sagepipe.domain.definition import Definition


def selected_steps(config: dict[str, Any] | None) -> frozenset[str] | None:
    if not config:
        return None
    return frozenset(item["StepName"] for item in config.get("SelectedSteps") or [])


def upstream_closure(definition: Definition, names: frozenset[str]) -> set[str]:
    """Every step the selected ones depend on, directly or not, outside the selection."""
    seen: set[str] = set()
    stack = list(names)
    while stack:
        for upstream in definition.steps[stack.pop()].upstream:
            if upstream not in seen:
                seen.add(upstream)
                stack.append(upstream)
    return seen - names
