"""Avro single-object encoding: ``C3 01`` + CRC-64-AVRO fingerprint (8 bytes, little-endian) + body.

Every message names its writer schema, so any reader can find that schema in the catalog
and resolve it into the current version of the event type.
"""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas.catalog import Catalog, EventSchema, load_catalog
from schemas.event import Event
from schemas.rules import domain_errors
from schemas.validation import field_errors

MAGIC = b"\xc3\x01"
HEADER_SIZE = len(MAGIC) + 8


class DecodeError(ValueError):
    """The bytes are not a KIM event this catalog can read."""


class EncodeError(ValueError):
    """The event does not match its schema or breaks a domain rule; ``errors`` lists every invalid field."""

    def __init__(self, event_type: str, errors: list[str]) -> None:
        self.event_type = event_type
        self.errors = errors
        super().__init__(f"invalid {event_type}: " + "; ".join(errors))


class Codec:
    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or load_catalog()
        self._writers = self.catalog.by_fingerprint()
        self._readers = {t: self.catalog.current(t) for t in self.catalog.event_types()}

    def schema_for(self, event_type: str) -> EventSchema:
        try:
            return self._readers[event_type]
        except KeyError:
            known = ", ".join(sorted(self._readers))
            raise EncodeError(event_type, [f"event_type: unknown type {event_type!r}; known types: {known}"]) from None

    def validate(self, event_type: str, envelope: dict[str, Any], payload: dict[str, Any]) -> list[str]:
        """Schema errors, or — once the event matches its schema — domain-rule errors (schemas/rules.py)."""
        errors = field_errors(self.schema_for(event_type).schema, {"envelope": envelope, "payload": payload})
        return errors or domain_errors(event_type, envelope, payload)

    def encode(self, event_type: str, envelope: dict[str, Any], payload: dict[str, Any]) -> bytes:
        schema = self.schema_for(event_type)
        errors = self.validate(event_type, envelope, payload)
        if errors:
            raise EncodeError(event_type, errors)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(schema.fingerprint)
        schemaless_writer(out, schema.parsed, {"envelope": envelope, "payload": payload})
        return out.getvalue()

    def decode(self, data: bytes) -> Event:
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise DecodeError("not Avro single-object encoding (missing C3 01 marker)")
        writer = self._writers.get(data[2:HEADER_SIZE])
        if writer is None:
            raise DecodeError(f"unknown writer schema fingerprint {data[2:HEADER_SIZE].hex()}")
        reader = self._readers[writer.event_type]
        body = io.BytesIO(data[HEADER_SIZE:])
        try:
            if reader is writer:
                record = schemaless_reader(body, writer.parsed, None)
            else:
                record = schemaless_reader(body, writer.parsed, reader.parsed)
        except Exception as exc:  # fastavro raises many types on corrupt bytes
            raise DecodeError(f"corrupt {writer.event_type} v{writer.version} body: {exc}") from None
        return Event(writer.event_type, record["envelope"], record["payload"])
