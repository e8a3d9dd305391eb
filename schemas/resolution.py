"""Avro schema resolution compiled once per writer schema, applied to records decoded with the writer alone.

fastavro resolves a writer schema into a reader schema on every call (it compares and matches the
schemas each time), which costs more than the decoding itself. Events written by an older version
differ from the current one in a few fields, so the codec decodes with the writer schema only (the
fast path) and then maps the record with a plan compiled here: reader fields missing in the writer
get their default, fields the reader dropped are left out, promotions (int → long/float/double, …)
and enum defaults are applied, unchanged parts are passed through untouched.

What a plan cannot express (unions of several records, recursive types, a logical type that
changes) raises ``Unsupported``; the codec then uses fastavro's own resolution for that writer.
A test checks that plans and fastavro agree on generated data.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.avro_types import NAMED, PROMOTIONS, collect_named, kind_of
from schemas.errors import KimError

Resolve = Callable[[Any], Any]

_CONVERT: dict[tuple[str, str], Resolve | None] = {pair: None for pair in PROMOTIONS}
_CONVERT.update(
    {
        ("int", "float"): float,
        ("int", "double"): float,
        ("long", "float"): float,
        ("long", "double"): float,
        ("string", "bytes"): lambda v: v.encode("utf-8"),
        ("bytes", "string"): lambda v: v.decode("utf-8"),
    }
)


class Unsupported(KimError):
    """This resolution has no compiled plan; resolve with fastavro instead (never reaches a user)."""


class ResolutionError(KimError, ValueError):
    """A written value has no reading in the reader schema (e.g. an enum symbol the reader lost, no default)."""


def compile_resolution(writer: Any, reader: Any) -> Resolve | None:
    """A function mapping a value decoded with ``writer`` to its reading in ``reader``; None when nothing changes.

    Both schemas are parsed (``fastavro.parse_schema``) or raw; raises ``Unsupported`` when no plan fits.
    """
    writer, reader = parse_schema(writer, _write_hint=False), parse_schema(reader, _write_hint=False)
    return _Compiler(writer, reader).resolve(writer, reader)


def _default_value(schema: Any, default: Any, named: dict[str, Any]) -> Any:
    """The Python value a reader gets for a field default: the JSON default written and read with the field type."""
    branch = schema[0] if isinstance(schema, list) else schema
    try:
        parsed = parse_schema(
            {"type": "record", "name": "Default", "fields": [{"name": "v", "type": _inline(branch, named, set())}]},
            _write_hint=False,
        )
        out = io.BytesIO()
        schemaless_writer(out, parsed, {"v": default})
        out.seek(0)
        return schemaless_reader(out, parsed, None)["v"]
    except Exception:
        return default


def _inline(schema: Any, named: dict[str, Any], defined: set[str]) -> Any:
    """``schema`` with each named type it references defined in place once, so it stands alone."""
    if isinstance(schema, str):
        if schema in named and schema not in defined:
            defined.add(schema)
            return _inline(named[schema], named, defined)
        return schema
    if isinstance(schema, list):
        return [_inline(b, named, defined) for b in schema]
    if isinstance(schema, dict):
        if schema.get("type") in NAMED:
            defined.add(schema["name"])
        clean = {k: v for k, v in schema.items() if not k.startswith("__")}
        for key in ("type", "items", "values"):
            if key in clean and (not isinstance(clean[key], str) or clean[key] in named):
                clean[key] = _inline(clean[key], named, defined)
        if "fields" in clean:
            clean["fields"] = [{**f, "type": _inline(f["type"], named, defined)} for f in clean["fields"]]
        return clean
    return schema


def _fresh(value: Any) -> Resolve:
    if isinstance(value, (list, dict)):
        return lambda _: copy.deepcopy(value)
    return lambda _: value


class _Compiler:
    def __init__(self, writer: Any, reader: Any) -> None:
        self.wnamed = collect_named(writer)
        self.rnamed = collect_named(reader)
        self._active: set[tuple[str, str]] = set()

    def _deref(self, schema: Any, named: dict[str, Any]) -> Any:
        while isinstance(schema, str) and schema in named:
            schema = named[schema]
        if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
            return self._deref(schema["type"], named)
        return schema

    def resolve(self, w: Any, r: Any) -> Resolve | None:
        w, r = self._deref(w, self.wnamed), self._deref(r, self.rnamed)
        if isinstance(w, list) or isinstance(r, list):
            return self._union(w, r)
        wt, rt = kind_of(w), kind_of(r)
        w_logical = w.get("logicalType") if isinstance(w, dict) else None
        r_logical = r.get("logicalType") if isinstance(r, dict) else None
        if w_logical != r_logical:
            raise Unsupported(f"logical type {w_logical} → {r_logical}")
        if wt == rt == "record":
            return self._record(w, r)
        if wt == rt == "enum":
            return self._enum(w, r)
        if wt == rt == "fixed":
            if w["size"] != r["size"]:
                raise Unsupported("fixed size changes")
            return None
        if wt == rt == "array":
            items = self.resolve(w["items"], r["items"])
            return None if items is None else (lambda v: [items(x) for x in v])
        if wt == rt == "map":
            values = self.resolve(w["values"], r["values"])
            return None if values is None else (lambda v: {k: values(x) for k, x in v.items()})
        if wt == rt:
            return None
        if (wt, rt) in _CONVERT:
            return _CONVERT[(wt, rt)]
        raise Unsupported(f"{wt} → {rt}")

    def _matches(self, w: Any, r: Any) -> bool:
        """fastavro's branch choice: the first reader branch of the same kind (and name) or a promotion."""
        w, r = self._deref(w, self.wnamed), self._deref(r, self.rnamed)
        wt, rt = kind_of(w), kind_of(r)
        if wt in NAMED and rt in NAMED:
            aliases = r.get("aliases", [])
            short = w["name"].rsplit(".", 1)[-1]
            return wt == rt and (short == r["name"].rsplit(".", 1)[-1] or w["name"] in aliases or short in aliases)
        return wt == rt or (wt, rt) in PROMOTIONS

    def _union(self, w: Any, r: Any) -> Resolve | None:
        branches = w if isinstance(w, list) else [w]
        targets = r if isinstance(r, list) else [r]
        non_null = [b for b in branches if self._deref(b, self.wnamed) != "null"]
        if len(non_null) > 1:
            raise Unsupported("a writer union of several non-null types: the value does not say its branch")
        if len(non_null) < len(branches) and "null" not in [self._deref(t, self.rnamed) for t in targets]:
            raise Unsupported("null written, reader not nullable")
        if not non_null:
            return None
        branch = non_null[0]
        target = next((t for t in targets if self._matches(branch, t)), None)
        if target is None:
            raise Unsupported("no reader branch for the written type")
        inner = self.resolve(branch, target)
        if inner is None:
            return None
        return lambda v: None if v is None else inner(v)

    def _record(self, w: dict[str, Any], r: dict[str, Any]) -> Resolve | None:
        key = (w["name"], r["name"])
        if key in self._active:
            raise Unsupported("recursive record")
        self._active.add(key)
        try:
            writer_fields = {f["name"]: f for f in w["fields"]}
            plan: list[tuple[str, str | None, Resolve | None]] = []
            for field in r["fields"]:
                source = writer_fields.get(field["name"]) or next(
                    (writer_fields[a] for a in field.get("aliases", []) if a in writer_fields), None
                )
                if source is not None:
                    plan.append((field["name"], source["name"], self.resolve(source["type"], field["type"])))
                elif "default" in field:
                    plan.append(
                        (field["name"], None, _fresh(_default_value(field["type"], field["default"], self.rnamed)))
                    )
                else:
                    raise ResolutionError(f"no default for field {field['name']} in {r['name']}")
        finally:
            self._active.discard(key)
        unchanged = all(src == name and fn is None for name, src, fn in plan) and len(plan) == len(writer_fields)
        if unchanged:
            return None
        copied = tuple((name, src) for name, src, fn in plan if src is not None and fn is None)
        mapped = tuple((name, src, fn) for name, src, fn in plan if src is not None and fn is not None)
        filled = tuple((name, fn) for name, src, fn in plan if src is None and fn is not None)

        def record(value: dict[str, Any]) -> dict[str, Any]:
            out = {name: value[src] for name, src in copied}
            for name, src, fn in mapped:
                out[name] = fn(value[src])
            for name, fn in filled:
                out[name] = fn(None)
            return out

        return record

    def _enum(self, w: dict[str, Any], r: dict[str, Any]) -> Resolve | None:
        symbols = set(r["symbols"])
        if all(s in symbols for s in w["symbols"]):
            return None
        default = r.get("default")
        name = r["name"]

        def enum(value: str) -> str:
            if value in symbols:
                return value
            if default is None:
                raise ResolutionError(f"{name} has no symbol {value!r} and no default")
            return default

        return enum
