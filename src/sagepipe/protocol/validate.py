"""Request validation against the botocore input shapes, worded the way AWS words it.

botocore checks only required/type/min on the client; the real service enforces every trait
of the model (length, range, pattern, enum, unknown members), so we do too. Each shape gets a
validator closure, built once per shape name on first use and reused for every request.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import string
import sys
import threading
import unicodedata
import warnings
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cache
from typing import Any

from botocore.model import Shape

from sagepipe.errors import UnknownOperation, ValidationError
from sagepipe.protocol.model import operation, shape_key

MAX_DEPTH = 64  # containers deeper than this are refused instead of walked
MAX_ERRORS = 100  # keeps the message (and the work) bounded for absurd bodies
_SHOWN = 200  # characters of an offending value quoted back in a message

# (path, offending value, constraint text)
_Error = tuple[str, object, str]
Validator = Callable[[Any, str, list[_Error], int], None]


class _TooMany(Exception):
    """Stops the walk once MAX_ERRORS errors are collected."""


_REDACTED = object()  # stands for the value of a `sensitive` shape: never echoed back


def _fail(errs: list[_Error], path: str, value: object, constraint: str) -> None:
    errs.append((path, value, constraint))
    if len(errs) >= MAX_ERRORS:
        raise _TooMany


# --- Java regex -> Python re -------------------------------------------------------------
# The model's patterns are java.util.regex patterns without anchors. Python's re lacks
# \p{..} classes, reads "\uD800\uDC00" as two lone surrogates rather than one astral
# character, and refuses a quantified anchor such as "${1,128}" (which Java accepts).

_POSIX_PUNCT = "".join("\\" + c for c in string.punctuation)
_POSIX = {  # Java's POSIX classes are ASCII-only
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": _POSIX_PUNCT,
    "Graph": "a-zA-Z0-9" + _POSIX_PUNCT,
    "Print": "\\x20a-zA-Z0-9" + _POSIX_PUNCT,
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
}
_PROPERTY = re.compile(r"\{(\w+)\}|([A-Za-z])")
_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)
_QUANTIFIER = re.compile(r"(?:[?*+]|\{(\d*)(?:,\d*)?\})[?+]?")
_CLASS_OPEN = re.compile(r"\[\^?\]?")  # a ']' right after the opening is literal


@cache
def _unicode_ranges() -> dict[str, list[tuple[int, int]]]:
    """Code point ranges per general category (Lu, Nd, ...); one ~0.1 s scan, done lazily."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    prev, start = unicodedata.category("\0"), 0
    for cp in range(1, sys.maxunicode + 1):
        cat = unicodedata.category(chr(cp))
        if cat != prev:
            ranges.setdefault(prev, []).append((start, cp - 1))
            prev, start = cat, cp
    ranges.setdefault(prev, []).append((start, sys.maxunicode))
    return ranges


def _property_class(name: str) -> str | None:
    """The inside of a character class equal to Java's \\p{name}; None if unsupported."""
    if name in _POSIX:
        return _POSIX[name]
    if name.startswith("Is") and len(name) > 2:
        name = name[2:]  # \p{IsL} is \p{L}
    if len(name) not in (1, 2):
        return None
    found = sorted(r for cat, rs in _unicode_ranges().items() if cat.startswith(name) for r in rs)
    if not found:
        return None
    merged: list[list[int]] = []
    for lo, hi in found:
        if merged and lo == merged[-1][1] + 1:
            merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    return "".join(f"\\U{lo:08x}" + (f"-\\U{hi:08x}" if hi > lo else "") for lo, hi in merged)


def _escape(java: str, i: int, in_class: bool) -> tuple[str | None, int]:
    """Translate the escape sequence at java[i] (a backslash); (None, i) if untranslatable."""
    e = java[i + 1 : i + 2]
    if e in ("p", "P"):
        m = _PROPERTY.match(java, i + 2)
        body = _property_class(m.group(1) or m.group(2)) if m else None
        if m is None or body is None or (in_class and e == "P"):
            return None, i
        if in_class:
            return body, m.end()
        return f"[{'^' if e == 'P' else ''}{body}]", m.end()
    if e == "u" and (m := _SURROGATE_PAIR.match(java, i)):
        hi, lo = int(m.group(1), 16), int(m.group(2), 16)
        return f"\\U{0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00):08x}", m.end()
    if e == "Q":  # \Q...\E quotes its text literally
        end = java.find("\\E", i + 2)
        end = len(java) if end < 0 else end
        return re.escape(java[i + 2 : end]), end + 2
    if e == "z" and not in_class:
        return "\\Z", i + 2
    if e == "Z" and not in_class:
        return "(?=\\n?\\Z)", i + 2
    if not e:
        return None, i
    return java[i : i + 2], i + 2


def _translate(java: str) -> str | None:
    out: list[str] = []
    i, in_class = 0, False
    while i < len(java):
        c = java[i]
        if c == "\\":
            token, i = _escape(java, i, in_class)
            if token is None:
                return None
            out.append(token)
        elif in_class:
            if c == "[" or java.startswith("&&", i):
                return None  # Java's class union / intersection has no re equivalent
            in_class = c != "]"
            out.append(c)
            i += 1
        elif c == "[":
            m = _CLASS_OPEN.match(java, i)
            assert m is not None
            out.append(m.group())
            i, in_class = m.end(), True
        elif c in "^$":
            out.append(c)
            i += 1
            if m := _QUANTIFIER.match(java, i):  # quantified anchor: keep the anchor alone
                if m.group()[0] in "?*" or (m.group(1) is not None and int(m.group(1) or 0) == 0):
                    out.pop()  # zero repetitions allowed: the anchor asserts nothing
                i = m.end()
        elif java.startswith("(?<", i) and java[i + 3 : i + 4].isalpha():
            out.append("(?P<")  # named group
            i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


@cache
def compile_pattern(java: str) -> re.Pattern[str] | None:
    """Compile a model pattern for re.fullmatch; None if it cannot be expressed in re."""
    py = _translate(java)
    if py is None:
        return None
    try:
        with warnings.catch_warnings():  # re's FutureWarning about possible set syntax
            warnings.simplefilter("ignore")
            # re.ASCII: Java's \d, \w, \s and \b are ASCII-only by default.
            return re.compile(py, re.ASCII)
    except (re.error, OverflowError, RecursionError):
        return None


def _shown_pattern(java: str) -> str:
    # AWS quotes the pattern anchored; botocore's copy has the anchors stripped.
    return ("" if java.startswith("^") else "^") + java + ("" if java.endswith("$") else "$")


# --- messages ----------------------------------------------------------------------------


def _scalar_json(v: object) -> str:
    if v is None or isinstance(v, bool):
        return json.dumps(v)
    if isinstance(v, str):
        return json.dumps(v[: _SHOWN + 1], ensure_ascii=False)
    try:
        return json.dumps(v) if isinstance(v, int | float) else repr(v)
    except ValueError:  # an int beyond str()'s digit limit
        return "<number>"


def _compact(value: object) -> str:
    """Compact JSON of value, cut once past _SHOWN characters: bounded work and depth,
    because every level writes a character before it descends."""
    parts: list[str] = []
    size = 0

    def put(s: str) -> None:
        nonlocal size
        parts.append(s)
        size += len(s)

    def walk(v: object) -> None:
        if isinstance(v, dict | list):
            put("{" if isinstance(v, dict) else "[")
            items = v.items() if isinstance(v, dict) else enumerate(v)
            for n, (key, item) in enumerate(items):
                if size > _SHOWN:
                    return
                sep = "," if n else ""
                put(sep + _scalar_json(key) + ":" if isinstance(v, dict) else sep)
                walk(item)
            put("}" if isinstance(v, dict) else "]")
        else:
            put(_scalar_json(v))

    walk(value)
    return "".join(parts)


def _value(v: object) -> str:
    if v is None:
        return "Value null"
    if v is _REDACTED:
        return "Value"
    text = v if isinstance(v, str) else _compact(v)
    return f"Value '{text[:_SHOWN]}...'" if len(text) > _SHOWN else f"Value '{text}'"


def _message(errs: list[_Error]) -> str:
    msgs = [f"{_value(v)} at '{p}' failed to satisfy constraint: {c}" for p, v, c in errs]
    n = len(msgs)
    return f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(msgs)


def _num(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def _length_msgs(meta: dict[str, Any]) -> tuple[int, int, str, str]:
    lo, hi = meta.get("min", 0), meta.get("max", sys.maxsize)
    return (
        lo,
        hi,
        f"Member must have length greater than or equal to {lo}",
        f"Member must have length less than or equal to {hi}",
    )


_TOO_DEEP = f"Member must not be nested more than {MAX_DEPTH} levels deep"
_NOT_NULL = "Member must not be null"
_NO_NUL = "Member must not contain the character U+0000"

# --- validators per shape type -----------------------------------------------------------


def _string(shape: Shape) -> Validator:
    meta = shape.metadata
    lo, hi, too_short, too_long = _length_msgs(meta)
    java = meta.get("pattern")
    rx = compile_pattern(java) if java else None
    no_match = f"Member must satisfy regular expression pattern: {_shown_pattern(java or '')}"
    enum = frozenset(meta["enum"]) if meta.get("enum") else None
    not_in_enum = f"Member must satisfy enum value set: [{', '.join(meta.get('enum', ()))}]"
    secret = bool(meta.get("sensitive"))

    def check(v: Any, path: str, errs: list[_Error], depth: int) -> None:
        if not isinstance(v, str):
            _fail(errs, path, _REDACTED if secret else v, "Member must be of type string")
            return
        n = len(v)
        if n < lo:
            _fail(errs, path, _REDACTED if secret else v, too_short)
        if n > hi:
            # The pattern is skipped on over-long input: it bounds the regex work.
            _fail(errs, path, _REDACTED if secret else v, too_long)
        elif rx is not None and rx.fullmatch(v) is None:
            _fail(errs, path, _REDACTED if secret else v, no_match)
        elif "\x00" in v:
            # Decision: no store keeps U+0000 in text (PostgreSQL refuses it), so no member
            # may hold it, whatever its pattern allows; refused alike on every backend.
            _fail(errs, path, _REDACTED if secret else v, _NO_NUL)
        if enum is not None and v not in enum:
            _fail(errs, path, _REDACTED if secret else v, not_in_enum)

    return check


def _number(shape: Shape) -> Validator:
    kind, meta = shape.type_name, shape.metadata
    lo, hi = meta.get("min"), meta.get("max")
    wrong_type = f"Member must be of type {kind}"
    too_small = f"Member must have value greater than or equal to {_num(lo or 0)}"
    too_big = f"Member must have value less than or equal to {_num(hi or 0)}"
    # JSON ints must fit the Java type; floats take ints too, but never NaN/Infinity.
    bits = {"integer": 31, "long": 63}.get(kind)
    if bits is not None:
        types: tuple[type, ...] = (int,)
        tmin, tmax = -(2**bits), 2**bits - 1
    else:
        types, tmax = (int, float), sys.float_info.max
        tmin = -tmax

    def check(v: Any, path: str, errs: list[_Error], depth: int) -> None:
        if type(v) not in types or not tmin <= v <= tmax:  # type(): bool is no number here
            _fail(errs, path, v, wrong_type)
        elif lo is not None and v < lo:
            _fail(errs, path, v, too_small)
        elif hi is not None and v > hi:
            _fail(errs, path, v, too_big)

    return check


def _boolean(shape: Shape) -> Validator:
    def check(v: Any, path: str, errs: list[_Error], depth: int) -> None:
        if type(v) is not bool:
            _fail(errs, path, v, "Member must be of type boolean")

    return check


_EPOCH_MIN, _EPOCH_MAX = -62135596800, 253402300799  # years 1..9999, what datetime holds


def _timestamp(shape: Shape) -> Validator:
    def check(v: Any, path: str, errs: list[_Error], depth: int) -> None:
        if type(v) in (int, float):
            ok = _EPOCH_MIN <= v <= _EPOCH_MAX  # False for NaN too
        elif isinstance(v, str):
            try:
                datetime.fromisoformat(v)
                ok = True
            except ValueError:
                ok = False
        else:
            ok = False
        if not ok:
            _fail(errs, path, v, "Member must be of type timestamp")

    return check


def _blob(shape: Shape) -> Validator:
    lo, hi, too_short, too_long = _length_msgs(shape.metadata)

    def check(v: Any, path: str, errs: list[_Error], depth: int) -> None:
        try:
            n = len(base64.b64decode(v, validate=True)) if isinstance(v, str) else -1
        except (binascii.Error, ValueError):
            n = -1
        if n < 0:
            _fail(errs, path, v, "Member must be of type blob")
        elif n < lo:
            _fail(errs, path, v, too_short)
        elif n > hi:
            _fail(errs, path, v, too_long)

    return check


def _list(shape: Shape) -> Validator:
    lo, hi, too_short, too_long = _length_msgs(shape.metadata)
    item = _shape_validator(shape.member)  # type: ignore[attr-defined]
    sparse = bool(shape.metadata.get("sparse"))

    def check(v: Any, path: str, errs: list[_Error], depth: int) -> None:
        if not isinstance(v, list):
            _fail(errs, path, v, "Member must be of type list")
            return
        if len(v) < lo:
            _fail(errs, path, v, too_short)
        elif len(v) > hi:
            _fail(errs, path, v, too_long)
        if depth >= MAX_DEPTH:
            _fail(errs, path, v, _TOO_DEEP)
            return
        for i, x in enumerate(v, 1):
            if x is not None:
                item(x, f"{path}.{i}.member", errs, depth + 1)  # AWS's list path style
            elif not sparse:
                _fail(errs, f"{path}.{i}.member", None, _NOT_NULL)

    return check


def _map(shape: Shape) -> Validator:
    lo, hi, too_short, too_long = _length_msgs(shape.metadata)
    key_check = _shape_validator(shape.key)  # type: ignore[attr-defined]
    value_check = _shape_validator(shape.value)  # type: ignore[attr-defined]
    sparse = bool(shape.metadata.get("sparse"))

    def check(v: Any, path: str, errs: list[_Error], depth: int) -> None:
        if not isinstance(v, dict):
            _fail(errs, path, v, "Member must be of type map")
            return
        if len(v) < lo:
            _fail(errs, path, v, too_short)
        elif len(v) > hi:
            _fail(errs, path, v, too_long)
        if depth >= MAX_DEPTH:
            _fail(errs, path, v, _TOO_DEEP)
            return
        for k, x in v.items():
            key_errs: list[_Error] = []
            key_check(k, path, key_errs, depth + 1)
            if key_errs:  # AWS folds a key's violations into one message
                folded = ", ".join(c for _, _, c in key_errs)
                _fail(errs, path, k, f"Map keys must satisfy constraint: [{folded}]")
            if x is not None:
                value_check(x, f"{path}.{k}", errs, depth + 1)
            elif not sparse:
                _fail(errs, f"{path}.{k}", None, _NOT_NULL)

    return check


def _structure(shape: Shape) -> Validator:
    required = set(shape.required_members)  # type: ignore[attr-defined]
    # (wire name, lowerCamelCase path segment, validator, required?)
    members = [
        (
            ref.serialization.get("name", name),
            name[:1].lower() + name[1:],
            _shape_validator(ref),
            name in required,
        )
        for name, ref in shape.members.items()  # type: ignore[attr-defined]
    ]
    known = frozenset(m[0] for m in members)
    unknown = f"Member is not a known member of the {shape.name} structure"
    union = bool(shape.metadata.get("union"))

    def check(v: Any, path: str, errs: list[_Error], depth: int) -> None:
        if not isinstance(v, dict):
            _fail(errs, path, v, "Member must be of type structure")
            return
        if depth >= MAX_DEPTH:
            _fail(errs, path, v, _TOO_DEEP)
            return
        prefix = f"{path}." if path else ""
        present = 0
        for wire, camel, child, needed in members:
            x = v.get(wire)
            if x is None:  # JSON null counts as absent, as in AWS's JSON protocols
                if needed:
                    _fail(errs, prefix + camel, None, _NOT_NULL)
                continue
            present += 1
            child(x, prefix + camel, errs, depth + 1)
        if present != len(v):
            for k, x in v.items():
                if k not in known:  # named as sent: it has no model name to camel-case
                    _fail(errs, prefix + k, x, unknown)
        if union and present != 1:
            _fail(errs, path, v, "Member must have exactly one of its members set")

    return check


def _anything(shape: Shape) -> Validator:
    def check(v: Any, path: str, errs: list[_Error], depth: int) -> None:
        return None

    return check


_BUILDERS: dict[str, Callable[[Shape], Validator]] = {
    "string": _string,
    "integer": _number,
    "long": _number,
    "float": _number,
    "double": _number,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "blob": _blob,
    "list": _list,
    "map": _map,
    "structure": _structure,
}

_lock = threading.RLock()  # building only; steady-state lookups are plain dict reads
_by_shape: dict[str, Validator] = {}
_building: set[str] = set()
_by_operation: dict[str, Validator] = {}


def _shape_validator(shape: Shape) -> Validator:
    name = shape_key(shape)
    if (found := _by_shape.get(name)) is not None:
        return found
    if name in _building:  # recursive shape: look the finished validator up at call time
        return lambda v, path, errs, depth: _by_shape[name](v, path, errs, depth)
    _building.add(name)
    try:
        built = _BUILDERS.get(shape.type_name, _anything)(shape)
    finally:
        _building.discard(name)
    _by_shape[name] = built
    return built


def _operation_validator(operation_name: str) -> Validator:
    op = operation(operation_name)
    if op is None:
        raise UnknownOperation(f"Operation {operation_name} is not supported.")
    with _lock:
        if (found := _by_operation.get(operation_name)) is None:
            shape = op.input_shape
            found = _shape_validator(shape) if shape is not None else _no_input(operation_name)
            _by_operation[operation_name] = found
    return found


def _no_input(operation_name: str) -> Validator:
    unknown = f"Member is not a known member of the {operation_name}Input structure"

    def check(v: Any, path: str, errs: list[_Error], depth: int) -> None:
        for k, x in v.items():
            _fail(errs, k, x, unknown)

    return check


# --- public ------------------------------------------------------------------------------


def validate_input(operation_name: str, params: object) -> None:
    """Raise ValidationError (all violations, AWS wording) unless params fits the input shape.

    An operation SageMaker does not have raises UnknownOperation.
    """
    check = _by_operation.get(operation_name) or _operation_validator(operation_name)
    if not isinstance(params, dict):
        raise ValidationError("The request body must be a JSON object.")
    errs: list[_Error] = []
    with contextlib.suppress(_TooMany):  # the errors gathered so far are reported
        check(params, "", errs, 0)
    if errs:
        raise ValidationError(_message(errs))


def warm_up(operation_names: Iterable[str]) -> None:
    """Build the validators (and compile their patterns) ahead of the first request."""
    for name in operation_names:
        _operation_validator(name)
