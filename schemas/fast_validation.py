"""A yes/no validity check compiled once per schema: the publisher's fast path.

``validation.field_errors`` walks the schema for every event and builds a path string per field,
which made validation most of the cost of preparing an event. Nearly every event is valid, so the
publisher first asks this compiled check, and only an event it rejects is walked again by
``field_errors`` to name each problem. The two must agree exactly: ``is_valid(d)`` is true iff
``field_errors(schema, d) == []`` (a hypothesis test holds them to it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from schemas.validation import _INTS, TIMESTAMP_RANGE, _is_unicode

Check = Callable[[Any], bool]


def compile_check(schema: Any) -> Check:
    """The validity check of ``schema`` (an Avro schema as parsed JSON)."""
    named: dict[str, Check] = {}
    return _compile(schema, named)


def _compile(schema: Any, named: dict[str, Check]) -> Check:
    if isinstance(schema, str) and schema in named:
        return _reference(named, schema)
    if isinstance(schema, list):
        return _union(schema, named)
    if isinstance(schema, dict):
        kind = schema["type"]
        if kind in ("record", "enum", "fixed"):
            name = schema["name"]
            names = [name, name.rsplit(".", 1)[-1]]
            if "." not in name and schema.get("namespace"):
                names.append(f"{schema['namespace']}.{name}")
            for alias in names:
                named[alias] = _reference(named, name)
            check = _record(schema, named) if kind == "record" else _enum(schema) if kind == "enum" else _never
            for alias in names:
                named[alias] = check
            return check
        if kind == "array":
            return _array(_compile(schema["items"], named))
        return _primitive(kind, schema.get("logicalType"))
    return _primitive(schema, None)


def _reference(named: dict[str, Check], name: str) -> Check:
    """A check that looks its named type up when called (a record may refer to itself)."""
    return lambda datum: named[name](datum)


def _record(schema: dict[str, Any], named: dict[str, Check]) -> Check:
    fields = [(f["name"], _compile(f["type"], named), "default" in f) for f in schema["fields"]]
    known = frozenset(name for name, _, _ in fields)

    def check(datum: Any) -> bool:
        if not isinstance(datum, dict):
            return False
        for key in datum:
            if key not in known:
                return False
        for name, field_check, has_default in fields:
            if name in datum:
                if not field_check(datum[name]):
                    return False
            elif not has_default:
                return False
        return True

    return check


def _enum(schema: dict[str, Any]) -> Check:
    symbols = frozenset(schema["symbols"])
    return lambda datum: isinstance(datum, str) and datum in symbols


def _array(items: Check) -> Check:
    return lambda datum: isinstance(datum, (list, tuple)) and all(items(item) for item in datum)


def _union(branches: list[Any], named: dict[str, Check]) -> Check:
    nullable = "null" in branches
    checks = [_compile(b, named) for b in branches if b != "null"]

    def check(datum: Any) -> bool:
        if datum is None:
            return nullable
        return any(c(datum) for c in checks)

    return check


def _never(_datum: Any) -> bool:
    return False


def _primitive(kind: Any, logical: str | None) -> Check:
    if logical == "uuid":
        return _is_uuid
    if logical in ("timestamp-micros", "timestamp-millis"):
        return _is_timestamp
    if logical == "date":
        return lambda datum: isinstance(datum, date) and not isinstance(datum, datetime)
    if kind == "string":
        return lambda datum: isinstance(datum, str) and (datum.isascii() or _is_unicode(datum))
    if kind == "boolean":
        return lambda datum: isinstance(datum, bool)
    if kind in _INTS:
        low, high = _INTS[kind]
        return lambda datum: isinstance(datum, int) and not isinstance(datum, bool) and low <= datum <= high
    if kind in ("float", "double"):
        return lambda datum: isinstance(datum, (int, float)) and not isinstance(datum, bool)
    if kind == "null":
        return lambda datum: datum is None
    if kind == "bytes":
        return lambda datum: isinstance(datum, (bytes, bytearray))
    return _never


def _is_uuid(datum: Any) -> bool:
    try:
        uuid.UUID(str(datum))
    except ValueError:
        return False
    return True


def _is_timestamp(datum: Any) -> bool:
    if not isinstance(datum, datetime) or datum.utcoffset() is None:
        return False
    low, high = TIMESTAMP_RANGE
    try:
        return low <= datum.astimezone(UTC) <= high
    except OverflowError:
        return False
