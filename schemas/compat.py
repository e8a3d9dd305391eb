"""Transitive compatibility: every published writer schema must stay readable by today's reader schema.

``python -m schemas.compat`` checks the whole catalog and exits 1 listing each problem; a unit test
runs the same check, so a breaking change fails the suite before it can be published.

What is checked, following Avro schema resolution (writer → reader), for every event type:

- every older version file (``events/<Type>/vN.avsc`` composed today) → the current version;
- every published writer schema as it was frozen (``history/<Type>/vN.avsc``) → the current version —
  this is what catches a change of the envelope or of a shared enum, which every version inlines;
- the envelope of every published schema → today's envelope (reported once, not per event type);
- a published event type must still exist.

Each problem names the event type, the versions and the field, e.g.
``ReferralIssued v1 → v2: field 'priority' is new in v2 and has no default; add "default": ... or make it optional``.
After the structural check passes, a generated event of the writer schema is also resolved by
fastavro into the reader schema, as a second opinion.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.utils import generate_one

from schemas.avro_types import NAMED, PROMOTIONS, collect_named, describe, kind_of, short_name
from schemas.catalog import Catalog, EventSchema, load_catalog
from schemas.history import HISTORY_DIR, frozen_schemas


def _default_fits(schema: Any, value: Any, named: dict[str, Any]) -> bool:
    """Whether a field default is valid JSON for the field's type (for a union: its first branch)."""
    schema = named.get(schema, schema) if isinstance(schema, str) else schema
    if isinstance(schema, list):
        return bool(schema) and _default_fits(schema[0], value, named)
    kind = kind_of(schema)
    if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
        return _default_fits(schema["type"], value, named)
    checks = {
        "null": lambda v: v is None,
        "boolean": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31,
        "long": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63,
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bytes": lambda v: isinstance(v, str),
        "string": lambda v: isinstance(v, str),
        "fixed": lambda v: isinstance(v, str),
        "enum": lambda v: v in schema["symbols"],
        "array": lambda v: isinstance(v, list) and all(_default_fits(schema["items"], i, named) for i in v),
        "map": lambda v: isinstance(v, dict) and all(_default_fits(schema["values"], i, named) for i in v.values()),
        "record": lambda v: (
            isinstance(v, dict)
            and all(
                _default_fits(f["type"], v[f["name"]], named) if f["name"] in v else "default" in f
                for f in schema["fields"]
            )
        ),
    }
    return checks.get(kind, lambda v: True)(value)


class _Walk:
    """One writer → reader comparison; collects problems as ``(field path, message)``."""

    def __init__(self, writer: Any, reader: Any, reader_label: str, writer_label: str) -> None:
        self.wnamed = collect_named(writer)
        self.rnamed = collect_named(reader)
        self.reader_label = reader_label
        self.writer_label = writer_label
        self.problems: list[tuple[str, str]] = []
        self._seen: set[tuple[int, int]] = set()

    def report(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def _deref(self, schema: Any, named: dict[str, Any]) -> Any:
        while isinstance(schema, str) and schema in named:
            schema = named[schema]
        if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
            return self._deref(schema["type"], named)
        if isinstance(schema, dict) and schema.get("type") in named:
            return self._deref(schema["type"], named)
        return schema

    def readable(self, w: Any, r: Any) -> bool:
        """Whether values of ``w`` can be read as ``r`` at all (no field-level detail): Avro's branch matching."""
        w, r = self._deref(w, self.wnamed), self._deref(r, self.rnamed)
        wt, rt = kind_of(w), kind_of(r)
        if wt == "union" or rt == "union":
            return True  # decided branch by branch in check()
        if wt in NAMED and rt in NAMED:
            return wt == rt and self._same_name(w, r)
        if wt == rt:
            return True
        return (wt, rt) in PROMOTIONS

    @staticmethod
    def _same_name(w: dict[str, Any], r: dict[str, Any]) -> bool:
        aliases = r.get("aliases", [])
        short = short_name(w["name"])
        return short == short_name(r["name"]) or w["name"] in aliases or short in aliases

    def check(self, w: Any, r: Any, path: str) -> None:
        w, r = self._deref(w, self.wnamed), self._deref(r, self.rnamed)
        where = f"field '{path}'" if path else "the schema"
        if isinstance(w, list):
            for branch in w:
                self._check_branch(branch, r, path, where)
            return
        if isinstance(r, list):
            match = next((b for b in r if self.readable(w, b)), None)
            if match is None:
                self.report(
                    path, f"{where} changes type from {describe(w)} to {describe(r)}, which Avro cannot promote"
                )
            else:
                self.check(w, match, path)
            return
        wt, rt = kind_of(w), kind_of(r)
        if wt in NAMED and rt in NAMED and wt == rt and not self._same_name(w, r):
            self.report(
                path,
                f"{where}: {wt} {short_name(w['name'])} is renamed to {short_name(r['name'])} in {self.reader_label}; "
                f'add "aliases": ["{short_name(w["name"])}"] to it',
            )
            return
        if wt != rt and (wt, rt) not in PROMOTIONS:
            self.report(
                path,
                f"{where} changes type from {describe(w)} to {describe(r)}, which Avro cannot promote; "
                "add a new field instead",
            )
            return
        w_logical = w.get("logicalType") if isinstance(w, dict) else None
        r_logical = r.get("logicalType") if isinstance(r, dict) else None
        if w_logical != r_logical:
            self.report(
                path,
                f"{where} changes from {describe(w)} to {describe(r)}: the stored values would change meaning; "
                "add a new field instead",
            )
            return
        if wt == "record":
            self._record(w, r, path)
        elif wt == "enum":
            self._enum(w, r, path, where)
        elif wt == "fixed" and w["size"] != r["size"]:
            self.report(path, f"{where}: fixed {short_name(w['name'])} changes size from {w['size']} to {r['size']}")
        elif wt == "array":
            self.check(w["items"], r["items"], f"{path}[]")
        elif wt == "map":
            self.check(w["values"], r["values"], f"{path}{{}}")

    def _check_branch(self, branch: Any, r: Any, path: str, where: str) -> None:
        branch = self._deref(branch, self.wnamed)
        targets = r if isinstance(r, list) else [r]
        match = next((b for b in targets if self.readable(branch, b)), None)
        if match is not None:
            self.check(branch, match, path)
        elif branch == "null":
            self.report(
                path,
                f'{where} may be null in {self.writer_label} but not in {self.reader_label}; keep "null" in its union',
            )
        else:
            self.report(
                path,
                f"{where} may hold {describe(branch)} in {self.writer_label}, which {self.reader_label} "
                f"({describe(r)}) cannot read; keep that branch in the union",
            )

    def _record(self, w: dict[str, Any], r: dict[str, Any], path: str) -> None:
        key = (id(w), id(r))
        if key in self._seen:  # a recursive type: already being compared
            return
        self._seen.add(key)
        writer_fields = {f["name"]: f for f in w["fields"]}
        for field in r["fields"]:
            inner = f"{path}.{field['name']}" if path else field["name"]
            source = writer_fields.get(field["name"]) or next(
                (writer_fields[a] for a in field.get("aliases", []) if a in writer_fields), None
            )
            if source is not None:
                self.check(source["type"], field["type"], inner)
            elif "default" not in field:
                self.report(
                    inner,
                    f"field '{inner}' is new in {self.reader_label} and has no default; "
                    'add "default": ... or make it optional',
                )
            elif not _default_fits(field["type"], field["default"], self.rnamed):
                self.report(
                    inner,
                    f"field '{inner}' is new in {self.reader_label} and its default {field['default']!r} does not "
                    f"fit its type {describe(field['type'])} (for a union: the first branch)",
                )

    def _enum(self, w: dict[str, Any], r: dict[str, Any], path: str, where: str) -> None:
        removed = [s for s in w["symbols"] if s not in r["symbols"]]
        if not removed:
            return
        if "default" in r and r["default"] in r["symbols"]:
            return
        symbols = ", ".join(removed)
        self.report(
            path,
            f"{where}: enum {short_name(r['name'])} no longer has {symbols} (still in {self.writer_label}) "
            f'and has no default; keep the symbol or add "default": ... to the enum',
        )


def schema_problems(
    writer: Any,
    reader: Any,
    *,
    writer_label: str = "the writer",
    reader_label: str = "the reader",
    start: str | None = None,
) -> list[tuple[str, str]]:
    """``(field path, message)`` for everything that keeps ``reader`` from reading data written with ``writer``.

    ``start`` names a top-level field of two record schemas to compare alone (e.g. ``"payload"``); named
    types are still looked up in the whole schemas, and paths are then relative to that field.
    """
    writer = parse_schema(writer, _write_hint=False, _ignore_default_error=True)
    reader = parse_schema(reader, _write_hint=False, _ignore_default_error=True)
    walk = _Walk(writer, reader, reader_label, writer_label)
    if start is None:
        walk.check(writer, reader, "")
    else:
        pick = lambda s: next(f["type"] for f in s["fields"] if f["name"] == start)  # noqa: E731
        walk.check(pick(writer), pick(reader), "")
    return walk.problems


def fastavro_opinion(writer: Any, reader: Any) -> str | None:
    """fastavro's own resolution of one generated writer value into the reader schema; the error, if any."""
    writer_parsed, reader_parsed = parse_schema(writer), parse_schema(reader)
    try:
        datum = generate_one(writer_parsed)
        out = io.BytesIO()
        schemaless_writer(out, writer_parsed, datum)
        out.seek(0)
        schemaless_reader(out, writer_parsed, reader_parsed)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True)
class Pair:
    event_type: str
    writer: EventSchema
    writer_label: str
    reader: EventSchema
    reader_label: str


def _pairs(catalog: Catalog, frozen: tuple[EventSchema, ...]) -> list[Pair]:
    pairs = []
    for event_type in sorted(catalog.event_types()):
        current = catalog.current(event_type)
        seen = {current.fingerprint}
        composed = [s for s in catalog.schemas if s.event_type == event_type]
        published = [s for s in frozen if s.event_type == event_type]
        for schema in sorted(composed, key=lambda s: s.version) + sorted(published, key=lambda s: s.version):
            if schema.fingerprint in seen:
                continue
            seen.add(schema.fingerprint)
            as_published = any(schema is p for p in published)
            writer_label = f"v{schema.version}" + (" as published" if as_published else "")
            reader_label = f"v{current.version}"
            if schema.version == current.version:
                writer_label, reader_label = f"v{schema.version} as published", f"v{current.version} as composed today"
            pairs.append(Pair(event_type, schema, writer_label, current, reader_label))
    return pairs


def check_catalog(catalog: Catalog | None = None, history: Path = HISTORY_DIR) -> list[str]:
    """Every problem that keeps a current reader from reading an older or published writer, as a sentence."""
    catalog = catalog or load_catalog()
    frozen = frozen_schemas(history)
    found: list[str] = []
    for gone in sorted({s.event_type for s in frozen} - catalog.event_types()):
        found.append(
            f"{gone}: published, but events/{gone}/ has no schema any more; its events in the log would become "
            "unreadable — restore the folder"
        )
    # The envelope, once: each distinct published envelope against today's.
    today = catalog.schemas[0].schema if catalog.schemas else None
    checked_envelopes: set[str] = set()
    for schema in frozen:
        key = repr(schema.schema["fields"][0]["type"])
        if today is None or key in checked_envelopes:
            continue
        checked_envelopes.add(key)
        for _, message in schema_problems(
            schema.schema,
            today,
            writer_label=f"{schema.event_type} v{schema.version} as published",
            reader_label="Envelope.avsc today",
            start="envelope",
        ):
            found.append(f"Envelope ({schema.event_type} v{schema.version} as published → today): {message}")
    for pair in _pairs(catalog, frozen):
        prefix = f"{pair.event_type} {pair.writer_label} → {pair.reader_label}"
        problems = schema_problems(
            pair.writer.schema,
            pair.reader.schema,
            writer_label=pair.writer_label,
            reader_label=pair.reader_label,
            start="payload",
        )
        found += [f"{prefix}: {message}" for _, message in problems]
        if not problems and not any(m.startswith("Envelope") for m in found):
            opinion = fastavro_opinion(pair.writer.schema, pair.reader.schema)
            if opinion:
                found.append(f"{prefix}: fastavro cannot resolve a generated event ({opinion})")
    return found


def main(argv: list[str] | None = None) -> int:
    problems = check_catalog()
    if not problems:
        catalog = load_catalog()
        print(f"compatible: every version of {len(catalog.event_types())} event types is readable by the current one")
        return 0
    print("\n".join(f"error: {p}" for p in problems), file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
