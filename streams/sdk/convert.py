"""JSON-ish values to the Python values fastavro writes, driven by the Avro schema — and back.

Partners send JSON: timestamps and dates arrive as ISO 8601 strings. Which fields are
timestamps or dates is read from each field's ``logicalType``, so a new event type in the
catalog needs no code here. Values that are already typed (``datetime``, ``date``) pass
through, and anything this module does not convert is left for the validator to judge.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

_NAMED = ("record", "enum", "fixed")
_EXAMPLE_TS = "'2025-03-01T10:00:00Z'"


@dataclass
class Conversion:
    """The converted value and, per path, why a value could not be converted (``path: reason``)."""

    value: Any
    errors: list[str] = field(default_factory=list)


def named_types(
    schema: Any, found: dict[str, dict[str, Any]] | None = None, namespace: str = ""
) -> dict[str, dict[str, Any]]:
    """Every record/enum/fixed defined anywhere in ``schema``, by full and by short name.

    A name without a namespace of its own takes the enclosing one, as Avro specifies.
    """
    found = {} if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            named_types(branch, found, namespace)
    elif isinstance(schema, dict):
        if schema.get("type") in _NAMED:
            name = schema["name"]
            namespace = name.rpartition(".")[0] if "." in name else schema.get("namespace", namespace)
            short = name.rpartition(".")[2]
            found.setdefault(f"{namespace}.{short}" if namespace else short, schema)
            found.setdefault(short, schema)
        for child in (schema.get("type"), schema.get("items"), schema.get("values")):
            if isinstance(child, (dict, list)):
                named_types(child, found, namespace)
        for fld in schema.get("fields", ()):
            named_types(fld["type"], found, namespace)
    return found


def from_json(schema: Any, value: Any, path: str = "", named: Mapping[str, dict[str, Any]] | None = None) -> Conversion:
    """Convert ``value`` for ``schema``; ``named`` resolves references to named types defined elsewhere."""
    named = named_types(schema) if named is None else named
    errors: list[str] = []
    return Conversion(_convert(schema, value, path, named, errors), errors)


def _convert(schema: Any, value: Any, path: str, named: Mapping[str, Any], errors: list[str]) -> Any:
    if isinstance(schema, str):
        schema = named.get(schema, schema)
    if isinstance(schema, list):
        return _union(schema, value, path, named, errors)
    if not isinstance(schema, dict):
        return value
    kind = schema["type"]
    if isinstance(kind, (dict, list)):  # {"type": {...}} wrapping
        return _convert(kind, value, path, named, errors)
    if kind == "record":
        if not isinstance(value, Mapping):
            return value
        types = {f["name"]: f["type"] for f in schema["fields"]}
        return {
            k: _convert(types[k], v, f"{path}.{k}" if path else k, named, errors) if k in types else v
            for k, v in value.items()
        }
    if kind == "array":
        if not isinstance(value, list):
            return value
        return [_convert(schema["items"], item, f"{path}[{i}]", named, errors) for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, Mapping):
            return value
        return {k: _convert(schema["values"], v, f"{path}.{k}", named, errors) for k, v in value.items()}
    logical = schema.get("logicalType")
    return _logical(logical, value, path, errors) if logical else value


def _union(branches: list[Any], value: Any, path: str, named: Mapping[str, Any], errors: list[str]) -> Any:
    if value is None:
        return None
    first: list[str] | None = None
    for branch in branches:
        if branch == "null":
            continue
        mine: list[str] = []
        converted = _convert(branch, value, path, named, mine)
        if not mine:
            return converted
        first = mine if first is None else first
    errors.extend(first or [])
    return value


def _logical(logical: str, value: Any, path: str, errors: list[str]) -> Any:
    if logical in ("timestamp-millis", "timestamp-micros"):
        return _timestamp(value, path, errors, aware=True)
    if logical in ("local-timestamp-millis", "local-timestamp-micros"):
        return _timestamp(value, path, errors, aware=False)
    if logical == "date":
        return _parse(date, value, path, errors, "an ISO 8601 date like '2025-03-01'")
    if logical in ("time-millis", "time-micros"):
        return _parse(time, value, path, errors, "an ISO 8601 time like '10:30:00'")
    if logical == "uuid" and isinstance(value, uuid.UUID):
        return str(value)
    if logical == "decimal" and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            errors.append(f"{path}: {value!r} is not a decimal number")
    return value


def _timestamp(value: Any, path: str, errors: list[str], aware: bool) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        errors.append(f"{path}: expected an ISO 8601 timestamp string like {_EXAMPLE_TS}, got {json_kind(value)}")
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors.append(f"{path}: {value!r} is not an ISO 8601 timestamp like {_EXAMPLE_TS}")
        return value
    if aware and parsed.tzinfo is None:
        errors.append(f"{path}: {value!r} has no timezone; add 'Z' or an offset like '+01:00'")
        return value
    return parsed


def _parse(kind: type[date] | type[time], value: Any, path: str, errors: list[str], expected: str) -> Any:
    if isinstance(value, kind) and not (kind is date and isinstance(value, datetime)):
        return value
    if not isinstance(value, str):
        errors.append(f"{path}: expected {expected}, got {json_kind(value)}")
        return value
    try:
        return kind.fromisoformat(value)
    except ValueError:
        errors.append(f"{path}: {value!r} is not {expected}")
        return value


def json_kind(value: Any) -> str:
    """A JSON reader's name for the type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def to_json(value: Any) -> Any:
    """The inverse for output: datetimes, dates, times, decimals and UUIDs as ISO/plain strings."""
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return value
