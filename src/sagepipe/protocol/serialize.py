"""Response serialization driven by the botocore output shapes.

Providers return plain dicts; this keeps only what the output shape declares (so internals
cannot leak), omits unset members (AWS never sends null), and writes timestamps as epoch
seconds, as awsJson1.1 does. One serializer closure is built per shape name and reused.
"""

from __future__ import annotations

import base64
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.model import Shape

from sagepipe.errors import UnknownOperation
from sagepipe.protocol.model import operation, shape_key

# None means "JSON-ready as it is": no call at all for strings, numbers and booleans.
Serializer = Callable[[Any], Any] | None

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _timestamp(v: Any) -> Any:
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)  # naive datetimes are taken to be UTC
        # Integer milliseconds first: exact, and truncated rather than rounded up.
        return ((v - _EPOCH) // _MS) / 1000
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        # Epoch seconds, cut to whole milliseconds (the wire's precision). The inner round
        # keeps a value that already is whole milliseconds (1.037 * 1000 = 1036.9999...).
        return math.floor(round(v * 1000, 3)) / 1000
    return v


def _blob(v: Any) -> Any:
    return base64.b64encode(v).decode("ascii") if isinstance(v, bytes | bytearray) else v


def _structure(shape: Shape) -> Serializer:
    # member name -> (wire name, serializer)
    members = {
        name: (ref.serialization.get("name", name), _shape_serializer(ref))
        for name, ref in shape.members.items()  # type: ignore[attr-defined]
    }

    def ser(v: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, x in v.items():
            if x is None or (spec := members.get(name)) is None:
                continue  # unset, or not part of the wire contract
            wire, child = spec
            out[wire] = x if child is None else child(x)
        return out

    return ser


def _list(shape: Shape) -> Serializer:
    child = _shape_serializer(shape.member)  # type: ignore[attr-defined]
    if child is None:
        return lambda v: [x for x in v if x is not None]
    return lambda v: [child(x) for x in v if x is not None]


def _map(shape: Shape) -> Serializer:
    child = _shape_serializer(shape.value)  # type: ignore[attr-defined]
    if child is None:
        return lambda v: {k: x for k, x in v.items() if x is not None}
    return lambda v: {k: child(x) for k, x in v.items() if x is not None}


_BUILDERS: dict[str, Callable[[Shape], Serializer]] = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "timestamp": lambda shape: _timestamp,
    "blob": lambda shape: _blob,
}

_lock = threading.RLock()  # building only; steady-state lookups are plain dict reads
_by_shape: dict[str, Serializer] = {}
_building: set[str] = set()
_by_operation: dict[str, Callable[[Any], dict[str, Any]]] = {}


def _shape_serializer(shape: Shape) -> Serializer:
    name = shape_key(shape)
    if name in _by_shape:
        return _by_shape[name]
    if name in _building:  # recursive shape: look the finished serializer up at call time
        return lambda v: _by_shape[name](v)  # type: ignore[misc]
    builder = _BUILDERS.get(shape.type_name)
    if builder is None:
        return None
    _building.add(name)
    try:
        built = builder(shape)
    finally:
        _building.discard(name)
    _by_shape[name] = built
    return built


def _operation_serializer(operation_name: str) -> Callable[[Any], dict[str, Any]]:
    op = operation(operation_name)
    if op is None:
        raise UnknownOperation(f"Operation {operation_name} is not supported.")
    with _lock:
        if (found := _by_operation.get(operation_name)) is None:
            shape = op.output_shape
            ser = _shape_serializer(shape) if shape is not None else None
            found = ser if ser is not None else (lambda v: {})
            _by_operation[operation_name] = found
    return found


def serialize_output(operation_name: str, result: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready response body for result, shaped by the operation's output shape."""
    ser = _by_operation.get(operation_name) or _operation_serializer(operation_name)
    return ser(result)
