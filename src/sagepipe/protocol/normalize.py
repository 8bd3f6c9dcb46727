"""Input values in the one form providers get: timestamps as epoch seconds.

awsJson1.1 clients send timestamps as epoch numbers, but the validator also accepts ISO 8601
strings; handing a string through would compare text with numbers in SQL (wrong rows on
SQLite, a type error on PostgreSQL). The walk is built per shape once and only visits the
members that can hold a timestamp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.model import Shape

from sagepipe.protocol.model import operation, shape_key

Converter = Callable[[Any], Any] | None  # None: nothing in this shape needs converting


def epoch_seconds(value: Any) -> Any:
    """A validated timestamp (epoch number or ISO 8601 text) as epoch seconds."""
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # no zone: UTC, as AWS reads it
        return parsed.timestamp()
    return value


_lock = threading.RLock()
_by_shape: dict[str, Converter] = {}
_building: set[str] = set()
_by_operation: dict[str, Converter] = {}


def _structure(shape: Shape) -> Converter:
    members = {
        ref.serialization.get("name", name): conv
        for name, ref in shape.members.items()  # type: ignore[attr-defined]
        if (conv := _converter(ref)) is not None
    }
    if not members:
        return None

    def convert(v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        return {k: (members[k](x) if k in members and x is not None else x) for k, x in v.items()}

    return convert


def _list(shape: Shape) -> Converter:
    item = _converter(shape.member)  # type: ignore[attr-defined]
    if item is None:
        return None
    return lambda v: [item(x) if x is not None else x for x in v] if isinstance(v, list) else v


def _map(shape: Shape) -> Converter:
    value = _converter(shape.value)  # type: ignore[attr-defined]
    if value is None:
        return None
    return lambda v: (
        {k: value(x) if x is not None else x for k, x in v.items()} if isinstance(v, dict) else v
    )


def _converter(shape: Shape) -> Converter:
    name = shape_key(shape)
    if name in _by_shape:
        return _by_shape[name]
    if shape.type_name == "timestamp":
        return epoch_seconds
    if name in _building:  # recursive shape: resolve at call time
        return lambda v: (_by_shape.get(name) or (lambda x: x))(v)
    builder = {"structure": _structure, "list": _list, "map": _map}.get(shape.type_name)
    if builder is None:
        return None
    _building.add(name)
    try:
        built = builder(shape)
    finally:
        _building.discard(name)
    _by_shape[name] = built
    return built


def normalize_input(operation_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` (already validated) with every timestamp as epoch seconds."""
    if operation_name not in _by_operation:
        op = operation(operation_name)
        with _lock:
            shape = op.input_shape if op is not None else None
            _by_operation[operation_name] = _converter(shape) if shape is not None else None
    convert = _by_operation[operation_name]
    return params if convert is None else convert(params)
