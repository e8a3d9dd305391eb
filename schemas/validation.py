"""Checks a datum against a composed message schema and names every invalid field.

fastavro's own validator stops at the first error of a union and reports schema
internals; partners need ``payload.district: 'Dortmund-Nord' is not one of EVING, …``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

_INTS = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
# Timestamps a day away from Python's limits, so that rules may shift them (time zones, clock skew).
TIMESTAMP_RANGE = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))
SHOWN_CHARS = 80


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters; never fails (huge ints, odd objects)."""
    try:
        text = repr(value)
    except Exception:  # e.g. an int beyond Python's 4300-digit str() limit
        text = f"<{type(value).__name__} that cannot be shown>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_errors(schema: Any, datum: Any, path: str = "") -> list[str]:
    """Every problem of ``datum`` against ``schema``, as ``path: reason`` strings."""
    return _check(schema, datum, path, {})


def _named(schema: dict[str, Any], named: dict[str, Any]) -> None:
    """Remember a named type under its name, short name and full name (``kim.Agency``) for later references."""
    if schema.get("type") in ("record", "enum", "fixed"):
        name = schema["name"]
        named[name] = schema
        named[name.rsplit(".", 1)[-1]] = schema
        if "." not in name and schema.get("namespace"):
            named[f"{schema['namespace']}.{name}"] = schema


def _check(schema: Any, datum: Any, path: str, named: dict[str, Any]) -> list[str]:
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        return _check_union(schema, datum, path, named)
    if isinstance(schema, dict):
        _named(schema, named)
        kind = schema["type"]
        if kind == "record":
            return _check_record(schema, datum, path, named)
        if kind == "enum":
            if datum in schema["symbols"]:
                return []
            return [f"{path}: {shown(datum)} is not one of {', '.join(schema['symbols'])}"]
        if kind == "array":
            if not isinstance(datum, (list, tuple)):
                return [f"{path}: expected a list, got {type(datum).__name__}"]
            return [e for i, item in enumerate(datum) for e in _check(schema["items"], item, f"{path}[{i}]", named)]
        return _check_primitive(kind, schema.get("logicalType"), datum, path)
    return _check_primitive(schema, None, datum, path)


def _check_record(schema: dict[str, Any], datum: Any, path: str, named: dict[str, Any]) -> list[str]:
    if not isinstance(datum, dict):
        return [f"{path or 'event'}: expected an object, got {type(datum).__name__}"]
    errors = []
    known = {f["name"] for f in schema["fields"]}
    unknown = [(name if isinstance(name, str) else shown(name)) for name in datum if name not in known]
    for name in sorted(unknown):
        errors.append(f"{path + '.' if path else ''}{name}: unknown field")
    for field in schema["fields"]:
        where = f"{path}.{field['name']}" if path else field["name"]
        if field["name"] not in datum:
            if "default" not in field:
                errors.append(f"{where}: required field is missing")
            continue
        errors.extend(_check(field["type"], datum[field["name"]], where, named))
    return errors


def _check_union(branches: list[Any], datum: Any, path: str, named: dict[str, Any]) -> list[str]:
    if datum is None:
        return [] if "null" in branches else [f"{path}: must not be null"]
    problems = [_check(b, datum, path, named) for b in branches if b != "null"]
    return [] if any(not p for p in problems) else problems[0]


def _check_primitive(kind: str, logical: str | None, datum: Any, path: str) -> list[str]:
    if logical == "uuid":
        try:
            uuid.UUID(str(datum))
            return []
        except ValueError:
            return [f"{path}: {shown(datum)} is not a UUID"]
    if logical in ("timestamp-micros", "timestamp-millis"):
        if not isinstance(datum, datetime) or datum.utcoffset() is None:
            return [f"{path}: expected a timezone-aware datetime, got {shown(datum)}"]
        low, high = TIMESTAMP_RANGE
        try:
            in_range = low <= datum.astimezone(UTC) <= high
        except OverflowError:
            in_range = False
        if in_range:
            return []
        return [f"{path}: {datum.isoformat()} is out of range ({low.date()} to {high.date()}, UTC)"]
    if logical == "date":
        if isinstance(datum, date) and not isinstance(datum, datetime):
            return []
        return [f"{path}: expected a date, got {shown(datum)}"]
    if kind == "string":
        if not isinstance(datum, str):
            return [f"{path}: expected a string, got {type(datum).__name__}"]
        return [] if datum.isascii() or _is_unicode(datum) else [f"{path}: not valid Unicode text (lone surrogate)"]
    if kind == "boolean":
        return [] if isinstance(datum, bool) else [f"{path}: expected true or false, got {shown(datum)}"]
    if kind in _INTS:
        low, high = _INTS[kind]
        if isinstance(datum, int) and not isinstance(datum, bool) and low <= datum <= high:
            return []
        return [f"{path}: expected an integer ({kind}), got {shown(datum)}"]
    if kind in ("float", "double"):
        ok = isinstance(datum, (int, float)) and not isinstance(datum, bool)
        return [] if ok else [f"{path}: expected a number, got {shown(datum)}"]
    if kind == "null":
        return [] if datum is None else [f"{path}: must be null"]
    if kind == "bytes":
        return [] if isinstance(datum, (bytes, bytearray)) else [f"{path}: expected bytes, got {type(datum).__name__}"]
    return [f"{path}: unsupported schema type {kind!r}"]


def _is_unicode(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (Avro strings are UTF-8; a lone surrogate cannot be)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
