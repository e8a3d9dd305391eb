"""Loads the Avro files under ``schemas/avro`` and composes one message schema per event version.

Layout:
  avro/types/*.avsc             shared named types (enums) referenced by name
  avro/envelope/Envelope.avsc   the envelope every event carries
  avro/events/<Type>/v<N>.avsc  the payload of each published version of each event type

A message schema is ``{envelope: Envelope, payload: <Type>}`` with every named type inlined,
so it is self-contained and its canonical form has a stable CRC-64-AVRO fingerprint.
Payload files carry two extra attributes (ignored by Avro): ``kim.topic`` and ``kim.key``.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

AVRO_DIR = Path(__file__).parent / "avro"
_VERSION_FILE = re.compile(r"^v(\d+)\.avsc$")


@dataclass(frozen=True)
class EventSchema:
    event_type: str
    version: int
    topic: str
    key_field: str
    schema: dict[str, Any]
    parsed: dict[str, Any]
    fingerprint: bytes

    @property
    def payload_schema(self) -> dict[str, Any]:
        return self.schema["fields"][1]["type"]


@dataclass(frozen=True)
class Catalog:
    schemas: tuple[EventSchema, ...]

    def current(self, event_type: str) -> EventSchema:
        versions = [s for s in self.schemas if s.event_type == event_type]
        if not versions:
            known = ", ".join(sorted(self.event_types()))
            raise KeyError(f"unknown event type {event_type!r}; known types: {known}")
        return max(versions, key=lambda s: s.version)

    def event_types(self) -> set[str]:
        return {s.event_type for s in self.schemas}

    def by_fingerprint(self) -> dict[bytes, EventSchema]:
        return {s.fingerprint: s for s in self.schemas}

    def topics(self) -> set[str]:
        return {s.topic for s in self.schemas}


def _fullname(schema: dict[str, Any]) -> str:
    name = schema["name"]
    return name if "." in name else f"{schema.get('namespace', '')}.{name}".lstrip(".")


def _inline(node: Any, named: dict[str, dict[str, Any]], defined: set[str]) -> Any:
    """Replace the first reference to each shared named type by its definition."""
    if isinstance(node, str):
        if node in named and node not in defined:
            defined.add(node)
            return _inline(copy.deepcopy(named[node]), named, defined)
        return node
    if isinstance(node, list):
        return [_inline(item, named, defined) for item in node]
    if isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed"):
            defined.add(_fullname(node))
        return {
            k: (v if k in ("name", "namespace", "doc", "symbols") else _inline(v, named, defined))
            for k, v in node.items()
        }
    return node


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def compose(envelope: dict[str, Any], payload: dict[str, Any], named: dict[str, dict[str, Any]]) -> dict[str, Any]:
    event_type = payload["name"]
    message = {
        "type": "record",
        "name": event_type,
        "namespace": "kim.message",
        "fields": [{"name": "envelope", "type": envelope}, {"name": "payload", "type": payload}],
    }
    return _inline(message, named, set())


@cache
def load_catalog(avro_dir: Path = AVRO_DIR) -> Catalog:
    named = {_fullname(s): s for s in map(_read, sorted((avro_dir / "types").glob("*.avsc")))}
    envelope = _read(avro_dir / "envelope" / "Envelope.avsc")
    schemas = []
    for type_dir in sorted(p for p in (avro_dir / "events").iterdir() if p.is_dir()):
        for path in sorted(type_dir.iterdir()):
            match = _VERSION_FILE.match(path.name)
            if not match:
                continue
            schema = compose(envelope, _read(path), named)
            schemas.append(event_schema(type_dir.name, int(match.group(1)), schema))
    return Catalog(tuple(schemas))


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    """The CRC-64-AVRO fingerprint of a message schema's parsing canonical form (8 bytes, little-endian)."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parse_schema(schema)), "CRC-64-AVRO"))


def event_schema(event_type: str, version: int, schema: dict[str, Any]) -> EventSchema:
    """An ``EventSchema`` for a composed message schema ``{envelope, payload}``."""
    payload = schema["fields"][1]["type"]
    return EventSchema(
        event_type=event_type,
        version=version,
        topic=payload["kim.topic"],
        key_field=payload["kim.key"],
        schema=schema,
        parsed=parse_schema(schema),
        fingerprint=schema_fingerprint(schema),
    )
