"""Parsing and validation of pipeline definitions (docs/behaviour.md §7, ``Version: "2020-12-01"``).

``parse_definition`` turns the JSON text into a flat, validated :class:`Definition`: every step
(Condition branches included) with the steps it waits for. Pure code: no I/O.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from sagepipe.domain.conditions import validate_conditions
from sagepipe.domain.expressions import (
    JSON_GET,
    ExpressionError,
    check_references,
    iter_expressions,
    property_file_names,
)
from sagepipe.errors import ValidationError

VERSION = "2020-12-01"
# SDK v2/v3 StepTypeEnum plus botocore's PipelineExecutionStepMetadata members.
_STEP_TYPE_LIST = """Training Processing Transform Tuning AutoML Model RegisterModel Condition
Callback Lambda QualityCheck ClarifyCheck EMR EMRServerless Fail Endpoint EndpointConfig
BedrockCustomModel BedrockCustomModelDeployment BedrockProvisionedModelThroughput
BedrockModelImport InferenceComponent Lineage Job Athena Cleanup ForEach HubContent"""
STEP_TYPES = frozenset(_STEP_TYPE_LIST.split())
PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean")
_STEP_EXCEPTIONS = "SERVICE_FAULT THROTTLING"
_JOB_EXCEPTIONS = "JOB_INTERNAL_ERROR CAPACITY_ERROR RESOURCE_LIMIT"
EXCEPTION_TYPES = frozenset(
    [f"Step.{e}" for e in _STEP_EXCEPTIONS.split()]
    + [f"SageMaker.{e}" for e in _JOB_EXCEPTIONS.split()]
)
# Run-condition triggers of ``DependsOn: [{"Step": s, "Trigger": t}]`` (no SDK emits these
# yet; docs/behaviour.md §7 names "Failed"). "Completed" = the upstream ended Succeeded or Failed.
TRIGGERS = ("Succeeded", "Failed", "Completed")
MAX_RETRY_ATTEMPTS = 20
DEFAULT_RETRY_ATTEMPTS = 5
MAX_EXPIRE_AFTER_MIN = 14400
MAX_NESTING = 100  # SDK definitions nest a few dozen levels; the engine recurses per level


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # "String" | "Integer" | "Float" | "Boolean"
    default: object | None
    enum_values: tuple | None = None


@dataclass(frozen=True)
class RetryPolicy:
    exception_types: tuple[str, ...]
    interval_seconds: float = 1
    backoff_rate: float = 2.0
    max_attempts: int | None = None  # retries after the first attempt
    expire_after_min: int | None = None


@dataclass(frozen=True)
class StepSpec:
    name: str
    type: str
    raw: dict
    arguments: object
    upstream: tuple[str, ...] = ()
    run_conditions: tuple[tuple[str, str], ...] = ()
    branch: tuple[str, bool] | None = None
    cache_enabled: bool = False
    cache_expire_after: str | None = None
    retry_policies: tuple[RetryPolicy, ...] = ()
    property_files: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class Definition:
    version: str
    parameters: dict[str, Parameter]
    steps: dict[str, StepSpec]
    raw: dict

    @cached_property
    def _dependents(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {name: [] for name in self.steps}
        for spec in self.steps.values():
            for up in spec.upstream:
                out[up].append(spec.name)
        return out

    @property
    def dependents(self) -> dict[str, list[str]]:
        """The steps that wait directly for each step."""
        return self._dependents

    def downstream(self, name: str) -> set[str]:
        """Every step that transitively waits for ``name``."""
        seen: set[str] = set()
        stack = list(self._dependents.get(name, ()))
        while stack:
            step = stack.pop()
            if step not in seen:
                seen.add(step)
                stack.extend(self._dependents[step])
        return seen

    def topological_order(self) -> list[str]:
        """Upstream first; ties broken by document order."""
        index = {name: i for i, name in enumerate(self.steps)}
        pending = {name: len(spec.upstream) for name, spec in self.steps.items()}
        ready = [(index[n], n) for n, count in pending.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, name = heapq.heappop(ready)
            order.append(name)
            for dep in self._dependents[name]:
                pending[dep] -= 1
                if pending[dep] == 0:
                    heapq.heappush(ready, (index[dep], dep))
        return order

    def branch_members(self, condition: str, outcome: bool) -> list[str]:
        """Steps directly in the IfSteps (True) or ElseSteps (False) of a Condition step."""
        return [s.name for s in self.steps.values() if s.branch == (condition, outcome)]

    @cached_property
    def json_readers(self) -> frozenset[str]:
        """Steps with a Std:JsonGet anywhere: the documents they read are fetched before
        they start. Found once per parsed definition (stored_definition keeps those)."""
        return frozenset(
            name for name, spec in self.steps.items()
            if any(kind == JSON_GET for kind, _ in iter_expressions(spec.raw))
        )  # fmt: skip

    def property_file_owner(self, file_name: str) -> str | None:
        """The step declaring a property file (for the bare-string JsonGet form)."""
        owners = [s.name for s in self.steps.values() if file_name in s.property_files]
        return owners[0] if len(owners) == 1 else None


# ---------------------------------------------------------------- parsing


@lru_cache(maxsize=64)
def stored_definition(text: str) -> Definition:
    """A definition already validated when it was stored, parsed once per process: pipeline
    versions never change, and a large definition takes milliseconds to parse."""
    return parse_definition(text)


def parse_definition(text: str) -> Definition:
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _invalid(
            f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}."
        ) from None
    except ValueError as exc:
        raise _invalid(f"{exc}") from None
    except RecursionError:
        raise _invalid(f"it nests deeper than {MAX_NESTING} levels.") from None
    if (problem := _unstorable(doc)) is not None:
        raise _invalid(problem)
    if not isinstance(doc, dict):
        raise _invalid("the definition must be a JSON object.")
    version = doc.get("Version")
    if version is None:
        raise _invalid("'Version' is missing.")
    if version != VERSION:
        raise _invalid(f'unsupported Version {json.dumps(version)}; expected "{VERSION}".')
    for key in ("Metadata", "PipelineExperimentConfig", "MlflowConfig"):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            raise _invalid(f"'{key}' must be an object.")
    parameters = _parse_parameters(doc.get("Parameters"))
    if not isinstance(doc.get("Steps"), list):
        what = "missing" if "Steps" not in doc else "not a list"
        raise _invalid(f"'Steps' is {what}.")

    flat: list[tuple[dict, tuple[str, bool] | None]] = []
    _flatten(doc["Steps"], None, flat, "Steps")
    names = [raw["Name"] for raw, _ in flat]
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicates:
        raise _invalid(f"duplicate step name(s): {_some(duplicates, ', ')}.")
    files = {raw["Name"]: _parse_property_files(raw) for raw, _ in flat}
    known = set(names)
    steps = {raw["Name"]: _parse_step(raw, br, known, parameters, files) for raw, br in flat}
    for key in ("PipelineExperimentConfig", "MlflowConfig"):
        _check_references(doc.get(key), key, known, parameters, files)
    _check_acyclic(steps)
    return Definition(version=version, parameters=parameters, steps=steps, raw=doc)


def _invalid(problem: str) -> ValidationError:
    return ValidationError(f"Invalid pipeline definition: {problem}")


def _unstorable(doc: object) -> str | None:
    """What in the decoded document no store or engine walk can take: nesting deeper than
    MAX_NESTING (the engine resolves values recursively), a lone UTF-16 surrogate (not
    Unicode: no UTF-8 store accepts it) or U+0000 (PostgreSQL text refuses it). Iterative."""
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return f"it nests deeper than {MAX_NESTING} levels."
        if isinstance(node, str):
            if _UNSTORABLE.search(node):
                return f"the string {json.dumps(node[:80])} holds a lone surrogate or U+0000."
        elif isinstance(node, dict):
            stack.extend((key, depth) for key in node)
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
    return None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON.")


def _flatten(items: object, branch, out: list, where: str) -> None:
    """Collect step objects in document order, descending into Condition branches."""
    if not isinstance(items, list):
        raise _invalid(f"{where} must be a list of steps.")
    for i, raw in enumerate(items):
        here = f"{where}[{i}]"
        if not isinstance(raw, dict):
            raise _invalid(f"{here} must be an object.")
        name, kind = raw.get("Name"), raw.get("Type")
        if not isinstance(name, str) or not name:
            raise _invalid(f"{here} has no Name.")
        if not isinstance(kind, str) or not kind:
            raise _invalid(f"step '{name}' has no Type.")
        if kind not in STEP_TYPES:
            raise _invalid(f"step '{name}' has unknown Type '{kind}'.")
        out.append((raw, branch))
        if kind == "Condition":
            args = raw.get("Arguments")
            if not isinstance(args, dict):
                raise _invalid(f"Condition step '{name}' needs Arguments.")
            try:
                validate_conditions(args.get("Conditions"), f"step '{name}' Conditions")
            except ValidationError as exc:
                raise _invalid(f"{exc.message}") from None
            for key, outcome in (("IfSteps", True), ("ElseSteps", False)):
                _flatten(args.get(key) or [], (name, outcome), out, f"step '{name}' {key}")


def _parse_step(raw, branch, known, parameters, files) -> StepSpec:
    name = raw["Name"]
    upstream: list[str] = []
    run_conditions = _parse_depends_on(raw, known)
    upstream.extend(step for step, _ in run_conditions)
    # Branch bodies belong to their own steps: a Condition only waits for its Conditions.
    scanned = raw
    if raw["Type"] == "Condition":
        scanned = {**raw, "Arguments": {"Conditions": raw["Arguments"].get("Conditions")}}
    scanned = {k: v for k, v in scanned.items() if k != "DependsOn"}
    upstream.extend(_check_references(scanned, f"step '{name}'", known, parameters, files))
    for file_name in property_file_names(scanned):
        owners = [step for step, declared in files.items() if file_name in declared]
        if len(owners) != 1:
            problem = "is not declared by any step" if not owners else "is declared by several"
            raise _invalid(f"step '{name}' reads property file '{file_name}', which {problem}.")
        upstream.append(owners[0])
    if branch is not None:
        upstream.append(branch[0])
    cache = raw.get("CacheConfig") or {}
    if not isinstance(cache, dict):
        raise _invalid(f"step '{name}' CacheConfig.")
    expire = cache.get("ExpireAfter")
    if expire is not None:
        try:
            iso_duration_seconds(expire)
        except (ValueError, TypeError):
            raise _invalid(
                f"step '{name}' CacheConfig ExpireAfter "
                f"{json.dumps(expire)} is not an ISO-8601 duration."
            ) from None
    return StepSpec(
        name=name,
        type=raw["Type"],
        raw=raw,
        arguments=raw.get("Arguments"),
        upstream=tuple(dict.fromkeys(upstream)),
        run_conditions=run_conditions,
        branch=branch,
        cache_enabled=cache.get("Enabled") is True,
        cache_expire_after=expire,
        retry_policies=tuple(_parse_retry(p, name) for p in _list(raw, "RetryPolicies", name)),
        property_files=files[name],
    )


def _list(raw: dict, key: str, name: str) -> list:
    value = raw.get(key) or []
    if not isinstance(value, list):
        raise _invalid(f"step '{name}' {key} must be a list.")
    return value


def _parse_depends_on(raw: dict, known: set[str]) -> tuple[tuple[str, str], ...]:
    """DependsOn entries as (step, trigger); plain names mean (name, "Succeeded")."""
    name = raw["Name"]
    out: list[tuple[str, str]] = []
    for entry in _list(raw, "DependsOn", name):
        trigger = "Succeeded"
        if isinstance(entry, dict):
            target, given = entry.get("Step"), entry.get("Trigger", "Succeeded")
            matches = [t for t in TRIGGERS if isinstance(given, str) and t.lower() == given.lower()]
            if not matches:
                raise _invalid(
                    f"step '{name}' DependsOn has unknown Trigger "
                    f"{json.dumps(given)}; expected one of {', '.join(TRIGGERS)}."
                )
            trigger = matches[0]
        else:
            target = entry
        if not isinstance(target, str) or target not in known:
            raise _invalid(f"step '{name}' DependsOn unknown step {json.dumps(target)}.")
        out.append((target, trigger))
    return tuple(dict.fromkeys(out))


def _check_references(value, where, known, parameters, files) -> list[str]:
    try:
        return check_references(value, parameters, known, files)
    except ExpressionError as exc:
        raise _invalid(f"{where}: {exc}") from None


def _parse_property_files(raw: dict) -> dict[str, dict]:
    name = raw["Name"]
    out: dict[str, dict] = {}
    for item in _list(raw, "PropertyFiles", name):
        file_name = item.get("PropertyFileName") if isinstance(item, dict) else None
        if not isinstance(file_name, str) or not file_name:
            raise _invalid(f"step '{name}' has a PropertyFile without PropertyFileName.")
        if file_name in out:
            raise _invalid(f"step '{name}' declares property file '{file_name}' twice.")
        out[file_name] = {"OutputName": item.get("OutputName"), "FilePath": item.get("FilePath")}
    return out


def _parse_retry(policy: object, step: str) -> RetryPolicy:
    def bad(problem: str) -> ValidationError:
        return _invalid(f"step '{step}' RetryPolicies: {problem}")

    if not isinstance(policy, dict):
        raise bad("each policy must be an object.")
    types = policy.get("ExceptionType")
    if not isinstance(types, list) or not types:
        raise bad("ExceptionType must be a non-empty list.")
    for t in types:
        if t not in EXCEPTION_TYPES:
            raise bad(f"unknown ExceptionType {json.dumps(t)}.")
    interval = policy.get("IntervalSeconds", 1)
    backoff = policy.get("BackoffRate", 2.0)
    for label, number in (("IntervalSeconds", interval), ("BackoffRate", backoff)):
        if not _is_number(number) or number < 0:
            raise bad(f"{label} must be a non-negative number.")
    attempts, expire = policy.get("MaxAttempts"), policy.get("ExpireAfterMin")
    if attempts is not None and expire is not None:
        raise bad("MaxAttempts and ExpireAfterMin are mutually exclusive.")
    if attempts is not None and not (_is_int(attempts) and 0 <= attempts <= MAX_RETRY_ATTEMPTS):
        raise bad(f"MaxAttempts must be an integer from 0 to {MAX_RETRY_ATTEMPTS}.")
    if expire is not None and not (_is_int(expire) and 0 <= expire <= MAX_EXPIRE_AFTER_MIN):
        raise bad(f"ExpireAfterMin must be an integer from 0 to {MAX_EXPIRE_AFTER_MIN}.")
    if attempts is None and expire is None:
        attempts = DEFAULT_RETRY_ATTEMPTS
    return RetryPolicy(
        exception_types=tuple(dict.fromkeys(types)),
        interval_seconds=float(interval),
        backoff_rate=float(backoff),
        max_attempts=int(attempts) if attempts is not None else None,
        expire_after_min=int(expire) if expire is not None else None,
    )


def _some(names: list[str], separator: str, shown: int = 10) -> str:
    """Names joined for a message, the first few only: a huge definition keeps it short."""
    if len(names) <= shown:
        return separator.join(names)
    return f"{separator.join(names[:shown])}{separator}... ({len(names)} in all)"


def _check_acyclic(steps: dict[str, StepSpec]) -> None:
    """Depth-first search; on a back edge report the cycle's steps in order."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for start in steps:
        if start in state:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            ups = steps[node].upstream
            if i < len(ups):
                stack.append((node, i + 1))
                nxt = ups[i]
                if state.get(nxt) == 1:
                    cycle = path[path.index(nxt) :]
                    # Edges point upstream; print in execution order.
                    shown = _some([*reversed(cycle), cycle[-1]], " -> ")
                    raise _invalid(f"dependency cycle between steps: {shown}.")
                if nxt not in state:
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()


# ---------------------------------------------------------------- parameters


def _parse_parameters(items: object) -> dict[str, Parameter]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise _invalid("'Parameters' must be a list.")
    out: dict[str, Parameter] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str) or not item["Name"]:
            raise _invalid(f"Parameters[{i}] has no Name.")
        name = item["Name"]
        if name in out:
            raise _invalid(f"duplicate parameter '{name}'.")
        kind = item.get("Type", "String")
        if kind not in PARAMETER_TYPES:
            raise _invalid(
                f"parameter '{name}' has unknown Type "
                f"{json.dumps(kind)}; expected one of {', '.join(PARAMETER_TYPES)}."
            )
        default = item.get("DefaultValue")
        if default is not None:
            default = _typed_or_error(kind, default, f"parameter '{name}' DefaultValue")
        enum = item.get("EnumValues")
        if enum is not None:
            if not isinstance(enum, list) or not enum:
                raise _invalid(f"parameter '{name}' EnumValues must be a non-empty list.")
            enum = tuple(_typed_or_error(kind, v, f"parameter '{name}' EnumValues") for v in enum)
            if default is not None and default not in enum:
                raise _invalid(
                    f"parameter '{name}' DefaultValue "
                    f"{json.dumps(default)} is not one of its EnumValues."
                )
        out[name] = Parameter(name, kind, default, enum)
    return out


def _typed_or_error(kind: str, value: object, where: str) -> object:
    if kind == "String" and isinstance(value, str):
        return value
    if kind == "Boolean" and isinstance(value, bool):
        return value
    if kind == "Integer" and _is_number(value) and float(value).is_integer():  # type: ignore[arg-type]
        return int(value)  # type: ignore[call-overload]
    if kind == "Float" and _is_number(value):
        return float(value)  # type: ignore[arg-type]
    raise _invalid(f"{where} {json.dumps(value)} is not of type {kind}.")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _found_type(text: str) -> str:
    """The type a StartPipelineExecution string looks like, for error messages."""
    if text.lower() in ("true", "false"):
        return "Boolean"
    if _INT.fullmatch(text):
        return "Integer"
    if _FLOAT.fullmatch(text):
        return "Float"
    return "String"


def coerce_parameter(param: Parameter, value: str) -> object:
    """Convert a StartPipelineExecution string value to the parameter's declared type."""
    if value == "":
        raise ValidationError(f"Value for parameter '{param.name}' must not be empty.")
    found = _found_type(value)
    converted: object
    if param.type == "String":
        converted = value
    elif param.type == "Integer" and found == "Integer":
        converted = int(value)
    elif param.type == "Float" and found in ("Integer", "Float"):
        converted = float(value)
    elif param.type == "Boolean" and found == "Boolean":
        converted = value.lower() == "true"
    else:
        raise ValidationError(
            f"Unexpected type for parameter '{param.name}'. "
            f"Expected {param.type} but found {found}."
        )
    if param.enum_values is not None and converted not in param.enum_values:
        allowed = ", ".join(parameter_value_to_string(v) for v in param.enum_values)
        raise ValidationError(
            f"Value '{value}' for parameter '{param.name}' is not one of the allowed "
            f"values: [{allowed}]."
        )
    return converted


def parameter_value_to_string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------- durations

_N = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"P?(?:{_N}Y)?(?:{_N}M)?(?:{_N}W)?(?:{_N}D)?(?:T(?:{_N}H)?(?:{_N}M)?(?:{_N}S)?)?", re.I
)
# Seconds per unit, in group order: years (365 d), months (30 d), weeks, days, h, min, s.
_UNIT_SECONDS = (365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1)


def iso_duration_seconds(text: str) -> float:
    """Seconds in an ISO-8601 duration (P30D, PT1H, P1W, P1DT2H30M; the SDK also documents
    lower case 'p30d' and 'T12H' without the P). Years count 365 days, months 30."""
    if not isinstance(text, str):
        raise ValueError("duration must be a string")
    upper = text.strip().upper()
    m = _DURATION.fullmatch(upper)
    if not m or not any(m.groups()) or upper.endswith("T") or upper[:1] not in ("P", "T"):
        raise ValueError(f"invalid ISO-8601 duration: {text!r}")
    return float(
        sum(
            float(v.replace(",", ".")) * u
            for v, u in zip(m.groups(), _UNIT_SECONDS, strict=True)
            if v
        )
    )
