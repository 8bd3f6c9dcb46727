"""Pipeline expressions: ``{"Get": ...}``, ``Std:Join`` and ``Std:JsonGet`` (docs/behaviour.md §7).

Pure functions: the engine supplies an :class:`EvalContext` holding what earlier steps
recorded; nothing here does I/O. Anything that cannot be resolved raises
:class:`ExpressionError`, which the engine turns into the consuming step's failure reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

EXECUTION_VARIABLES = frozenset(
    {
        "StartDateTime",
        "CurrentDateTime",
        "PipelineName",
        "PipelineArn",
        "PipelineExecutionId",
        "PipelineExecutionArn",
        "TrainingJobName",
        "ProcessingJobName",
    }
)

GET = "Get"
JOIN = "Std:Join"
JSON_GET = "Std:JsonGet"


class ExpressionError(Exception):
    """An expression could not be resolved (or is malformed)."""


class EvalContext(Protocol):
    """What the engine knows while resolving a step's expressions.

    Optional extra hooks, looked up with ``getattr`` so plain contexts need not define them:
    ``read_s3_json(uri) -> object`` (for ``Std:JsonGet`` with ``S3Uri``) and
    ``property_file_owner(file_name) -> str | None`` (for the bare-string ``PropertyFile`` form).
    """

    parameters: Mapping[str, object]
    execution_vars: Mapping[str, object]

    def step_properties(self, step: str) -> Mapping | None: ...

    def step_outcome(self, step: str) -> bool | None: ...

    def property_file(self, step: str, file_name: str) -> object | None: ...


@dataclass(frozen=True)
class PropertyFileRef:
    """What ``{"Get": "Steps.S.PropertyFiles.F"}`` resolves to; consumed by Std:JsonGet."""

    step: str
    file_name: str


@dataclass(frozen=True)
class GetRef:
    """A parsed ``Get`` path. ``kind`` is "Parameters", "Execution" or "Steps"; for Steps,
    ``path`` holds the property path tokens after the step name."""

    kind: str
    name: str
    path: tuple[str | int, ...] = ()


class ItemKey(str):
    """A path token written as ``['key']`` (kept distinct only for error messages)."""


# Tokens of a property path: identifier, ['key'] / ["key"], or [index].
_TOKEN = re.compile(r"""\.?(?:([^.\[\]'"]+)|\['(.*?)'\]|\["(.*?)"\]|\[(-?\d+)\])""")


def parse_path(text: str) -> tuple[str | int, ...]:
    """``a.b['k'][0].c`` -> ("a", "b", "k", 0, "c"); a leading ``$`` (JSONPath root) is dropped.
    Item keys are :class:`ItemKey` strings; lookups treat any string token on a list as a
    by-name selection, which is what ``['k']`` means."""
    text = text.strip()
    if text.startswith("$"):
        text = text[1:]
    tokens: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"Invalid property path '{text}' at position {pos}.")
        ident, single, double, index = m.groups()
        if index is not None:
            tokens.append(int(index))
        else:
            key = single if single is not None else double
            tokens.append(ident if key is None else ItemKey(key))
        pos = m.end()
    return tuple(tokens)


def parse_get(expr: object) -> GetRef:
    """Parse the string of a ``{"Get": ...}`` expression, checking its shape only."""
    if not isinstance(expr, str):
        raise ExpressionError(f"Get expression must be a string, got {json.dumps(expr)}.")
    kind, _, rest = expr.partition(".")
    if kind in ("Parameters", "Execution"):
        if not rest or "." in rest or "[" in rest:
            raise ExpressionError(f"Invalid Get expression '{expr}'.")
        return GetRef(kind, rest)
    if kind == "Steps":
        m = re.match(r"([^.\[\]]+)(.*)", rest)
        if not m or not m.group(2):
            raise ExpressionError(f"Invalid Get expression '{expr}': no property of the step.")
        return GetRef(kind, m.group(1), parse_path(m.group(2)))
    raise ExpressionError(
        f"Invalid Get expression '{expr}': must start with Parameters., Execution. or Steps."
    )


def _single_key(value: dict, key: str) -> bool:
    return len(value) == 1 and key in value


def iter_expressions(value: object) -> Iterator[tuple[str, object]]:
    """Yield (kind, body) for every Get / Std:Join / Std:JsonGet anywhere in a JSON value."""
    if isinstance(value, dict):
        for key in (GET, JOIN, JSON_GET):
            if _single_key(value, key):
                yield key, value[key]
                if key != GET:
                    yield from iter_expressions(value[key])
                return
        for item in value.values():
            yield from iter_expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_expressions(item)


def references(value: object) -> tuple[set[str], set[str], set[str]]:
    """(step names, parameter names, execution variable names) referenced in ``value``.
    Malformed Get expressions raise ExpressionError."""
    steps: set[str] = set()
    params: set[str] = set()
    exec_vars: set[str] = set()
    for kind, body in iter_expressions(value):
        if kind != GET:
            continue
        ref = parse_get(body)
        {"Steps": steps, "Parameters": params, "Execution": exec_vars}[ref.kind].add(ref.name)
    return steps, params, exec_vars


def property_file_names(value: object) -> list[str]:
    """Names used by the bare-string ``"PropertyFile": "F"`` form of Std:JsonGet, in order."""
    return [
        body["PropertyFile"]
        for kind, body in iter_expressions(value)
        if kind == JSON_GET and isinstance(body, dict) and isinstance(body.get("PropertyFile"), str)
    ]


def check_references(
    value: object,
    parameters: Collection[str],
    steps: Collection[str],
    property_files: Mapping[str, Collection[str]],
) -> list[str]:
    """Validate every Get in ``value`` against the declared parameters, the execution
    variables, the step names and each step's property files. Returns the referenced step
    names in first-seen order; raises ExpressionError naming the first problem."""
    found: list[str] = []
    for kind, body in iter_expressions(value):
        if kind != GET:
            continue
        ref = parse_get(body)
        if ref.kind == "Parameters" and ref.name not in parameters:
            raise ExpressionError(f"references undeclared parameter '{ref.name}'.")
        if ref.kind == "Execution" and ref.name not in EXECUTION_VARIABLES:
            raise ExpressionError(f"references unknown execution variable 'Execution.{ref.name}'.")
        if ref.kind != "Steps":
            continue
        if ref.name not in steps:
            raise ExpressionError(f"references unknown step '{ref.name}'.")
        if ref.path[:1] == ("PropertyFiles",):
            file_name = ref.path[1] if len(ref.path) == 2 else None
            if file_name not in property_files.get(ref.name, ()):
                raise ExpressionError(
                    f"references property file '{file_name}' that step '{ref.name}' "
                    "does not declare."
                )
        found.append(ref.name)
    return found


# ---------------------------------------------------------------- resolution


def resolve(value: object, ctx: EvalContext) -> object:
    """Deep-resolve every expression inside a JSON value."""
    if isinstance(value, dict):
        if _single_key(value, GET):
            return _resolve_get(parse_get(value[GET]), ctx)
        if _single_key(value, JOIN):
            return _resolve_join(value[JOIN], ctx)
        if _single_key(value, JSON_GET):
            return _resolve_json_get(value[JSON_GET], ctx)
        return {k: resolve(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ctx) for v in value]
    return value


def _resolve_get(ref: GetRef, ctx: EvalContext) -> object:
    if ref.kind == "Parameters":
        if ref.name not in ctx.parameters:
            raise ExpressionError(f"Unknown parameter '{ref.name}'.")
        return ctx.parameters[ref.name]
    if ref.kind == "Execution":
        if ref.name not in ctx.execution_vars:
            raise ExpressionError(f"Unknown execution variable '{ref.name}'.")
        return ctx.execution_vars[ref.name]
    step, path = ref.name, ref.path
    if path == ("Outcome",):
        outcome = ctx.step_outcome(step)
        if outcome is None:
            # Not a Condition step, or not evaluated: fall back to recorded properties.
            props = ctx.step_properties(step)
            if props is not None and "Outcome" in props:
                return props["Outcome"]
            raise ExpressionError(f"Outcome of step '{step}' is not available.")
        return outcome
    if len(path) == 2 and path[0] == "PropertyFiles" and isinstance(path[1], str):
        return PropertyFileRef(step, path[1])
    props = ctx.step_properties(step)
    if props is None:
        raise ExpressionError(f"Properties of step '{step}' are not available.")
    return _walk(props, path, f"Step '{step}'", unwrap_output_parameter=True)


def _walk(doc: object, path: tuple[str | int, ...], owner: str, unwrap_output_parameter=False):
    current = doc
    for depth, token in enumerate(path):
        current = _lookup(current, token)
        if current is _MISSING:
            shown = _format_path(path[: depth + 1])
            raise ExpressionError(f"{owner} has no property '{shown}'.")
    # OutputParameters['x'] (Lambda/Callback) means the parameter's Value, not the pair.
    if (
        unwrap_output_parameter
        and path
        and isinstance(path[-1], str)
        and isinstance(current, dict)
        and set(current) == {"Name", "Value"}
    ):
        return current["Value"]
    return current


_MISSING = object()


def _lookup(current: object, token: str | int) -> object:
    if isinstance(current, dict):
        if token in current:
            return current[token]
        return current.get(str(token), _MISSING)
    if isinstance(current, list):
        if isinstance(token, int):
            return current[token] if -len(current) <= token < len(current) else _MISSING
        # X['key'] on a list selects the item whose *Name member (OutputName, MetricName,
        # ChannelName, Name...) equals key.
        for item in current:
            if isinstance(item, dict) and any(
                k.endswith("Name") and v == token for k, v in item.items()
            ):
                return item
    return _MISSING


def _format_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for token in path:
        if isinstance(token, int):
            out += f"[{token}]"
        elif isinstance(token, ItemKey):
            out += f"['{token}']"
        else:
            out += f".{token}" if out else token
    return out


def to_text(value: object) -> str:
    """String form used by Std:Join: booleans lower-case as AWS prints them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, PropertyFileRef):
        raise ExpressionError(
            f"Property file '{value.file_name}' of step '{value.step}' can only be read "
            "with Std:JsonGet."
        )
    return str(value)


def _resolve_join(body: object, ctx: EvalContext) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("Values"), list):
        raise ExpressionError("Std:Join needs an object with a 'Values' list.")
    on = to_text(resolve(body.get("On", ""), ctx))
    return on.join(to_text(resolve(v, ctx)) for v in body["Values"])


def _resolve_json_get(body: object, ctx: EvalContext) -> object:
    if not isinstance(body, dict) or "Path" not in body:
        raise ExpressionError("Std:JsonGet needs an object with 'Path'.")
    path_text = resolve(body["Path"], ctx)
    if not isinstance(path_text, str):
        raise ExpressionError("Std:JsonGet Path must be a string.")
    path = parse_path(path_text)
    if "PropertyFile" in body:
        ref = property_file_ref(body["PropertyFile"], ctx)
        doc = ctx.property_file(ref.step, ref.file_name)
        if doc is None:
            raise ExpressionError(
                f"Property file '{ref.file_name}' of step '{ref.step}' is not available."
            )
        owner = f"Property file '{ref.file_name}' of step '{ref.step}'"
    elif "S3Uri" in body:
        uri = to_text(resolve(body["S3Uri"], ctx))
        reader = getattr(ctx, "read_s3_json", None)
        if reader is None:
            raise ExpressionError(
                f"Std:JsonGet with S3Uri '{uri}' needs the JSON document, "
                "and this runner cannot read S3."
            )
        doc = reader(uri)
        owner = f"JSON document '{uri}'"
    else:
        raise ExpressionError("Std:JsonGet needs 'PropertyFile' or 'S3Uri'.")
    return _walk(doc, path, owner)


def property_file_ref(spec: object, ctx: EvalContext) -> PropertyFileRef:
    if isinstance(spec, str):
        # Bare file name: the engine knows which step declares it.
        owner_of = getattr(ctx, "property_file_owner", None)
        step = owner_of(spec) if owner_of is not None else None
        if step is None:
            raise ExpressionError(f"Property file '{spec}' is not declared by any step.")
        return PropertyFileRef(step, spec)
    ref = resolve(spec, ctx)
    if not isinstance(ref, PropertyFileRef):
        raise ExpressionError(
            "Std:JsonGet PropertyFile must be {'Get': 'Steps.<step>.PropertyFiles.<name>'}."
        )
    return ref
