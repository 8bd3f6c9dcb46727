"""Hypothesis strategies for SageMaker requests, generated from botocore's service model.

For each operation three kinds of request body are drawn:

- ``valid``: every member satisfies the model (required, length, range, pattern, enum, list
  size). Members that name resources are drawn partly from live pools of resources that exist
  (``Samples``), so that a share of requests hits real rows.
- ``boundary``: valid bodies whose members sit on the edges: exact min/max length, min/max
  value, empty and full lists, structures with only their required members or with all.
- ``invalid``: a valid body with one to three hostile changes: a constraint violated, a wrong
  JSON type, an unknown member, a null, a huge string, tricky unicode (lone surrogates, control
  characters, RTL marks, emoji), a value that is none of those things in the wrong place.

``violations(shape, value)`` is the oracle: the constraint violations of a body by the model,
computed independently of the service (only Java pattern translation is shared), so that a test
can say whether the service must accept or must reject a body's shape.
"""

from __future__ import annotations

import copy
import json
import math
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from sagepipe.protocol.validate import compile_pattern

JAVA_INT = (-(2**31), 2**31 - 1)
JAVA_LONG = (-(2**63), 2**63 - 1)
EPOCH_RANGE = (-62135596800, 253402300799)  # years 1..9999
MAX_DEPTH = 64  # the service refuses containers nested deeper than this
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


@cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def operation_model(name: str) -> OperationModel:
    return service_model().operation_model(name)


# ----------------------------------------------------------------------------- live pools


@dataclass
class Samples:
    """Known-good values, filled by the test as resources come into existence. Strategies
    read the lists when they draw, so resources created mid-run are hit too."""

    pipeline_names: list[str] = field(default_factory=list)
    pipeline_arns: list[str] = field(default_factory=list)
    deletable: list[str] = field(default_factory=list)  # names DeletePipeline may remove
    execution_arns: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # executions started to be stopped
    callback_tokens: list[str] = field(default_factory=list)
    definitions: list[str] = field(default_factory=list)
    parameter_names: list[str] = field(default_factory=list)
    step_names: list[str] = field(default_factory=list)
    tag_keys: list[str] = field(default_factory=list)
    next_tokens: dict[str, list[str]] = field(default_factory=dict)


def live(pool: list[Any], fallback: SearchStrategy[Any]) -> SearchStrategy[Any]:
    """An item of `pool` as it is at draw time (or `fallback` while it is empty)."""

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        # A fixed range, whatever the pool's size: hypothesis replays a case only if every
        # draw keeps its constraints.
        index = draw(st.integers(0, 2**16))
        return pool[index % len(pool)] if pool else draw(fallback)

    return pick()


# --------------------------------------------------------------------- shape helpers


def meta(shape: Shape) -> dict[str, Any]:
    return shape.metadata


def length_bounds(shape: Shape) -> tuple[int, int]:
    return meta(shape).get("min", 0), meta(shape).get("max", sys.maxsize)


def number_bounds(shape: Shape) -> tuple[int | float, int | float]:
    if shape.type_name == "integer":
        tlo, thi = JAVA_INT
    elif shape.type_name == "long":
        tlo, thi = JAVA_LONG
    else:
        tlo, thi = -sys.float_info.max, sys.float_info.max
    return meta(shape).get("min", tlo), meta(shape).get("max", thi)


def pattern_of(shape: Shape) -> re.Pattern[str] | None:
    java = meta(shape).get("pattern")
    return compile_pattern(java) if java else None


def matches(shape: Shape, value: str) -> bool:
    rx = pattern_of(shape)
    return rx is None or rx.fullmatch(value) is not None


def fits(shape: Shape, value: str) -> bool:
    lo, hi = length_bounds(shape)
    enum = meta(shape).get("enum")
    return lo <= len(value) <= hi and matches(shape, value) and (not enum or value in enum)


FILLERS = (" ", "a", "0", "A", "-", "_", ".")
# The long edge of a string the model does not bound: long, yet well inside the body limit.
UNBOUNDED_EDGE = 64 * 1024


def fit_length(shape: Shape, base: str, length: int) -> str | None:
    """A string of exactly `length` characters derived from the valid `base` that still fits
    the shape (padded or cut), or None if no simple derivation fits."""

    def candidates() -> Iterator[str]:  # lazily: they can be a megabyte each
        if len(base) > length:
            yield base[:length]
            yield base[len(base) - length :]
        else:
            pad = length - len(base)
            yield from (base + c * pad for c in FILLERS)
            yield from (c * pad + base for c in FILLERS)
        yield from (c * length for c in FILLERS)

    for candidate in candidates():
        if len(candidate) == length and fits(shape, candidate):
            return candidate
    return None


# -------------------------------------------------------------------- hostile values

LONE_SURROGATES = ["\ud800", "a\udfffb", "\udc00\ud800", "\udbff"]
CONTROL = ["\x00", "a\x00b", "\x01\x02\x1f", "\x7f", "\x1b[31mred", "\r\n", "\t", "\x0b\x0c"]
BIDI_AND_INVISIBLE = ["\u202eevil", "\u200f", "\u200e", "\u200b", "\ufeff", "\u2066x\u2069"]
EMOJI = ["😀", "👨\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "𝕏", "\U0010ffff", "\uffff", "\ufffd"]
TRICKY = [
    "e\u0301",
    "İ",
    "ß",
    "\u2028",
    "\u0085",
    "' OR 1=1 --",
    "'; DROP TABLE pipelines; --",
    '"',
    "\\",
    "%s%n%x",
    "{0}{1}",
    "${jndi:ldap://x/a}",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "null",
    "NaN",
    " ",
    "",
    "arn:aws:sagemaker:us-east-1:123456789012:pipeline/",
    "arn:aws:sagemaker:eu-west-1:999999999999:pipeline/other/execution/abcdefghijkl",
]
HOSTILE_STRINGS = LONE_SURROGATES + CONTROL + BIDI_AND_INVISIBLE + EMOJI + TRICKY


def hostile_string() -> SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE_STRINGS),
        # every general category, lone surrogates (Cs) and controls (Cc) included
        st.text(st.characters(categories=["L", "M", "N", "P", "S", "Z", "C"]), max_size=30),
        st.builds(
            lambda c, n: c * n,
            st.sampled_from(["a", "é", "😀", "\x00"]),
            st.sampled_from([1000, 10000, 100000]),
        ),
    )


WRONG_TYPES: dict[str, list[Any]] = {
    "string": [1, 0, -1.5, True, False, [], ["a"], {}, {"a": "b"}],
    "integer": ["1", "", 1.5, 1e3, True, [], {}, 2**31, -(2**31) - 1, 2**64, 10**30],
    "long": ["1", 1.5, True, [], {}, 2**63, -(2**63) - 1, 10**40],
    "float": ["1.0", True, [], {}, float("inf"), float("-inf"), float("nan"), 1e309],
    "double": ["1.0", True, [], {}, float("inf"), float("nan")],
    "boolean": ["true", 1, 0, [], {}, "false"],
    "timestamp": [True, [], {}, "yesterday", "", 1e20, -1e20, float("nan"), "2024-13-45"],
    "list": ["a", 1, True, {}, {"member": []}],
    "map": ["a", 1, True, [], [["k", "v"]]],
    "structure": ["a", 1, True, [], [{}]],
    "blob": [1, True, [], {}, "not base64!!"],
}


# ----------------------------------------------------------------- valid strategies


class Builder:
    """Strategies for one operation's members, with overrides for members naming resources."""

    def __init__(self, operation: str, samples: Samples) -> None:
        self.operation = operation
        self.samples = samples

    # Overrides keyed by "<Structure>.<Member>" or by shape name.
    def override(self, parent: str, member: str, shape: Shape) -> SearchStrategy[Any] | None:
        s = self.samples
        name = shape.name
        regex = self.from_pattern(shape)
        if name == "IdempotencyToken":
            fresh = st.builds(lambda: str(uuid.uuid4()))
            if self.operation == "CreatePipeline":
                return fresh  # a replayed create could name a deleted pipeline
            fixed = st.sampled_from(["fixed-token-" + "0" * 20, "fixed-token-" + "1" * 20])
            return st.one_of(fresh, fresh, fresh, fixed)
        if name == "PipelineName" and self.operation == "CreatePipeline":
            fresh = st.uuids().map(lambda u: "fz-" + u.hex[:16])
            return st.one_of(fresh, fresh, regex, live(s.pipeline_names, regex))
        if name == "PipelineNameOrArn":
            pool = s.deletable if self.operation == "DeletePipeline" else s.pipeline_names
            arns = s.pipeline_arns
            if self.operation == "DeletePipeline":
                names = live(pool, regex)
                return st.one_of(names, names, names, regex)
            return st.one_of(live(pool, regex), live(pool, regex), live(arns, regex), regex)
        if name == "PipelineArn":
            return st.one_of(live(s.pipeline_arns, regex), live(s.pipeline_arns, regex), regex)
        if name == "PipelineExecutionArn":
            own = live(s.execution_arns, regex)
            if self.operation == "StopPipelineExecution":
                running = live(s.running, own)
                return st.one_of(running, running, own, regex)
            return st.one_of(own, own, own, regex)
        if name == "ResourceArn":
            return st.one_of(
                live(s.pipeline_arns, regex), live(s.pipeline_arns, regex),
                live(s.execution_arns, regex), regex,
            )  # fmt: skip
        if name == "RoleArn":
            return st.one_of(st.just(ROLE), st.just(ROLE), regex)
        if name == "PipelineDefinition":
            good = live(s.definitions, st.just("{}"))
            return st.one_of(good, good, good, regex, st.just("{}"), st.just("[]"))
        if name == "CallbackToken":
            return st.one_of(live(s.callback_tokens, regex), regex)
        if name == "PipelineVersionId":
            return st.one_of(st.integers(1, 4), st.integers(1, 4), self.generic(shape))
        if name == "NextToken":
            tokens = s.next_tokens.setdefault(self.operation, [])
            return st.one_of(live(tokens, self.generic(shape)), self.generic(shape))
        if name == "PipelineParameterName":
            return st.one_of(live(s.parameter_names, regex), live(s.parameter_names, regex), regex)
        if parent == "Parameter" and member == "Value":
            return st.one_of(
                st.sampled_from(["1", "0", "-3", "2.5", "true", "false", "abc", "Red"]),
                self.generic(shape),
            )
        if parent == "SelectedStep" and member == "StepName":
            return st.one_of(live(s.step_names, st.just("A")), self.generic(shape))
        if name == "TagKey":
            return st.one_of(live(s.tag_keys, regex), regex)
        if name == "MaxParallelExecutionSteps":
            return st.one_of(st.integers(1, 50), self.generic(shape))
        if name == "Timestamp":
            return st.one_of(
                st.floats(0, 4e9).map(lambda f: round(f, 3)),
                st.integers(*EPOCH_RANGE),
                st.sampled_from(["2024-01-01T00:00:00", "2030-06-01T12:00:00+00:00"]),
            )
        return None

    def from_pattern(self, shape: Shape) -> SearchStrategy[str]:
        lo, hi = length_bounds(shape)
        rx = pattern_of(shape)
        if rx is None:
            return st.text(min_size=lo, max_size=min(hi, lo + 40))
        if "\\p{" in meta(shape)["pattern"]:
            # Unicode-class patterns (tags): from_regex over thousands of ranges is slow, so
            # draw from the same categories and keep what fits.
            alphabet = st.characters(categories=["L", "N", "Z"]) | st.sampled_from("_.:/=+-@")
            return st.text(alphabet, min_size=lo, max_size=min(hi, lo + 20)).filter(
                lambda v: fits(shape, v)
            )

        # from_regex knows nothing of the length bounds: pad or cut, and re-check.
        def bounded(v: str) -> str | None:
            return v if lo <= len(v) <= hi else fit_length(shape, v, min(max(len(v), lo), hi))

        return (
            st.from_regex(rx, fullmatch=True)
            .map(bounded)
            .filter(lambda v: v is not None and fits(shape, v))
        )

    def generic(self, shape: Shape) -> SearchStrategy[Any]:
        kind = shape.type_name
        m = meta(shape)
        if kind == "string":
            if m.get("enum"):
                return st.sampled_from(m["enum"])
            return self.from_pattern(shape)
        if kind in ("integer", "long"):
            lo, hi = number_bounds(shape)
            return st.integers(int(lo), int(hi))
        if kind in ("float", "double"):
            lo, hi = number_bounds(shape)
            return st.floats(lo, hi, allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "timestamp":
            return st.floats(0, 4e9)
        if kind == "blob":
            return st.binary(max_size=64).map(lambda b: __import__("base64").b64encode(b).decode())
        return st.nothing()

    def valid(self, shape: Shape, parent: str = "", member: str = "") -> SearchStrategy[Any]:
        found = self.override(parent, member, shape)
        if found is not None:
            return found
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, self.valid)
        if kind == "list":
            lo, hi = length_bounds(shape)
            return st.lists(
                self.valid(shape.member, shape.name, "member"),  # type: ignore[attr-defined]
                min_size=lo,
                max_size=min(hi, lo + 4),
            )
        if kind == "map":
            lo, hi = length_bounds(shape)
            return st.dictionaries(
                self.valid(shape.key, shape.name, "key"),  # type: ignore[attr-defined]
                self.valid(shape.value, shape.name, "value"),  # type: ignore[attr-defined]
                min_size=lo,
                max_size=min(hi, lo + 4),
            )
        return self.generic(shape)

    def structure(
        self, shape: Shape, child: Callable[[Shape, str, str], SearchStrategy[Any]]
    ) -> SearchStrategy[dict[str, Any]]:
        members: dict[str, Shape] = shape.members  # type: ignore[attr-defined]
        required = {*shape.required_members, *ALSO_REQUIRED.get(shape.name, ())}  # type: ignore[attr-defined]
        strategies = {n: child(s, shape.name, n) for n, s in members.items()}
        if meta(shape).get("union"):
            return st.one_of(
                *(s.map(lambda v, n=n: {n: v}) for n, s in strategies.items())  # type: ignore[misc]
            )
        return st.fixed_dictionaries(
            {n: s for n, s in strategies.items() if n in required},
            optional={n: s for n, s in strategies.items() if n not in required},
        )

    # ------------------------------------------------------------ boundary

    def boundary(self, shape: Shape, parent: str = "", member: str = "") -> SearchStrategy[Any]:
        kind = shape.type_name
        if kind == "string":
            if meta(shape).get("enum"):
                return st.sampled_from(meta(shape)["enum"])
            return self.edge_string(shape, parent, member)
        if kind in ("integer", "long", "float", "double"):
            lo, hi = number_bounds(shape)
            return st.sampled_from([lo, hi])
        if kind == "timestamp":
            return st.sampled_from([EPOCH_RANGE[0], 0, EPOCH_RANGE[1], 0.001])
        if kind == "list":
            lo, hi = length_bounds(shape)
            hi = min(hi, 200)
            item = self.boundary(shape.member, shape.name, "member")  # type: ignore[attr-defined]
            # A full list repeats a few drawn items: drawing 200 large items one by one
            # would overrun hypothesis's per-case budget.
            full = st.lists(item, min_size=min(hi, 1), max_size=min(hi, 4)).map(
                lambda items: (
                    [copy.deepcopy(items[i % len(items)]) for i in range(hi)] if items else []
                )
            )
            return st.one_of(st.lists(item, min_size=lo, max_size=lo), full)
        if kind == "structure":
            return self.full_or_minimal(shape)
        return self.valid(shape, parent, member)

    def edge_string(self, shape: Shape, parent: str, member: str) -> SearchStrategy[str]:
        lo, hi = length_bounds(shape)
        if hi == sys.maxsize:  # the model sets no maximum (ListProcessingJobs' NameContains)
            hi = UNBOUNDED_EDGE
        base = self.valid(shape, parent, member)

        @st.composite
        def edge(draw: st.DrawFn) -> str:
            value = draw(base)
            target = draw(st.sampled_from([lo, hi]))
            return fit_length(shape, value, target) or value

        return edge()

    def full_or_minimal(self, shape: Shape) -> SearchStrategy[dict[str, Any]]:
        members: dict[str, Shape] = shape.members  # type: ignore[attr-defined]
        required = {*shape.required_members, *ALSO_REQUIRED.get(shape.name, ())}  # type: ignore[attr-defined]
        full = {n: self.boundary(s, shape.name, n) for n, s in members.items()}
        minimal = {n: self.boundary(s, shape.name, n) for n, s in members.items() if n in required}
        return st.one_of(st.fixed_dictionaries(minimal), st.fixed_dictionaries(full))


# ----------------------------------------------------------------- invalid strategies


def sites(shape: Shape, value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple, Shape]]:
    """Every (path, shape) of a member present in `value`, the body itself included."""
    found = [(path, shape)]
    if value is None:
        return found
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, child in shape.members.items():  # type: ignore[attr-defined]
            if name in value:
                found += sites(child, value[name], (*path, name))
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            found += sites(shape.member, item, (*path, i))  # type: ignore[attr-defined]
    elif kind == "map" and isinstance(value, dict):
        for k, item in value.items():
            found += sites(shape.value, item, (*path, k))  # type: ignore[attr-defined]
    return found


def _get(body: Any, path: tuple) -> Any:
    for p in path:
        body = body[p]
    return body


def _set(body: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(body, path[:-1])[path[-1]] = value
    return body


@st.composite
def mutate(draw: st.DrawFn, shape: Shape, body: dict[str, Any]) -> Any:
    """`body` with one hostile change at a member drawn from those present."""
    path, target = draw(st.sampled_from(sites(shape, body)))
    current = _get(body, path)
    kind = target.type_name
    options: list[str] = ["wrong_type"]
    if path:
        options += ["null"]
    # Earlier changes may have replaced a member with another type: look at the value too.
    if kind == "string" and isinstance(current, str):
        options += ["hostile", "hostile_affix", "huge"]
        lo, hi = length_bounds(target)
        if hi < 2_000_000:
            options.append("too_long")
        if lo > 0:
            options.append("too_short")
        if pattern_of(target) is not None:
            options.append("pattern")
        if meta(target).get("enum"):
            options.append("enum")
    if kind in ("integer", "long", "float", "double") and type(current) in (int, float):
        options += ["num_low", "num_high", "num_float"]
    if kind == "list" and isinstance(current, list):
        options += ["list_long", "list_short", "list_null_item"]
    if kind == "structure" and isinstance(current, dict):
        options += ["unknown_member", "unknown_member", "drop_required", "null_required"]
    choice = draw(st.sampled_from(options))
    new: Any = current
    if choice == "wrong_type":
        new = draw(st.sampled_from(WRONG_TYPES.get(kind, [1])))
    elif choice == "null":
        new = None
    elif choice == "hostile":
        new = draw(hostile_string())
    elif choice == "hostile_affix":
        extra = draw(st.sampled_from(HOSTILE_STRINGS))
        new = draw(st.sampled_from([current + extra, extra + current]))
    elif choice == "huge":
        new = draw(st.sampled_from(["😀" * 100_000, "é" * 1_100_000, "x" * 5_000_000]))
    elif choice == "too_long":
        lo, hi = length_bounds(target)
        new = fit_length(target, current, hi + 1) or "x" * (hi + 1)
    elif choice == "too_short":
        lo, hi = length_bounds(target)
        new = current[: lo - 1]
    elif choice == "pattern":
        extra = draw(st.sampled_from(["!", " ", "\n", "/", "é", "\u202e", "\x00", "ℌ", "١"]))
        candidates = [current + extra, extra + current, extra]
        bad = [c for c in candidates if not matches(target, c)]
        new = draw(st.sampled_from(bad)) if bad else current + extra
    elif choice == "enum":
        new = draw(st.sampled_from(["Bogus", current.lower(), current.upper() + "X", ""]))
    elif choice in ("num_low", "num_high"):
        lo, hi = number_bounds(target)
        bound = lo if choice == "num_low" else hi
        step = -1 if choice == "num_low" else 1
        new = bound + step if isinstance(bound, int) else bound * 2
    elif choice == "num_float":
        new = draw(st.sampled_from([1.5, 0.1, -0.0, 1e300]))
    elif choice == "list_long":
        lo, hi = length_bounds(target)
        item = current[0] if current else "x"
        count = min(hi + 1, 100_000)
        if len(json.dumps(item)) * count > 8_000_000:
            item = "x"  # an earlier change made the item huge: keep the body within reason
        new = [copy.deepcopy(item) for _ in range(count)]
    elif choice == "list_short":
        new = []
    elif choice == "list_null_item":
        new = [*current, None]
    elif choice == "unknown_member":
        key = draw(
            st.sampled_from(["Bogus", "__type", "", "\ud800", "pipelineName", "A" * 300, "x.y"])
        )
        new = {**current, key: draw(st.sampled_from([1, "x", None, {}, []]))}
    elif choice in ("drop_required", "null_required"):
        required = list(target.required_members)  # type: ignore[attr-defined]
        if required:
            gone = draw(st.sampled_from(required))
            new = {k: v for k, v in current.items() if k != gone}
            if choice == "null_required":
                new[gone] = None
        else:
            new = {**current, "Bogus": 1}
    return _set(body, path, new)


# ------------------------------------------------------------------------ oracle


# Members the model leaves optional but the service needs (the gateway refuses their absence
# like a missing required member): sagepipe lists the steps of one execution only.
ALSO_REQUIRED = {"ListPipelineExecutionStepsRequest": ("PipelineExecutionArn",)}


def violations(shape: Shape, value: Any, path: str = "", depth: int = 0) -> list[str]:
    """The model constraints `value` breaks, as '<path>: <what>' strings (empty: valid).

    Mirrors docs/behaviour.md §1's reading of the model: JSON null counts as absent; integers must fit the
    Java type; timestamps are epoch numbers or ISO-8601 strings; unknown members are refused."""
    kind = shape.type_name
    m = meta(shape)
    out: list[str] = []
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: not a string"]
        lo, hi = length_bounds(shape)
        if not lo <= len(value) <= hi:
            out.append(f"{path}: length")
        elif not matches(shape, value):
            out.append(f"{path}: pattern")
        elif "\x00" in value:
            out.append(f"{path}: NUL (a sagepipe decision: no store keeps it)")
        if m.get("enum") and value not in m["enum"]:
            out.append(f"{path}: enum")
        return out
    if kind in ("integer", "long"):
        tlo, thi = JAVA_INT if kind == "integer" else JAVA_LONG
        if type(value) is not int or not tlo <= value <= thi:
            return [f"{path}: not an {kind}"]
        lo, hi = number_bounds(shape)
        return [] if lo <= value <= hi else [f"{path}: range"]
    if kind in ("float", "double"):
        if type(value) not in (int, float) or not math.isfinite(value):
            return [f"{path}: not a {kind}"]
        lo, hi = number_bounds(shape)
        return [] if lo <= value <= hi else [f"{path}: range"]
    if kind == "boolean":
        return [] if type(value) is bool else [f"{path}: not a boolean"]
    if kind == "timestamp":
        if type(value) in (int, float):
            return [] if EPOCH_RANGE[0] <= value <= EPOCH_RANGE[1] else [f"{path}: timestamp"]
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
                return []
            except ValueError:
                pass
        return [f"{path}: not a timestamp"]
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        lo, hi = length_bounds(shape)
        if not lo <= len(value) <= hi:
            out.append(f"{path}: list size")
        if depth >= MAX_DEPTH:
            return [*out, f"{path}: too deep"]
        for i, item in enumerate(value):
            if item is None:
                out.append(f"{path}[{i}]: null item")
            else:
                out += violations(shape.member, item, f"{path}[{i}]", depth + 1)  # type: ignore[attr-defined]
        return out
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: not a map"]
        lo, hi = length_bounds(shape)
        if not lo <= len(value) <= hi:
            out.append(f"{path}: map size")
        for k, item in value.items():
            out += violations(shape.key, k, f"{path}<key>", depth + 1)  # type: ignore[attr-defined]
            if item is None:
                out.append(f"{path}.{k}: null value")
            else:
                out += violations(shape.value, item, f"{path}.{k}", depth + 1)  # type: ignore[attr-defined]
        return out
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not a structure"]
        if depth >= MAX_DEPTH:
            return [f"{path}: too deep"]
        members: dict[str, Shape] = shape.members  # type: ignore[attr-defined]
        required = [*shape.required_members, *ALSO_REQUIRED.get(shape.name, ())]  # type: ignore[attr-defined]
        for name in required:
            if value.get(name) is None:
                out.append(f"{path}.{name}: required")
        for k, item in value.items():
            if k not in members:
                out.append(f"{path}.{k}: unknown member")
            elif item is not None:
                out += violations(members[k], item, f"{path}.{k}", depth + 1)
        if m.get("union") and sum(value.get(n) is not None for n in members) != 1:
            out.append(f"{path}: union")
        return out
    return out


def output_problems(shape: Shape | None, value: Any, path: str = "") -> list[str]:
    """How a success body departs from the output shape: nulls, unknown members, wrong types,
    missing required members, values outside an enum (docs/behaviour.md §1: unset members are omitted)."""
    if shape is None:
        return [] if value == {} else [f"{path}: body for an operation without output"]
    if value is None:
        return [f"{path}: null"]
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        members: dict[str, Shape] = shape.members  # type: ignore[attr-defined]
        out = [f"{path}.{n}: missing" for n in shape.required_members if n not in value]  # type: ignore[attr-defined]
        for k, item in value.items():
            out += (
                output_problems(members[k], item, f"{path}.{k}")
                if k in members
                else [f"{path}.{k}: unknown member"]
            )
        return out
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [
            p for i, x in enumerate(value) for p in output_problems(shape.member, x, f"{path}[{i}]")
        ]  # type: ignore[attr-defined]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: not a map"]
        return [p for k, x in value.items() for p in output_problems(shape.value, x, f"{path}.{k}")]  # type: ignore[attr-defined]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: not a string"]
        enum = meta(shape).get("enum")
        return [f"{path}: {value!r} not in enum"] if enum and value not in enum else []
    if kind == "timestamp":
        return [] if type(value) in (int, float) else [f"{path}: timestamp not epoch seconds"]
    if kind in ("integer", "long"):
        return [] if type(value) is int else [f"{path}: not an integer"]
    if kind in ("float", "double"):
        return [] if type(value) in (int, float) else [f"{path}: not a number"]
    if kind == "boolean":
        return [] if type(value) is bool else [f"{path}: not a boolean"]
    return []


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string (key or value) in `value` holds an unpaired UTF-16 surrogate."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if any("\ud800" <= c <= "\udfff" for c in v):
                return True
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


def has_non_finite(value: Any) -> bool:
    """Whether `value` holds NaN or an infinity (which json.dumps writes as NaN/Infinity)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            return True
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


# ------------------------------------------------------------------- whole requests


def request_for(operation: str, kind: str, samples: Samples) -> SearchStrategy[dict[str, Any]]:
    """Bodies of `kind` ("valid", "boundary", "invalid") for `operation`."""
    shape = operation_model(operation).input_shape
    builder = Builder(operation, samples)
    if kind in ("valid", "boundary"):
        drawn = builder.valid(shape) if kind == "valid" else builder.boundary(shape)
        if operation in ("CreatePipeline", "UpdatePipeline"):
            return one_definition_source(drawn, samples)
        return drawn

    valid = builder.valid(shape)  # built once: regex strategies are costly to build

    @st.composite
    def invalid(draw: st.DrawFn) -> Any:
        body: Any = copy.deepcopy(draw(valid))
        for _ in range(draw(st.integers(1, 3))):
            if not isinstance(body, dict):
                break
            body = draw(mutate(shape, body))
        return body

    return invalid()


def one_definition_source(
    bodies: SearchStrategy[dict[str, Any]], samples: Samples
) -> SearchStrategy[dict[str, Any]]:
    """Mostly bodies with exactly one definition source (docs/behaviour.md §6), the inline one: the model
    cannot say "exactly one", and without an S3 endpoint only inline definitions work. Left
    alone, three creates in four would fail on that alone."""

    @st.composite
    def shaped(draw: st.DrawFn) -> dict[str, Any]:
        body = draw(bodies)
        if draw(st.integers(0, 4)) and isinstance(body, dict):
            body.pop("PipelineDefinitionS3Location", None)
            if "PipelineDefinition" not in body:
                body["PipelineDefinition"] = draw(live(samples.definitions, st.just("{}")))
        return body

    return shaped()


def encode(body: Any, raw_utf8: bool) -> bytes:
    """JSON bytes of `body`: ASCII with \\u escapes (what botocore sends), or raw UTF-8, in
    which a lone surrogate becomes an invalid byte sequence."""
    if raw_utf8:
        return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(body).encode()
