"""Condition step conditions (docs/behaviour.md §7): validation at parse time, evaluation at run time.

Serialized forms (SageMaker Python SDK ``conditions.py``):
``{"Type": "Equals"|"GreaterThan"|..., "LeftValue": v, "RightValue": v}``,
``{"Type": "In", "QueryValue": v, "Values": [...]}``, ``{"Type": "Not", "Condition": c}``,
``{"Type": "Or", "Conditions": [...]}``. The published schema adds NotEquals, NotIn, the
``Value``/``In`` spelling of In, and ``Expression`` for Not; all are accepted.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Any

from sagepipe.domain.expressions import EvalContext, ExpressionError, resolve
from sagepipe.errors import ValidationError

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "NotEquals": operator.ne,
    "GreaterThan": operator.gt,
    "GreaterThanOrEqualTo": operator.ge,
    "LessThan": operator.lt,
    "LessThanOrEqualTo": operator.le,
}
_MEMBERSHIP = ("In", "NotIn")
_LOGICAL = ("Not", "Or")
CONDITION_TYPES = frozenset((*_COMPARISONS, *_MEMBERSHIP, *_LOGICAL))

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


# ---------------------------------------------------------------- validation


def validate_conditions(conditions: object, where: str = "Conditions") -> None:
    """Check the structure of a condition list; raise ValidationError naming the problem."""
    if not isinstance(conditions, list):
        raise ValidationError(f"{where} must be a list of conditions.")
    for i, condition in enumerate(conditions):
        _validate_one(condition, f"{where}[{i}]")


def _validate_one(condition: object, where: str) -> None:
    if not isinstance(condition, dict):
        raise ValidationError(f"{where} must be an object.")
    kind = condition.get("Type")
    if kind not in CONDITION_TYPES:
        raise ValidationError(
            f"{where} has unknown condition type {kind!r}; "
            f"expected one of {', '.join(sorted(CONDITION_TYPES))}."
        )
    if kind in _COMPARISONS:
        for member in ("LeftValue", "RightValue"):
            if member not in condition:
                raise ValidationError(f"{where} ({kind}) is missing '{member}'.")
    elif kind in _MEMBERSHIP:
        _membership_operands(condition, where, ValidationError)
    elif kind == "Not":
        _validate_one(_negated(condition, where, ValidationError), f"{where}.Condition")
    else:  # Or
        inner = condition.get("Conditions")
        if not isinstance(inner, list) or not inner:
            raise ValidationError(f"{where} (Or) needs a non-empty 'Conditions' list.")
        validate_conditions(inner, f"{where}.Conditions")


def _membership_operands(condition: dict, where: str, error: type[Exception]):
    """(query, candidates) of In/NotIn in either spelling."""
    if "QueryValue" in condition:
        query, values = condition["QueryValue"], condition.get("Values")
    elif "Value" in condition:
        query, values = condition["Value"], condition.get("In")
    else:
        raise error(f"{where} ({condition['Type']}) is missing 'QueryValue'.")
    if not isinstance(values, list):
        raise error(f"{where} ({condition['Type']}) needs a list of 'Values'.")
    return query, values


def _negated(condition: dict, where: str, error: type[Exception]) -> dict:
    inner = condition.get("Condition", condition.get("Expression"))
    if not isinstance(inner, dict):
        raise error(f"{where} (Not) needs a 'Condition' object.")
    return inner


# ---------------------------------------------------------------- evaluation


def evaluate_conditions(conditions: list, ctx: EvalContext) -> bool:
    """AND of the top-level list. Raises ExpressionError if an operand can't be resolved
    or the structure is invalid."""
    if not isinstance(conditions, list):
        raise ExpressionError("Conditions must be a list.")
    return all(_evaluate(c, ctx, f"Conditions[{i}]") for i, c in enumerate(conditions))


def _evaluate(condition: object, ctx: EvalContext, where: str) -> bool:
    if not isinstance(condition, dict):
        raise ExpressionError(f"{where} must be an object.")
    kind = condition.get("Type")
    if kind in _COMPARISONS:
        left = resolve(condition.get("LeftValue"), ctx)
        right = resolve(condition.get("RightValue"), ctx)
        return compare(kind, left, right)
    if kind in _MEMBERSHIP:
        query, values = _membership_operands(condition, where, ExpressionError)
        query = resolve(query, ctx)
        found = any(compare("Equals", query, resolve(v, ctx)) for v in values)
        return found if kind == "In" else not found
    if kind == "Not":
        return not _evaluate(_negated(condition, where, ExpressionError), ctx, where)
    if kind == "Or":
        inner = condition.get("Conditions")
        if not isinstance(inner, list):
            raise ExpressionError(f"{where} (Or) needs a 'Conditions' list.")
        return any(_evaluate(c, ctx, f"{where}.Conditions[{i}]") for i, c in enumerate(inner))
    raise ExpressionError(f"{where} has unknown condition type {kind!r}.")


def compare(kind: str, left: object, right: object) -> bool:
    """Compare two resolved operands: numerically when both are numbers or numeric strings
    (a JsonGet result is often a string or float compared with a Float parameter), else
    booleans/strings as text, else plain equality."""
    op = _COMPARISONS[kind]
    left_num, right_num = _as_number(left), _as_number(right)
    if left_num is not None and right_num is not None:
        return op(left_num, right_num)
    if isinstance(left, bool) or isinstance(right, bool):
        left, right = _bool_text(left), _bool_text(right)
    if isinstance(left, str) and isinstance(right, str):
        return op(left, right)
    if kind in ("Equals", "NotEquals"):
        return op(left, right)
    raise ExpressionError(f"Cannot compare {_describe(left)} with {_describe(right)} using {kind}.")


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _bool_text(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.lower() if isinstance(value, str) else value


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"
