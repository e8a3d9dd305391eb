"""The compiled resolution (writer-only decode + a plan) reads exactly what fastavro's own resolution reads."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from schemas import load_catalog
from schemas.compat import _pairs
from schemas.history import frozen_schemas
from schemas.resolution import ResolutionError, Unsupported, compile_resolution


def _both_ways(writer: Any, reader: Any, count: int = 200) -> None:
    writer, reader = parse_schema(writer), parse_schema(reader)
    plan = compile_resolution(writer, reader)
    for datum in generate_many(writer, count):
        out = io.BytesIO()
        schemaless_writer(out, writer, datum)
        body = out.getvalue()
        decoded = schemaless_reader(io.BytesIO(body), writer, None)
        try:
            expected = schemaless_reader(io.BytesIO(body), writer, reader)
        except ValueError:  # e.g. random bytes read as a string: the plan must refuse them too
            with pytest.raises(ValueError):
                assert plan is not None
                plan(decoded)
            continue
        assert (decoded if plan is None else plan(decoded)) == expected


PAIRS = _pairs(load_catalog(), frozen_schemas())


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p.event_type}-{p.writer_label}-{p.reader_label}")
def test_every_catalog_resolution_agrees_with_fastavro(pair: Any) -> None:
    _both_ways(pair.writer.schema, pair.reader.schema)


def test_there_is_a_catalog_resolution_to_check() -> None:
    assert any(p.event_type == "CasePaused" for p in PAIRS)


def record(*fields: dict[str, Any], name: str = "R") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields)}


def f(name: str, kind: Any, **more: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, **more}


def pair(writer: list[dict[str, Any]], reader: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    return record(*writer), record(*reader)


ENUM = {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}
INNER = record(f("x", "int"), name="Inner")
INNER_V2 = record(f("x", "long"), f("y", ["null", "int"], default=None), name="Inner")
INNER_V3 = record(f("x", "int"), f("z", "string", default=""), name="Inner")
OPTIONAL = ["null", "string"]
PROMOTED = [("int", "long"), ("int", "double"), ("long", "float"), ("float", "double"), ("string", "bytes")]

CHANGES = {
    "field added with defaults": pair(
        [f("a", "string")],
        [
            f("a", "string"),
            f("n", OPTIONAL, default=None),
            f("i", "int", default=7),
            f("s", "string", default="x"),
            f("e", ENUM, default="B"),
            f("l", {"type": "array", "items": "string"}, default=[]),
            f("r", INNER, default={"x": 1}),
        ],
    ),
    "field removed": pair([f("a", "string"), f("b", "int")], [f("b", "int")]),
    "promotions": pair(
        [f(f"p{i}", w) for i, (w, _) in enumerate(PROMOTED)] + [f("q", "bytes")],
        [f(f"p{i}", r) for i, (_, r) in enumerate(PROMOTED)] + [f("q", "string")],
    ),
    "enum symbol removed with default": pair([f("e", ENUM)], [f("e", {**ENUM, "symbols": ["A", "C"], "default": "C"})]),
    "enum symbol added": pair([f("e", ENUM)], [f("e", {**ENUM, "symbols": ["A", "B", "C", "D"]})]),
    "nested records in an array": pair(
        [f("l", {"type": "array", "items": INNER})], [f("l", {"type": "array", "items": INNER_V2})]
    ),
    "map values promoted": pair(
        [f("m", {"type": "map", "values": "int"})], [f("m", {"type": "map", "values": "double"})]
    ),
    "optional promoted": pair([f("o", ["null", "int"])], [f("o", ["null", "long"])]),
    "made optional": pair([f("o", "int")], [f("o", ["null", "long"], default=None)]),
    "optional record gains a field": pair([f("o", ["null", INNER])], [f("o", ["null", INNER_V3])]),
    "field renamed by alias": pair([f("old", "int")], [f("new", "int", aliases=["old"])]),
    "nothing changes": pair([f("a", "int"), f("e", ENUM)], [f("a", "int"), f("e", ENUM)]),
}


@pytest.mark.parametrize("name", CHANGES)
def test_compiled_resolution_agrees_with_fastavro(name: str) -> None:
    writer, reader = CHANGES[name]
    _both_ways(writer, reader)


def test_an_unchanged_schema_needs_no_plan() -> None:
    writer, reader = CHANGES["nothing changes"]
    assert compile_resolution(writer, reader) is None


def test_a_logical_default_is_read_as_its_type() -> None:
    """fastavro hands out the raw JSON default (0); the plan gives the date a writer would have produced."""
    plan = compile_resolution(
        record({"name": "a", "type": "int"}),
        record(
            {"name": "a", "type": "int"}, {"name": "d", "type": {"type": "int", "logicalType": "date"}, "default": 0}
        ),
    )
    assert plan is not None and plan({"a": 1}) == {"a": 1, "d": date(1970, 1, 1)}


def test_defaults_are_fresh_copies() -> None:
    plan = compile_resolution(
        record({"name": "a", "type": "int"}),
        record({"name": "a", "type": "int"}, {"name": "l", "type": {"type": "array", "items": "int"}, "default": []}),
    )
    assert plan is not None
    first = plan({"a": 1})
    first["l"].append(1)
    assert plan({"a": 2})["l"] == []


def test_what_a_plan_cannot_say_falls_back_to_fastavro() -> None:
    several = record({"name": "u", "type": ["null", "int", "string"]})
    with pytest.raises(Unsupported):
        compile_resolution(several, record({"name": "u", "type": ["null", "long", "string"]}))
    with pytest.raises(ResolutionError, match="no default for field b"):
        compile_resolution(record({"name": "a", "type": "int"}), record({"name": "b", "type": "int"}))
