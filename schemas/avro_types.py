"""Small helpers shared by the compatibility checker and the compiled resolution: Avro types as data."""

from __future__ import annotations

from typing import Any

PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
NAMED = ("record", "enum", "fixed")
# Avro's promotions: what a reader of the right-hand type can read from a writer of the left-hand one.
PROMOTIONS = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}


def kind_of(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return schema["type"] if isinstance(schema["type"], str) else kind_of(schema["type"])
    return schema


def short_name(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def describe(schema: Any) -> str:
    """A short human name of a type: ``string``, ``date``, ``enum Agency``, ``array of string``, ``date or null``."""
    if isinstance(schema, list):
        return " or ".join(describe(branch) for branch in schema)
    if isinstance(schema, str):
        return schema if schema in PRIMITIVES else short_name(schema)
    if schema.get("logicalType"):
        return schema["logicalType"]
    kind = kind_of(schema)
    if kind in NAMED:
        return f"{kind} {short_name(schema['name'])}"
    if kind == "array":
        return f"array of {describe(schema['items'])}"
    if kind == "map":
        return f"map of {describe(schema['values'])}"
    return kind


def collect_named(schema: Any, named: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every named type a parsed schema defines, by full name."""
    named = {} if named is None else named
    if isinstance(schema, list):
        for branch in schema:
            collect_named(branch, named)
    elif isinstance(schema, dict):
        if isinstance(schema.get("type"), (dict, list)):
            collect_named(schema["type"], named)
        kind = schema.get("type")
        if kind in NAMED and schema["name"] not in named:
            named[schema["name"]] = schema
        if kind == "record":
            for field in schema["fields"]:
                collect_named(field["type"], named)
        elif kind == "array":
            collect_named(schema["items"], named)
        elif kind == "map":
            collect_named(schema["values"], named)
    return named
