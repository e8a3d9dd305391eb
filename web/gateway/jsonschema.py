"""Avro schemas as JSON Schema (2020-12, as OpenAPI 3.1 uses it): the JSON shape a partner sends.

Timestamps and dates are ISO 8601 strings on the wire (``format: date-time`` / ``date``), the same
conversion ``EventDraft.from_dict`` applies, so the document and the gateway agree by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.sdk.convert import named_types

_PRIMITIVES: dict[str, dict[str, Any]] = {
    "null": {"type": "null"},
    "boolean": {"type": "boolean"},
    "int": {"type": "integer", "format": "int32"},
    "long": {"type": "integer", "format": "int64"},
    "float": {"type": "number"},
    "double": {"type": "number"},
    "string": {"type": "string"},
    "bytes": {"type": "string"},
}
_LOGICAL: dict[str, dict[str, Any]] = {
    "timestamp-millis": {"type": "string", "format": "date-time"},
    "timestamp-micros": {"type": "string", "format": "date-time"},
    "local-timestamp-millis": {"type": "string", "description": "ISO 8601 local date and time, no timezone"},
    "local-timestamp-micros": {"type": "string", "description": "ISO 8601 local date and time, no timezone"},
    "date": {"type": "string", "format": "date"},
    "time-millis": {"type": "string", "format": "time"},
    "time-micros": {"type": "string", "format": "time"},
    "uuid": {"type": "string", "format": "uuid"},
    "decimal": {"type": ["string", "number"]},
}


def json_schema(avro: Any, named: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON Schema of the JSON form of ``avro``; ``named`` resolves references to named types."""
    named = named_types(avro) if named is None else named
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return dict(_PRIMITIVES[avro])
        return json_schema(named[avro], named)
    if isinstance(avro, list):
        return {"anyOf": [json_schema(branch, named) for branch in avro]}
    kind = avro["type"]
    if isinstance(kind, (dict, list)):
        return json_schema(kind, named)
    if avro.get("logicalType") in _LOGICAL:
        return dict(_LOGICAL[avro["logicalType"]])
    if kind == "record":
        return _record(avro, named)
    if kind == "enum":
        return _described({"type": "string", "enum": list(avro["symbols"]), "title": avro["name"]}, avro)
    if kind == "array":
        return {"type": "array", "items": json_schema(avro["items"], named)}
    if kind == "map":
        return {"type": "object", "additionalProperties": json_schema(avro["values"], named)}
    if kind == "fixed":
        return {"type": "string", "title": avro["name"]}
    return json_schema(kind, named)


def _record(avro: dict[str, Any], named: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    properties = {}
    for field in avro["fields"]:
        schema = _described(json_schema(field["type"], named), field)
        if "default" in field:
            schema["default"] = field["default"]
        properties[field["name"]] = schema
    out: dict[str, Any] = {"type": "object", "title": avro["name"], "properties": properties}
    required = [f["name"] for f in avro["fields"] if "default" not in f]
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return _described(out, avro)


def _described(schema: dict[str, Any], avro: Mapping[str, Any]) -> dict[str, Any]:
    if avro.get("doc"):
        schema["description"] = avro["doc"]
    return schema
